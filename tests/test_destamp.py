"""The stamp remover (sigpipe.destamp): what the committed one does to a stamped crop and to a clean one, its guard,
its dpi scaling, its card contract, and that the audit's cleaning applies it to crops cut from pages only."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from sigpipe.destamp import StampRemover, UNet, attach
from sigpipe.verifier.augment import _stamp_layer
from sigpipe.weights import WeightsError, load_card

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = ROOT / "models" / "verifier-signet"
PEN = np.array([[20, 90], [60, 30], [95, 100], [140, 35], [180, 95], [230, 40], [270, 90], [330, 60]])


def _crop(seed: int, stamp: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A 200-dpi crop: a pen stroke on grey paper, with a rubber stamp multiplied over its right half
    (sigpipe.verifier.augment's generator). Returns (crop, pen mask, pixels only the stamp darkened)."""
    rng = np.random.default_rng(seed)
    base = np.full((130, 360), 236, np.float32)
    cv2.polylines(base, [PEN], False, 40, 3, cv2.LINE_AA)
    pen = base < 150
    img = base.copy()
    if stamp:
        a = _stamp_layer(150, rng)
        img[:, 180:330] *= 1 - 0.55 * a[10:140, :]
    noisy = np.clip(img + rng.normal(0, 2, img.shape), 0, 255).astype(np.uint8)
    return noisy, pen, ((base - img) > 10) & ~pen


@pytest.fixture(scope="module")
def remover() -> StampRemover:
    return StampRemover.from_card(PRODUCT, load_card(PRODUCT)["destamp"])


def test_the_committed_remover_erases_stamps_and_leaves_the_pen(remover):
    acted = 0
    for seed in range(6):
        img, pen, stamp_only = _crop(seed, stamp=True)
        out, did = remover(img, 200)
        assert out.shape == img.shape and out.dtype == np.uint8
        if did:
            acted += 1
            assert (out != img)[stamp_only].mean() > 0.5  # most of the stamp goes
            assert (out != img)[pen].mean() < 0.01       # the pen stays
            assert np.all(out[out != img] == out[out != img][0])  # painted with one paper grey
        clean, _, _ = _crop(seed, stamp=False)
        same, did_clean = remover(clean, 200)
        assert not did_clean and np.array_equal(same, clean)  # nothing it calls a stamp: untouched
    assert acted >= 3


def test_painting_a_pages_stamps_around_boxes_only(remover):
    """The audit's second look paints stamps around the detector's boxes on a page before it asks again:
    inside the grown boxes the stamp goes and the pen stays, outside them nothing changes."""
    img, pen, stamp_only = _crop(0, stamp=True)
    page = np.full((600, 900), 236, np.uint8)
    page[200:330, 300:660] = img
    page[450:580, 20:380] = img  # the same stamped signature, far from any box: left alone
    box = (320, 220, 560, 300)  # a detector's box over part of the first one; grown by half it holds all of it
    out, n = remover.paint_regions(page, [box], 200)
    assert out.shape == page.shape and n > 0
    assert np.array_equal(out[450:, :], page[450:, :])
    changed = out[200:330, 300:660] != img
    assert changed[stamp_only].mean() > 0.5 and changed[pen].mean() < 0.01
    assert n >= int((out != page).sum()) > 0  # n counts painted pixels, some of which were paper grey already
    clean, _, _ = _crop(0, stamp=False)
    page[200:330, 300:660] = clean
    _, n = remover.paint_regions(page, [box], 200)
    assert n < 0.01 * pen.sum()  # no guard here, but next to nothing on a signature without a stamp
    assert remover.paint_regions(page, [], 200) == (page, 0)
    assert remover.paint_regions(page, [(10, 10, 13, 12)], 200) == (page, 0)  # too small a region to look at


def test_a_large_image_is_masked_in_tiles_as_it_would_be_whole(remover):
    """An image over TILE + 2 TILE_MARGIN px a side (a second look's painting region can be most of a page) goes
    through the network in tiles with a margin of context: the mask is the one the whole image gives, on every
    pixel, stamps across tile borders included, at any size (not a multiple of 8 here)."""
    from sigpipe.destamp import TILE, TILE_MARGIN

    img, _, stamp_only = _crop(0, stamp=True)
    page = np.full((1250, 1530), 236, np.uint8)  # 2 x 3 tiles
    for y, x in ((TILE - 60, TILE - 170), (80, 2 * TILE - 200), (1250 - 130, 40), (300, 1530 - 360)):
        page[y:y + 130, x:x + 360] = img  # straddling tile borders, and at the image's last rows and columns
    h, w = page.shape
    assert max(h, w) > TILE + 2 * TILE_MARGIN
    padded = cv2.copyMakeBorder(page, 0, -h % 8, 0, -w % 8, cv2.BORDER_REPLICATE)
    whole = remover._sure(padded)[:h, :w]
    tiled = remover.mask(page)
    assert tiled.shape == page.shape and whole[TILE - 60:TILE + 70, TILE - 170:TILE + 190][stamp_only].mean() > 0.5
    assert np.array_equal(tiled, whole)


