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
def strict_detector(tmp_path) -> Path:
    """A copy of the committed detector whose card asks for more confidence than any box has: every box it finds
    is under the card's threshold (what the audit's second look works on)."""
    import json
    import shutil

    from flows.params import DEFAULT_DETECTOR

    strict = tmp_path / "detector-strict"
    shutil.copytree(DEFAULT_DETECTOR, strict)
    card = json.loads((strict / "card.json").read_text())
    card["thresholds"]["conf"] = 0.9999
    (strict / "card.json").write_text(json.dumps(card))
    return strict


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


@pytest.fixture(scope="session")
def stand_in_models(tmp_path_factory) -> tuple[Path, Path]:
    """A random-init yolo11n detector (finds nothing: every page is recorded unsigned) and a tiny untrained
    SigNet verifier, as model folders with sha256-checked cards."""
    import torch

    from sigpipe.detect import _ultralytics  # imports ultralytics as the product does (Pillow's own open kept)
    from sigpipe.verifier.nets import build_model
    from sigpipe.weights import write_card

    root = tmp_path_factory.mktemp("stand-in-models")
    det, ver = root / "det", root / "ver"
    det.mkdir(parents=True)
    ver.mkdir(parents=True)
    torch.manual_seed(0)
    _ultralytics().YOLO("yolo11n.yaml").save(str(det / "detector.pt"))
    write_card(det, {"name": "test-det", "version": "0", "kind": "detector", "weights": "detector.pt",
                     "input": {"imgsz": 320}, "thresholds": {"conf": 0.25, "iou": 0.7}})
    args = {"width": 0.25, "hidden": 0, "dim": 32}
    torch.save(build_model("signet", args).state_dict(), ver / "weights.pt")
    write_card(ver, {"name": "test-ver", "version": "0", "kind": "verifier", "weights": "weights.pt", "arch": "signet",
                     "arch_args": args, "preprocessing": {"size": [64, 96], "canvas": None},
                     "threshold": {"value": 0.5, "inconclusive_band": [0.05, 0.05]},
                     "writer_dependent": {"aggregation": "mean", "by_references": {"3": {
                         "aggregation": "mean", "threshold": 0.5, "inconclusive_band": [0.05, 0.05],
                         "per_writer": {"z": 2.0, "sigma_pop": 0.05, "kappa": 4, "min_references": 2}}}}})
    return det, ver
