"""sigpipe.synth: determinism, genuine-vs-forgery separation, tight boxes, PDFs, CSVs and the YOLO export."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from pypdf import PdfReader

from sigpipe.synth import (
    PAGE_KINDS,
    compose_page,
    export_yolo,
    generate,
    keypoint_displacement,
    make_forger,
    make_page,
    make_signer,
    make_signers,
    page_size,
    sample_signature,
    signature_crop,
    variation_gap,
)
from sigpipe.synth.dataset import _rotate_boxes

SMALL = {"signers": 3, "documents": 6, "forged_fraction": 0.4, "references_per_signer": 2, "dpi": 100,
         "genuine_per_signer": 3, "forged_per_signer": 3}


def _rng(*key: int) -> np.random.Generator:
    return np.random.default_rng(list(key))


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("synth") / "a"
    return out, generate(out, seed=3, **SMALL)


# -- signers ---------------------------------------------------------------------------------------------


def test_signature_crop_is_deterministic_and_seed_dependent() -> None:
    a = signature_crop(make_signer("S0001", _rng(0, 1)), _rng(0, 2))
    b = signature_crop(make_signer("S0001", _rng(0, 1)), _rng(0, 2))
    c = signature_crop(make_signer("S0001", _rng(1, 1)), _rng(1, 2))
    assert a.dtype == np.uint8 and a.ndim == 2
    assert np.array_equal(a, b)
    assert a.shape != c.shape or not np.array_equal(a, c)


def test_crop_is_dark_ink_on_light_paper() -> None:
    signer = make_signer("S0001", _rng(5, 1))
    r = _rng(5, 2)
    for forger in (None, make_forger("F0001", _rng(5, 3))):
        crop = signature_crop(signer, r, forger=forger)
        assert np.median(crop) > 200  # paper dominates
        assert crop.min() < 110  # and there is ink
        assert 40 < crop.shape[0] < 800 and 60 < crop.shape[1] < 1400  # a plausible signature at 200 dpi


def test_signers_differ_from_each_other() -> None:
    signers = make_signers(6, seed=0)
    n_kp = {len(s.plan.points) for s in signers}
    slants = {round(s.slant_deg) for s in signers}
    assert len(n_kp) >= 4 and len(slants) >= 4


def test_forgeries_differ_more_than_genuine_samples() -> None:
    forgers = [make_forger(f"F{k:04d}", _rng(9, 2, k)) for k in range(3)]
    ratios = []
    for i in range(6):
        gap = variation_gap(make_signer(f"S{i:04d}", _rng(9, 1, i)), forgers, _rng(9, 3, i), n=6)
        assert gap["genuine_vs_forgery"] > 1.5 * gap["genuine_vs_genuine"], gap
        ratios.append(gap["ratio"])
    assert np.median(ratios) > 2.5


def test_keypoint_displacement_ignores_translation() -> None:
    sig = sample_signature(make_signer("S0001", _rng(2, 1)), _rng(2, 2), dpi=100)
    assert keypoint_displacement(sig.keypoints, sig.keypoints + [3.0, -1.0]) == pytest.approx(0.0, abs=1e-12)


# -- pages -----------------------------------------------------------------------------------------------


def test_page_sizes() -> None:
    assert page_size("letter", 200) == (1654, 2339)
    assert page_size("cheque", 200) == (2000, 900)
    with pytest.raises(ValueError):
        page_size("postcard", 200)


@pytest.mark.parametrize("kind", PAGE_KINDS)
def test_boxes_are_tight_around_the_signature_ink(kind: str) -> None:
    signers = make_signers(4, seed=1)
    forgers = [make_forger("F0001", _rng(1, 2))]
    n = 3 if kind == "contract" else 2
    page = compose_page(kind, _rng(4, PAGE_KINDS.index(kind)), signers, forgers=forgers, forged_fraction=0.5,
                        n_signatures=n, note=True, stamp=True, with_mask=True, dpi=150)
    h, w = page.image.shape
    assert (w, h) == page_size(kind, 150) and page.image.dtype == np.uint8
    assert len(page.signatures) == n
    assert len({s.claimed_signer_id for s in page.signatures}) == n
    alpha = page.sig_alpha
    inside = np.zeros((h, w), bool)
    for s in page.signatures:
        x0, y0, x1, y1 = s.box
        assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
        a = alpha[y0:y1, x0:x1]
        # Tight: every edge row/column of the box touches ink.
        for edge in (a[0], a[-1], a[:, 0], a[:, -1]):
            assert edge.max() > 0.15
        # And the page really is dark there (the ink survived the scan).
        assert page.image[y0:y1, x0:x1].min() < np.median(page.image) - 60
        inside[y0:y1, x0:x1] = True
    assert not (alpha[~inside] > 0.5).any()  # no solid ink outside the boxes
    assert alpha[~inside].sum() < 0.01 * alpha.sum()


def test_make_page_returns_image_and_labelled_boxes() -> None:
    img, boxes = make_page("cheque", _rng(6), make_signers(2, seed=6), n_signatures=1, dpi=100)
    assert img.shape == (450, 1000)
    assert len(boxes) == 1 and boxes[0].genuine and boxes[0].signer_id == boxes[0].claimed_signer_id


def test_page_is_deterministic() -> None:
    signers = make_signers(3, seed=2)
    a, ba = make_page("letter", _rng(7), signers, dpi=100)
    b, bb = make_page("letter", _rng(7), signers, dpi=100)
    c, _ = make_page("letter", _rng(8), signers, dpi=100)
    assert np.array_equal(a, b) and ba == bb
    assert not np.array_equal(a, c)


def test_stamp_ink_zero_gives_the_same_page_without_its_stamps() -> None:
    """bench/real_documents.py --no-stamps: every draw the same, the stamps laid out and counted but not drawn."""
    signers = make_signers(3, seed=2)
    kw = {"n_signatures": 1, "stamp": True, "scanned": False, "dpi": 100}
    with_stamp = compose_page("contract", _rng(9), signers, **kw)
    without = compose_page("contract", _rng(9), signers, stamp_ink=0.0, **kw)
    plain = compose_page("contract", _rng(9), signers, stamp=False, **{k: v for k, v in kw.items() if k != "stamp"})
    assert with_stamp.stamps == without.stamps >= 1 and plain.stamps == 0
    assert with_stamp.signatures == without.signatures
    a, b = with_stamp.image.astype(int), without.image.astype(int)
    assert (a <= b).all() and (b - a > 30).sum() > 200  # a stamp only darkens, and it is visible
    scanned = {k: v for k, v in kw.items() if k != "scanned"}
    s1 = compose_page("contract", _rng(9), signers, **scanned)
    s0 = compose_page("contract", _rng(9), signers, stamp_ink=0.0, **scanned)
    assert s1.signatures == s0.signatures and s1.image.shape == s0.image.shape  # the scan draws the same too
    assert (np.abs(s1.image.astype(int) - s0.image.astype(int)) <= 2).mean() > 0.9


def test_rotate_boxes_matches_rot90() -> None:
    h, w = 30, 50
    img = np.zeros((h, w), np.uint8)
    img[5:12, 20:41] = 1
    box = (20, 5, 41, 12)
    for k in range(4):
        rot = np.rot90(img, k)
        ys, xs = np.nonzero(rot)
        assert _rotate_boxes([box], k, w, h) == [(xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)]


# -- the whole data set ----------------------------------------------------------------------------------


def test_generate_layout(dataset: tuple[Path, dict]) -> None:
    out, summary = dataset
    for i in range(1, SMALL["signers"] + 1):
        sid = f"S{i:04d}"
        assert len(list((out / "signers" / sid / "genuine").glob("*.png"))) == SMALL["genuine_per_signer"]
        assert len(list((out / "signers" / sid / "forged").glob("*.png"))) == SMALL["forged_per_signer"]
        assert len(list((out / "references" / sid).glob("*.png"))) == SMALL["references_per_signer"]
        ref = cv2.imread(str(out / "references" / sid / "01.png"), cv2.IMREAD_UNCHANGED)
        assert ref.ndim == 2 and ref.dtype == np.uint8
    pdfs = sorted((out / "inbox").glob("*.pdf"))
    assert len(pdfs) == SMALL["documents"] == summary["documents"]
    assert pdfs[0].name.startswith("doc-0001-") and (out / "truth" / f"{pdfs[0].stem}.json").is_file()


def test_pdfs_match_their_truth(dataset: tuple[Path, dict]) -> None:
    out, summary = dataset
    n_pages = 0
    for pdf in sorted((out / "inbox").glob("*.pdf")):
        truth = json.loads((out / "truth" / f"{pdf.stem}.json").read_text())
        assert truth["document"] == pdf.name and truth["dpi"] == SMALL["dpi"]
        reader = PdfReader(pdf)
        assert len(reader.pages) == len(truth["pages"])
        for pg, t in zip(reader.pages, truth["pages"], strict=True):
            assert float(pg.mediabox.width) == pytest.approx(t["width"] * 72 / SMALL["dpi"], abs=0.05)
            assert float(pg.mediabox.height) == pytest.approx(t["height"] * 72 / SMALL["dpi"], abs=0.05)
            (image,) = pg.images
            assert image.name.endswith(".jpg")  # JPEG inside, not PNG
            for s in t["signatures"]:
                x0, y0, x1, y1 = s["box"]
                assert 0 <= x0 < x1 <= t["width"] and 0 <= y0 < y1 <= t["height"]
                assert s["box_norm"] == pytest.approx([x0 / t["width"], y0 / t["height"], x1 / t["width"],
                                                       y1 / t["height"]], abs=1e-6)
                assert s["genuine"] == (s["signer_id"] == s["claimed_signer_id"])
        n_pages += len(truth["pages"])
    assert n_pages == summary["pages"]


def test_manifest_and_truth_csv_agree_with_json(dataset: tuple[Path, dict]) -> None:
    out, summary = dataset
    from_json = []
    for js in sorted((out / "truth").glob("*.json")):
        t = json.loads(js.read_text())
        for p in t["pages"]:
            for s in p["signatures"]:
                from_json.append((t["document"], str(p["page"]), *map(str, s["box"]), s["signer_id"],
                                  s["claimed_signer_id"], str(s["genuine"]).lower()))
    with open(out / "truth.csv") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["document", "page", "x0", "y0", "x1", "y1", "signer_id", "claimed_signer_id", "genuine"]
    assert sorted(map(tuple, rows[1:])) == sorted(from_json)
    with open(out / "manifest.csv") as f:
        man = list(csv.reader(f))
    assert man[0] == ["document", "signer_id", "page"]
    assert sorted(map(tuple, man[1:])) == sorted((r[0], r[7], r[1]) for r in from_json)
    assert summary["signatures"] == len(from_json) > 0
    assert summary["forged_signatures"] == sum(r[-1] == "false" for r in from_json)
    assert all((out / "inbox" / r[0]).is_file() for r in man[1:])


def test_generate_is_byte_identical_per_seed(dataset: tuple[Path, dict], tmp_path: Path) -> None:
    out, _ = dataset
    again = tmp_path / "b"
    generate(again, seed=3, **SMALL)
    assert _tree(again) == _tree(out)
    other = tmp_path / "c"
    generate(other, seed=4, **{**SMALL, "documents": 1})
    assert (other / "signers/S0001/genuine/01.png").read_bytes() != (out / "signers/S0001/genuine/01.png").read_bytes()
    with pytest.raises(FileExistsError):
        generate(again, seed=3, **SMALL)


def test_export_yolo(tmp_path: Path) -> None:
    summary = export_yolo(tmp_path, n_train=6, n_val=3, seed=0, imgsz=320, dpi=72, signers=6)
    assert summary["train_images"] == 6 and summary["val_images"] == 3
    yaml = (tmp_path / "data.yaml").read_text()
    assert f"path: {tmp_path.resolve()}" in yaml and "train: images/train" in yaml and "0: signature" in yaml
    n_boxes = 0
    for split, n in (("train", 6), ("val", 3)):
        images = sorted((tmp_path / "images" / split).glob("*.jpg"))
        assert len(images) == n
        for im in images:
            img = cv2.imread(str(im), cv2.IMREAD_GRAYSCALE)
            assert max(img.shape) == 320
            lines = (tmp_path / "labels" / split / f"{im.stem}.txt").read_text().splitlines()
            for line in lines:
                cls, *vals = line.split()
                cx, cy, bw, bh = map(float, vals)
                assert cls == "0" and 0 < bw <= 1 and 0 < bh <= 1
                assert 0 <= cx - bw / 2 + 1e-6 and cx + bw / 2 <= 1 + 1e-6
                assert 0 <= cy - bh / 2 + 1e-6 and cy + bh / 2 <= 1 + 1e-6
            n_boxes += len(lines)
    assert n_boxes == summary["train_boxes"] + summary["val_boxes"] > 0


def test_cli_synth(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from flows.cli import app

    res = CliRunner().invoke(app, ["synth", "--out", str(tmp_path), "--signers", "2", "--documents", "1",
                                   "--seed", "5", "--dpi", "72", "--references", "1"])
    assert res.exit_code == 0, res.output
    assert "signers" in res.output
    assert (tmp_path / "manifest.csv").is_file() and len(list((tmp_path / "inbox").glob("*.pdf"))) == 1
