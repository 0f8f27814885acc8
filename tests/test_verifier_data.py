"""Data layouts, writer selection, clear errors, and the eval CLI's error path (no traceback)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from sigpipe.verifier.data import DataError, cached_clean, discover
from sigpipe.verifier.sampler import parse_writers

ROOT = Path(__file__).resolve().parents[1]
CEDAR = ROOT.parent / "shared" / "data" / "cedar"


def _png(path: Path, seed: int) -> None:
    import cv2

    rng = np.random.default_rng(seed)
    img = np.full((60, 120), 245, np.uint8)
    pts = (rng.integers(5, [115, 55], size=(6, 2))).astype(np.int32)
    cv2.polylines(img, [pts], False, 30, 2)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), img)


@pytest.fixture()
def folders(tmp_path):
    root = tmp_path / "data"
    for k, w in enumerate(("alice", "bob", "carol")):
        for i in range(3):
            _png(root / w / "genuine" / f"{i}.png", 10 * k + i)
        if w != "carol":
            _png(root / w / "forged" / "0.png", 100 + k)
    return root


def test_folders_layout(folders, tmp_path):
    s = discover(folders)  # detected
    assert len(s) == 11 and set(s.writers) == {"alice", "bob", "carol"} and (~s.genuine).sum() == 2
    s2 = discover(folders, "folders", {"bob"})
    assert set(s2.writers) == {"bob"} and len(s2) == 4
    x = cached_clean(s, (32, 48), None, tmp_path / "cache")
    assert x.shape == (11, 32, 48) and x.dtype == np.uint8
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 1
    np.testing.assert_array_equal(cached_clean(s, (32, 48), None, tmp_path / "cache"), x)  # from the cache


def test_errors_name_the_path(folders, tmp_path):
    with pytest.raises(DataError, match="not found"):
        discover(tmp_path / "nope")
    with pytest.raises(DataError, match="unknown layout"):
        discover(folders, "zip")
    with pytest.raises(DataError, match="full_org"):
        discover(folders, "cedar")
    (folders / "dave").mkdir()
    with pytest.raises(DataError, match="dave/genuine"):
        discover(folders, "folders")
    bad = tmp_path / "bad"
    (bad / "w1" / "genuine").mkdir(parents=True)
    (bad / "w1" / "genuine" / "x.png").write_bytes(b"not an image")
    from sigpipe.verifier.data import load_clean

    with pytest.raises(DataError, match="x.png"):
        load_clean(discover(bad).paths, (32, 48), None)


@pytest.fixture()
def tiny_model(tmp_path):
    from sigpipe.verifier.nets import build_model
    from sigpipe.weights import write_card

    folder = tmp_path / "model"
    folder.mkdir()
    torch.manual_seed(0)
    args = {"width": 0.25, "hidden": 0, "dim": 32}
    torch.save(build_model("signet", args).state_dict(), folder / "weights.pt")
    write_card(folder, {"name": "tiny", "version": "0", "kind": "verifier", "weights": "weights.pt",
                        "arch": "signet", "arch_args": args, "preprocessing": {"size": [64, 96], "canvas": None},
                        "threshold": {"value": 0.5}, "writer_dependent": {"aggregation": "mean", "by_references": {
                            "2": {"aggregation": "mean", "threshold": 0.5}}}})
    return folder


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flows.cli", "eval", "verifier", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_eval_cli_json_and_error(folders, tiny_model, tmp_path):
    import json

    r = _cli("--data", str(folders), "--model", str(tiny_model), "--roc", str(tmp_path / "roc.png"), "--json")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    for k in ("eer", "eer_threshold", "far_skilled", "far_random", "frr", "hter", "auc", "eer_user_thresholds",
              "n_writers", "n_pos", "n_neg"):
        assert k in rep
    assert rep["n_writers"] == 3 and rep["threshold"] == 0.5 and (tmp_path / "roc.png").stat().st_size > 0
    r = _cli("--data", str(tmp_path / "missing"), "--model", str(tiny_model), "--json")
    assert r.returncode != 0 and "missing" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.slow
def test_eval_cli_writer_dependent_and_errors(folders, tiny_model, tmp_path):
    import json

    r = _cli("--data", str(folders), "--model", str(tiny_model), "--references", "2", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["mode"] == "writer-dependent"
    bad = tmp_path / "bad"
    (bad / "w1" / "genuine").mkdir(parents=True)
    (bad / "w1" / "genuine" / "x.png").write_bytes(b"not an image")
    for data, extra, needle in ((folders, ["--layout", "zip"], "zip"), (folders, ["--layout", "cedar"], "full_org"),
                                (bad, [], "x.png")):
        r = _cli("--data", str(data), *extra, "--model", str(tiny_model), "--json")
        assert r.returncode != 0 and needle in r.stderr and "Traceback" not in r.stderr
    r = _cli("--data", str(folders), "--model", str(tmp_path / "no-model"), "--json")
    assert r.returncode != 0 and "no-model" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.data
def test_cedar_layout():
    s = discover(CEDAR, "cedar", parse_writers("1-2"))
    assert len(s) == 96 and set(s.writers) == {"1", "2"} and s.genuine.sum() == 48
    assert all("original_" in p for p in s.paths[s.genuine]) and all("forgeries_" in p for p in s.paths[~s.genuine])


def test_crossmedia_layout_and_same_name_negatives(tmp_path):
    from sigpipe.verifier.evaluate import wi_pairs

    root = tmp_path / "xm"
    for hand in ("1", "2", "3"):
        for n in range(1, 21):  # 10 names x 2 media
            _png(root / hand / f"{n}.jpg", 7 * int(hand) + n)
    s = discover(root, "crossmedia")
    assert len(s) == 60 and len(set(s.writers)) == 30 and s.genuine.all()
    assert set(s.writers[s.groups == "name3"]) == {"1-3", "2-3", "3-3"}
    assert len(discover(root, "crossmedia", {"2"})) == 20  # writers select hands
    emb = np.random.default_rng(0).normal(size=(60, 8)).astype(np.float32)
    p = wi_pairs(emb, s.writers, s.genuine, groups=s.groups)
    # per class: 1 genuine pair; skilled-like = 2 x (2 other hands x 2 media) = 8; 30 classes
    assert (p.kinds == "genuine").sum() == 30 and (p.kinds == "skilled").sum() == 240
