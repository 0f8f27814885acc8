from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from typer.main import get_command
from typer.testing import CliRunner

import storage
from flows.cli import app

runner = CliRunner()


def _commands(cmd, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = [prefix]
    for name, sub in getattr(cmd, "commands", {}).items():
        out += _commands(sub, prefix + (name,))
    return out


@pytest.mark.parametrize("path", _commands(get_command(app)), ids=lambda p: " ".join(p) or "sigpipe")
def test_every_command_has_help(path):
    res = runner.invoke(app, [*path, "--help"])
    assert res.exit_code == 0, res.output
    assert "Usage" in res.output


@pytest.fixture()
def lake(tmp_path):
    row = {"doc_id": "d1", "path": "/in/a.pdf", "file_name": "a.pdf", "size_bytes": 10, "n_pages": 2, "dpi": 200,
           "run_id": "r1", "ingested_at": datetime(2026, 1, 1, tzinfo=UTC)}
    storage.write_part(tmp_path, "documents", "r1", "d1", [row])
    return tmp_path


def test_sql_formats_and_params(lake):
    res = runner.invoke(app, ["sql", "SELECT file_name, n_pages FROM documents WHERE n_pages >= $n",
                              "--lake", str(lake), "--param", "n=2", "--format", "json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output) == [{"file_name": "a.pdf", "n_pages": 2}]
    res = runner.invoke(app, ["sql", "SELECT file_name FROM documents WHERE file_name = $f", "--lake", str(lake),
                              "--param", "f=a.pdf", "--format", "csv"])
    assert res.output.splitlines() == ["file_name", "a.pdf"]
    res = runner.invoke(app, ["sql", "SELECT count(*) AS n FROM documents", "--lake", str(lake)])
    assert res.exit_code == 0 and "1" in res.output


def test_sql_errors_are_clear(lake, tmp_path):
    res = runner.invoke(app, ["sql", "SELECT * FROM nope", "--lake", str(lake)])
    assert res.exit_code == 2 and "query failed" in res.output
    res = runner.invoke(app, ["sql", "SELECT 1", "--lake", str(tmp_path / "missing")])
    assert res.exit_code == 2 and "does not exist" in res.output
    res = runner.invoke(app, ["sql", "SELECT 1", "--lake", str(lake), "--param", "novalue"])
    assert res.exit_code != 0


def test_tampered_model_is_refused_with_one_line(prefect_harness, stand_in_models, make_pdf, tmp_path):
    import shutil

    det, _ = stand_in_models
    bad = tmp_path / "det"
    shutil.copytree(det, bad)
    with open(bad / "detector.pt", "ab") as f:
        f.write(b"x")
    make_pdf("a.pdf", [(400, 500)], folder=tmp_path / "inbox")
    res = runner.invoke(app, ["detect", str(tmp_path / "inbox"), "--lake", str(tmp_path / "lake"),
                              "--detector", str(bad)])
    assert res.exit_code == 2
    assert "does not match the card" in res.output and "refusing to load" in res.output


# ------------------------------------------------------------------------- bad arguments: one clear line, exit 2
@pytest.mark.parametrize(("args", "message"), [
    (["ingest", "{tmp}/no-inbox", "--lake", "{tmp}/lake"], "no-inbox"),
    (["detect", "{tmp}/no-inbox", "--lake", "{tmp}/lake"], "no-inbox"),
    (["audit", "{tmp}/inbox", "--manifest", "{tmp}/no-manifest.csv", "--lake", "{tmp}/lake"], "no-manifest.csv"),
    (["audit", "{tmp}/inbox", "--manifest", "{tmp}/m.csv", "--lake", "{tmp}/lake", "--verifier", "{tmp}/no-model"],
     "no-model"),
    (["enroll", "{tmp}/no-refs", "--lake", "{tmp}/lake"], "no-refs"),
    (["catalog", "{tmp}/no-inbox", "--lake", "{tmp}/lake"], "no-inbox"),
    (["eval", "verifier", "--data", "{tmp}/no-data", "--json"], "no-data"),
    (["eval", "detector", "--data", "{tmp}/no-data.yaml", "--json"], "no-data.yaml"),
])
def test_bad_paths_name_the_path_and_exit_2(tmp_path, args, message):
    (tmp_path / "inbox").mkdir()
    (tmp_path / "m.csv").write_text("document,signer_id\n")
    res = runner.invoke(app, [a.replace("{tmp}", str(tmp_path)) for a in args])
    assert res.exit_code == 2, (res.exit_code, res.output)
    assert message in res.output
    assert "Traceback" not in res.output
    assert not (tmp_path / "lake").exists()  # refused before anything was written
