"""The package version is written in two places, and every version has a changelog entry: runs record it
(``runs.sigpipe_version``), and CHANGELOG.md is where an analyst reads what a version changed in the rows."""

import tomllib
from pathlib import Path

import sigpipe

ROOT = Path(__file__).resolve().parents[1]


def test_the_package_version_is_the_same_everywhere_and_in_the_changelog():
    with open(ROOT / "pyproject.toml", "rb") as f:
        assert tomllib.load(f)["project"]["version"] == sigpipe.__version__
    headings = [line for line in (ROOT / "CHANGELOG.md").read_text().splitlines() if line.startswith("## ")]
    assert headings and headings[0].startswith(f"## {sigpipe.__version__} "), "newest changelog entry first"
