"""Shared fixtures. The runtime is configured before anything imports prefect, ultralytics or timm."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sigpipe.runtime import configure

configure()

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def pytest_collection_modifyitems(config, items):
    skip = pytest.mark.skip(reason=f"real data not found at {DATA} (see shared/data/README.md)")
    for item in items:
        if "data" in item.keywords and not DATA.is_dir():
            item.add_marker(skip)


@pytest.fixture(scope="session")
def prefect_harness():
    """One temporary Prefect server for the whole session (~26 s to start): flow tests share it."""
    from prefect.testing.utilities import prefect_test_harness

    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture()
def make_pdf(tmp_path):
    """Write an image-only PDF of greyscale pages (real PDF, rendered back through poppler)."""
    from PIL import Image

    def _make(name: str, sizes: list[tuple[int, int]], dpi: int = 100, folder: Path | None = None) -> Path:
        folder = folder or tmp_path
        folder.mkdir(parents=True, exist_ok=True)
        pages = []
        for i, (w, h) in enumerate(sizes):
            im = Image.new("L", (w, h), 245)
            im.paste(0, (w // 4, h // 3 + i, w // 2, h // 3 + 10 + i))  # an ink bar, different per page
            pages.append(im)
        path = folder / name
        pages[0].save(path, "PDF", resolution=dpi, save_all=True, append_images=pages[1:])
        return path

    return _make