def test_the_guard_and_the_dpi_scaling():
    torch.manual_seed(0)
    everything = StampRemover(UNet((2, 4)), threshold=0.0, min_share=0.0, dpi=200)  # p > 0 everywhere: all "stamp"
    img, _, _ = _crop(0, stamp=False)
    out, did = everything(img, 200)
    assert did and np.all(out == 255)  # no paper left to take the grey from: white
    guarded = StampRemover(UNet((2, 4)), threshold=0.0, min_share=1.01, dpi=200)
    out, did = guarded(img, 200)
    assert not did and out is img
    # a crop of a page rendered at 300 dpi is scaled to the remover's 200 for the mask, the mask scaled back
    big = cv2.resize(img, None, fx=1.5, fy=1.5, interpolation=cv2.INTER_LINEAR)
    out, did = everything(big, 300)
    assert did and out.shape == big.shape
    assert everything(np.zeros((5, 40), np.uint8), 200) == (pytest.approx(np.zeros((5, 40), np.uint8)), False)


def test_attach_writes_a_new_version_and_the_card_guards_the_weights(tmp_path, stand_in_models):
    from sigpipe.verifier.infer import Verifier

    src = tmp_path / "ver"
    shutil.copytree(stand_in_models[1], src)
    about = {"training": {"how": "test", "commands": ["x"]}, "measured": ["nothing"]}
    card = attach(src, PRODUCT / "destamp.pt", tmp_path / "out", about=about, command="sigpipe train ...")
    assert card["version"] == "1" and card["destamp"]["threshold"] == 0.8 and card["destamp"]["min_share"] == 0.1
    assert card["destamp"]["from"]["version"] == "0" and card["destamp"]["measured"] == ["nothing"]
    assert "Stamp remover" in (PRODUCT / "README.md").read_text()  # a trained card's README names it
    v = Verifier.load(tmp_path / "out")
    assert isinstance(v.destamp, StampRemover) and v.destamp.dpi == 200
    assert Verifier.load(src).destamp is None
    # in place: the network stays, the card changes
    again = attach(src, PRODUCT / "destamp.pt", src, version="7")
    assert again["version"] == "7" and again["sha256"] == load_card(stand_in_models[1])["sha256"]
    # weights that are not a remover are refused before anything is written
    torch.save({"w": torch.zeros(1)}, tmp_path / "bad.pt")
    with pytest.raises(RuntimeError):
        attach(src, tmp_path / "bad.pt", tmp_path / "out2")
    assert not (tmp_path / "out2").exists()
    # a remover file that differs from the card's sha256 stops the load
    (tmp_path / "out" / "destamp.pt").write_bytes((tmp_path / "out" / "destamp.pt").read_bytes()[:-8] + b"\0" * 8)
    with pytest.raises(WeightsError, match="destamp"):
        Verifier.load(tmp_path / "out")
    data = json.loads((tmp_path / "out" / "card.json").read_text())
    (tmp_path / "out" / "destamp.pt").unlink()
    with pytest.raises(WeightsError, match="missing"):
        StampRemover.from_card(tmp_path / "out", data["destamp"])


def test_the_audit_cleaning_destamps_page_crops_only(tmp_path, stand_in_models):
    from sigpipe.verifier.infer import Verifier
    from tasks.verify import _clean

    attach(stand_in_models[1], PRODUCT / "destamp.pt", tmp_path / "v")
    v = Verifier.load(tmp_path / "v")
    img = next(c for c in (_crop(s, True)[0] for s in range(6)) if v.destamp(c, 200)[1])
    clean, _, _ = _crop(0, stamp=False)
    as_page = _clean(v, [img, clean], 200)
    as_file = _clean(v, [img, clean], None)
    mixed = _clean(v, [img, img], [200, None])
    assert not np.array_equal(as_page[0], as_file[0])  # the stamp went before the cleaning
    assert np.array_equal(as_page[1], as_file[1])      # a crop with no stamp is cleaned as before
    assert np.array_equal(mixed[0], as_page[0]) and np.array_equal(mixed[1], as_file[0])
    plain = Verifier.load(stand_in_models[1])          # a card without a remover: page crops as before
    assert np.array_equal(_clean(plain, [img], 200)[0], _clean(plain, [img], None)[0])


def test_a_remade_network_keeps_the_folders_remover(tmp_path, stand_in_models):
    """Training or distilling into the product's folder (the distill-verifier deployment does) keeps the remover the
    folder's card names, when its weights are there and match."""
    from sigpipe.verifier.train import _prior_destamp

    out = tmp_path / "v"
    card = attach(stand_in_models[1], PRODUCT / "destamp.pt", out)
    assert _prior_destamp(out) == card["destamp"]
    assert _prior_destamp(tmp_path / "nowhere") is None
    (out / "destamp.pt").write_bytes(b"not the card's remover")
    assert _prior_destamp(out) is None
