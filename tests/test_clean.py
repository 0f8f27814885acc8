"""sigpipe.clean: golden outputs, every input mode through real files, geometry, blanks, errors, CEDAR's trap.

Regenerate the golden files (only after a deliberate change of clean(); say so in the change):
    .venv/bin/python tests/test_clean.py --regen
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from sigpipe.clean import CleanError, clean, clean_batch, ink_mask, load_image, otsu_threshold, to_grey

GOLDEN = Path(__file__).resolve().parent / "golden"
CEDAR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cedar"

# name -> clean() arguments; the expected output is GOLDEN / f"clean_{name}.png".
GOLDEN_CASES: dict[str, dict] = {
    "150x220": {"size": (150, 220)},
    "canvas_100x160": {"size": (100, 160), "canvas": (200, 320)},
    "binarize_64x96": {"size": (64, 96), "binarize": True},
}


def _draw_synthetic() -> np.ndarray:
    """A signature-like ``(140, 260) uint8`` scan: grey noisy paper, anti-aliased strokes, specks, salt/pepper.

    Only used to (re)make ``golden/clean_input.png``; the tests read the PNG, so they do not depend on
    how a future OpenCV draws lines.
    """
    rng = np.random.default_rng(7)
    h, w = 140, 260
    ink = np.zeros((h, w), np.uint8)
    x = np.arange(40, 225)
    y = 72 + 22 * np.sin(x / 11.0) * np.exp(-(x - 40) / 260.0)
    cv2.polylines(ink, [np.c_[x, y].astype(np.int32)], False, 255, 4, cv2.LINE_AA)
    cv2.ellipse(ink, (62, 58), (16, 30), 25, 0, 360, 255, 2, cv2.LINE_AA)
    cv2.line(ink, (45, 112), (215, 100), 170, 2, cv2.LINE_AA)  # fainter underline
    cv2.circle(ink, (150, 35), 3, 255, -1, cv2.LINE_AA)  # an i-dot: small but not a speck
    img = 238.0 + rng.normal(0.0, 3.0, (h, w)) - ink / 255.0 * 165.0
    salt = rng.random((h, w))
    img[salt < 0.002] = 255
    img[salt > 0.998] = 0  # lone pepper pixels: the median takes them
    img[118:130, 10:21] = 238 + rng.normal(0.0, 3.0, (12, 11))  # clear paper around the 3x3 speck
    img[122:125, 14:17] = 80  # 3x3 speck: the median leaves a cross of 5 px (< 0.2% of the ink), removed
    img[8:10, 240:242] = 95  # 2x2 speck: the median takes it
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def _regen() -> None:
    GOLDEN.mkdir(exist_ok=True)
    img = _draw_synthetic()
    Image.fromarray(img).save(GOLDEN / "clean_input.png")
    for name, kw in GOLDEN_CASES.items():
        Image.fromarray(clean(img, **kw)).save(GOLDEN / f"clean_{name}.png")
    print(f"wrote {GOLDEN}")


@pytest.fixture(scope="module")
def sample() -> np.ndarray:
    return load_image(GOLDEN / "clean_input.png")


def _box(out: np.ndarray) -> tuple[int, int, int, int]:
    """Nonzero bounding box of a cleaned image -> (y0, y1, x0, x1), end exclusive."""
    x, y, w, h = cv2.boundingRect((out > 0).astype(np.uint8))
    return y, y + h, x, x + w


def _page(shape: tuple[int, int], bg: float = 236.0, noise: float = 3.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(bg + rng.normal(0, noise, shape), 0, 255).astype(np.float64)


# ----------------------------------------------------------------------------------------------- golden


@pytest.mark.parametrize("name", list(GOLDEN_CASES))
def test_golden(sample, name):
    expected = np.asarray(Image.open(GOLDEN / f"clean_{name}.png"))
    out = clean(sample, **GOLDEN_CASES[name])
    assert out.shape == expected.shape and out.dtype == np.uint8
    diff = np.abs(out.astype(int) - expected.astype(int))
    # Bit-exact on the machine that made it; SIMD paths elsewhere may round a few pixels by one level.
    assert diff.max() <= 1 and np.mean(diff > 0) < 0.005, f"max diff {diff.max()}, {np.mean(diff > 0):.2%} differ"
    # The background is where it was: exactly 0 away from the ink (edge pixels may round either way elsewhere).
    near_ink = cv2.dilate((expected > 0).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    assert not out[~near_ink].any()
    assert np.mean((out == 0) != (expected == 0)) < 0.002


# ----------------------------------------------------------------------------------------------- output


def test_background_exactly_zero_and_ink_high(sample):
    out = clean(sample, (150, 220))
    ink = cv2.dilate((out > 0).astype(np.uint8), np.ones((3, 3), np.uint8))
    n_labels = cv2.connectedComponents(ink)[0]
    assert n_labels - 1 <= 4  # strokes, loop, underline, i-dot: no speck or salt survived
    assert np.mean(out == 0) > 0.7
    assert out.max() >= 255 - 80  # the darkest ink (~73) comes out near the top
    # Grey paper (238 +- noise) leaves nothing: every row/column outside the ink box is exactly 0.
    y0, y1, x0, x1 = _box(out)
    assert not out[:y0].any() and not out[y1:].any() and not out[:, :x0].any() and not out[:, x1:].any()


@pytest.mark.parametrize("ink_hw", [(30, 120), (120, 30), (60, 60)])
def test_aspect_preserved_and_centred(ink_hw):
    img = _page((200, 300))
    ih, iw = ink_hw
    img[40 : 40 + ih, 20 : 20 + iw] = 60
    out = clean(img.astype(np.uint8), (100, 100))
    y0, y1, x0, x1 = _box(out)
    s = min(100 / ih, 100 / iw)
    assert (y1 - y0, x1 - x0) == (round(ih * s), round(iw * s))
    assert abs((y0 + y1) / 2 - 50) <= 0.5 and abs((x0 + x1) / 2 - 50) <= 0.5
    assert out[(y0 + y1) // 2, (x0 + x1) // 2] == 255 - 60  # ink keeps its grey level, inverted


def test_canvas_keeps_ink_size_relative_to_the_scan():
    img = _page((100, 200))
    img[30:50, 70:110] = 50  # 20 x 40 ink
    # canvas 200 x 400 -> size 50 x 100 is a 1/4 scale: the ink becomes 5 x 10, centred.
    out = clean(img.astype(np.uint8), (50, 100), canvas=(200, 400))
    y0, y1, x0, x1 = _box(out)
    assert (y1 - y0, x1 - x0) == (5, 10)
    assert abs((y0 + y1) / 2 - 25) <= 0.5 and (x0 + x1) / 2 == 50  # odd leftover: half a pixel off
    # A canvas smaller than the ink: the ink shrinks to fit it, so it fills the output.
    out = clean(img.astype(np.uint8), (50, 100), canvas=(10, 20))
    assert _box(out) == (0, 50, 0, 100)


def test_specks_do_not_move_the_ink_box(sample):
    wiped = sample.copy()
    wiped[118:130, 10:21] = 238  # the 3x3 speck
    wiped[5:12, 237:245] = 238  # the 2x2 speck
    a, b = clean(sample, (150, 220)), clean(wiped, (150, 220))
    assert _box(a) == _box(b)
    assert np.abs(a.astype(int) - b.astype(int)).mean() < 0.5


def test_working_resolution_matches_full_resolution(sample):
    # Without the specks: scaled up 3x, a speck outgrows what the (fixed 3x3) median takes.
    scan = cv2.medianBlur(sample, 3)
    ref = clean(scan, (150, 220))
    # The same scan at 3x and 6x the resolution is shrunk to a working resolution first: near the same.
    for f in (3, 6):
        big = cv2.resize(scan, None, fx=f, fy=f, interpolation=cv2.INTER_CUBIC)
        assert np.abs(clean(big, (150, 220)).astype(int) - ref).mean() < 4
    # The scan pasted into a page with wide margins: the second pass recovers the detail of the ink box.
    page = _page((1200, 1600), bg=238).astype(np.uint8)
    page[500:640, 700:960] = scan
    out = clean(page, (150, 220))
    assert np.abs(out.astype(int) - ref).mean() < 4
    assert abs(_box(out)[3] - _box(out)[2] - (_box(ref)[3] - _box(ref)[2])) <= 2


@pytest.mark.parametrize(
    "blank",
    [
        np.full((80, 120), 240, np.uint8),
        np.zeros((80, 120), np.uint8),
        _page((80, 120), bg=240, noise=4).astype(np.uint8),  # paper grain only
        np.pad(np.full((2, 2), 30, np.uint8), 40, constant_values=245),  # one 2x2 dot: the median takes it
    ],
    ids=["white", "black", "paper-noise", "tiny-dot"],
)
def test_blank_input_gives_zeros(blank):
    out = clean(blank, (60, 90))
    assert out.shape == (60, 90) and out.dtype == np.uint8 and not out.any()
    assert not ink_mask(blank).any()
    assert not clean_batch([blank, blank], (60, 90)).any()


def test_sizes_from_a_model_card_and_bad_sizes(sample):
    assert clean(sample, [32, 48]).shape == (32, 48)  # JSON lists work
    with pytest.raises(ValueError, match="size"):
        clean(sample, (0, 10))
    with pytest.raises(ValueError, match="size"):
        clean(sample, 150)
    with pytest.raises(ValueError, match="canvas"):
        clean(sample, (10, 10), canvas=(5,))


def test_clean_batch_matches_clean_and_reads_paths(sample, tmp_path):
    imgs = [sample, sample[:, ::-1].copy(), np.full((50, 50), 250, np.uint8)]
    ref = np.stack([clean(x, (64, 96)) for x in imgs])
    np.testing.assert_array_equal(clean_batch(imgs, (64, 96)), ref)
    np.testing.assert_array_equal(clean_batch(imgs, (64, 96), workers=2), ref)
    paths = []
    for i, x in enumerate(imgs):
        paths.append(tmp_path / f"{i}.png")
        Image.fromarray(x).save(paths[-1])
    np.testing.assert_array_equal(clean_batch(paths, (64, 96), workers=2), ref)
    with pytest.raises(CleanError, match="missing.png"):
        clean_batch([*paths, tmp_path / "missing.png"], (64, 96), workers=2)


def test_ink_mask_and_otsu(sample):
    m = ink_mask(sample)
    assert m.shape == sample.shape and m.dtype == bool
    assert 0.02 < m.mean() < 0.2
    assert not m[118:130, 10:21].any()  # the speck is not ink
    t, contrast = otsu_threshold(np.r_[np.full(50, 40), np.full(50, 200)].astype(np.uint8)[None])
    assert 40 <= t < 200 and contrast == pytest.approx(160)
    assert otsu_threshold(np.full((4, 4), 7, np.uint8))[1] == 0.0  # flat: no contrast, blank


# ----------------------------------------------------------------------------------------------- to_grey


def test_to_grey_arrays(sample):
    g = sample
    assert to_grey(g) is g
    np.testing.assert_array_equal(to_grey(g[..., None]), g)
    np.testing.assert_array_equal(to_grey(np.stack([g] * 3, -1)), g)  # BGR
    np.testing.assert_array_equal(to_grey(g.astype(np.uint16) * 257), g)
    np.testing.assert_array_equal(to_grey(g / 255.0), g)
    np.testing.assert_array_equal(to_grey(g.astype(np.int64)), g)
    np.testing.assert_array_equal(to_grey(g > 127), np.where(g > 127, 255, 0))
    # BGRA: black with alpha = darkness, over white, is the grey image again.
    bgra = np.zeros((*g.shape, 4), np.uint8)
    bgra[..., 3] = 255 - g
    np.testing.assert_array_equal(to_grey(bgra), g)
    la = np.stack([np.zeros_like(g), 255 - g], -1)
    np.testing.assert_array_equal(to_grey(la), g)
    # OpenCV order: pure blue ink is dark (luma 0.114 * 255), pure red is lighter.
    assert to_grey(np.array([[[255, 0, 0]]], np.uint8))[0, 0] == 29
    assert to_grey(np.array([[[0, 0, 255]]], np.uint8))[0, 0] == 76


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.zeros((0, 5), np.uint8), "empty"),
        (np.zeros((4, 4, 5), np.uint8), "shape"),
        (np.zeros(5, np.uint8), "shape"),
        (np.full((4, 4), 1.5), r"\[0, 1\]"),
        (np.full((4, 4), np.nan), r"\[0, 1\]"),
        (np.full((4, 4), -3), r"\[0, 255\]"),
        (np.full((4, 4), 1 + 2j), "dtype"),
    ],
)
def test_to_grey_rejects(bad, match):
    with pytest.raises(CleanError, match=match):
        to_grey(bad)


# ----------------------------------------------------------------------------------------------- files


def _write(mode: str, g: np.ndarray, folder: Path) -> tuple[Path, int]:
    """The grey image ``g`` written as a file in ``mode`` -> (path, tolerated max abs error on reading)."""
    rgb = np.stack([g] * 3, -1)
    dark = 255 - g  # ink opacity for the alpha modes: black at this alpha over white is g again
    if mode == "1":
        im, ext, tol = Image.fromarray(g).convert("1", dither=Image.Dither.NONE), "png", 0
    elif mode == "1-tiff-g4":
        im, ext, tol = Image.fromarray(g).convert("1", dither=Image.Dither.NONE), "tif", 0
    elif mode == "L":
        im, ext, tol = Image.fromarray(g), "png", 0
    elif mode == "L-jpeg":
        im, ext, tol = Image.fromarray(g), "jpg", 60
    elif mode == "P":
        im, ext, tol = Image.fromarray(g).convert("P"), "png", 0
    elif mode in ("P-transparent", "P-transparent-gif"):
        # Palette 0 is black but transparent (the paper), 1..255 the grey levels 1..255 (the ink).
        idx = np.where(g > 127, 0, g).astype(np.uint8)
        im = Image.fromarray(idx, "P")
        im.putpalette([v for i in range(256) for v in (i, i, i)])
        im.info["transparency"] = 0
        ext, tol = ("gif" if mode.endswith("gif") else "png"), 0
    elif mode == "RGB":
        im, ext, tol = Image.fromarray(rgb), "png", 0
    elif mode == "RGBA":
        im, ext, tol = Image.fromarray(np.dstack([np.zeros_like(rgb), dark]), "RGBA"), "png", 1
    elif mode == "LA":
        im, ext, tol = Image.fromarray(np.dstack([np.zeros_like(g), dark]), "LA"), "png", 1
    elif mode == "I;16":
        im, ext, tol = Image.fromarray(np.minimum(g.astype(np.int32) * 257 + 100, 65535).astype(np.uint16)), "png", 0
    elif mode == "I;16-tiff":
        im, ext, tol = Image.fromarray(g.astype(np.uint16) * 257), "tif", 0
    elif mode == "F":
        im, ext, tol = Image.fromarray((g / 255.0).astype(np.float32), "F"), "tif", 0
    elif mode == "CMYK":
        im, ext, tol = Image.fromarray(rgb).convert("CMYK"), "tif", 0
    elif mode == "CMYK-jpeg":
        im, ext, tol = Image.fromarray(rgb).convert("CMYK"), "jpg", 60
    else:
        raise AssertionError(mode)
    path = folder / f"{mode}.{ext}"
    kw = {"compression": "group4"} if mode == "1-tiff-g4" else {}
    im.save(path, **kw)
    return path, tol


MODES = [
    "1",
    "1-tiff-g4",
    "L",
    "L-jpeg",
    "P",
    "P-transparent",
    "P-transparent-gif",
    "RGB",
    "RGBA",
    "LA",
    "I;16",
    "I;16-tiff",
    "F",
    "CMYK",
    "CMYK-jpeg",
]


@pytest.mark.parametrize("mode", MODES)
def test_load_image_every_mode(mode, sample, tmp_path):
    path, tol = _write(mode, sample, tmp_path)
    g = load_image(path)
    assert g.shape == sample.shape and g.dtype == np.uint8
    if mode.startswith("1"):
        expected = np.where(sample >= 128, 255, 0)
    elif mode.startswith("P-transparent"):
        expected = np.where((sample > 127) | (sample == 0), 255, sample)  # index 0 transparent: on white
    else:
        expected = sample
    diff = np.abs(g.astype(int) - expected)
    assert diff.max() <= tol and diff.mean() < (5 if tol else 1), f"{mode}: max {diff.max()}, mean {diff.mean():.2f}"
    out = clean(g, (75, 110))
    assert out.any() and out[0].max() == 0 and out[-1].max() == 0  # ink found, background 0
    if tol == 0 and not mode.startswith(("1", "P-transparent")):
        np.testing.assert_array_equal(out, clean(sample, (75, 110)))  # lossless modes: the same input


def test_load_image_exif_orientation(sample, tmp_path):
    im = Image.fromarray(sample)
    exif = im.getexif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    im.save(tmp_path / "rot.jpg", exif=exif, quality=95)
    assert load_image(tmp_path / "rot.jpg").shape == sample.shape[::-1]


def test_load_image_errors_name_the_file(sample, tmp_path):
    cases = {}
    cases["no such file"] = tmp_path / "nope.png"
    (tmp_path / "empty.png").write_bytes(b"")
    cases["empty file"] = tmp_path / "empty.png"
    (tmp_path / "text.png").write_text("not an image\n")
    cases["not a readable image"] = tmp_path / "text.png"
    Image.fromarray(sample).save(tmp_path / "whole.png")
    data = (tmp_path / "whole.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    cases["cannot decode"] = tmp_path / "cut.png"
    Image.fromarray(sample).save(tmp_path / "whole.jpg")
    data = (tmp_path / "whole.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 3])
    cases["cannot decode "] = tmp_path / "cut.jpg"
    cases["not a file"] = tmp_path
    for reason, path in cases.items():
        with pytest.raises(CleanError) as e:
            load_image(path)
        assert str(path) in str(e.value) and reason.strip() in str(e.value), str(e.value)
        assert isinstance(e.value, ValueError)


# ----------------------------------------------------------------------------------------------- CEDAR


def _stump_cv_accuracy(x: np.ndarray, y: np.ndarray, writers: np.ndarray, folds: int = 5) -> float:
    """Best threshold on a 1-D feature fitted on other writers' images, accuracy on held-out writers."""
    accs = []
    uniq = np.unique(writers)
    for i in range(folds):
        te = np.isin(writers, uniq[i::folds])
        xs = np.unique(x[~te])
        cuts = np.r_[xs[0] - 1, (xs[1:] + xs[:-1]) / 2]
        fit = [(np.mean((x[~te] > c) == y[~te]), c, 1) for c in cuts]
        fit += [(np.mean((x[~te] <= c) == y[~te]), c, 0) for c in cuts]
        _, c, up = max(fit, key=lambda t: t[0])
        accs.append(np.mean(((x[te] > c) if up else (x[te] <= c)) == y[te]))
    return float(np.mean(accs))


@pytest.mark.data
@pytest.mark.skipif(not (CEDAR / "manifest.csv").is_file(), reason=f"CEDAR not found at {CEDAR}")
def test_cedar_background_trap_is_removed():
    """Raw CEDAR: genuine paper ~239, forgeries ~254, a threshold on it alone separates them. Cleaned: the
    non-ink pixels of both classes are exactly 0 (same percentiles), and the same feature is at chance."""
    rows = list(csv.DictReader((CEDAR / "manifest.csv").open()))[::2]  # 1,080 images, both classes, 45 writers
    y = np.array([r["label"] == "genuine" for r in rows])
    writers = np.array([int(r["writer"]) for r in rows])
    raw = [load_image(CEDAR / r["path"]) for r in rows]
    cleaned = clean_batch(raw, (150, 220), workers=2)

    raw_bg = np.array([g[~ink_mask(g)].mean() for g in raw])
    assert raw_bg[y].mean() < raw_bg[~y].mean() - 8  # the trap is there in the raw scans
    assert _stump_cv_accuracy(raw_bg, y, writers) > 0.95

    # Non-ink pixels of the cleaned crops, found the same way (ink mask of the dark-on-light version).
    nonink = [c[~ink_mask(255 - c)] for c in cleaned]
    gen = np.concatenate([v for v, genuine in zip(nonink, y, strict=True) if genuine])
    forg = np.concatenate([v for v, genuine in zip(nonink, y, strict=True) if not genuine])
    q = [5, 25, 50, 75, 90]
    np.testing.assert_array_equal(np.percentile(gen, q), 0)
    np.testing.assert_array_equal(np.percentile(forg, q), 0)
    assert abs(gen.mean() - forg.mean()) < 0.5  # what is left are anti-aliased stroke edges, both classes
    # Pixels away from any stroke are exactly 0 in both classes.
    far = [c[cv2.dilate((c > 0).astype(np.uint8), np.ones((5, 5), np.uint8)) == 0] for c in cleaned]
    assert all(not v.any() for v in far)
    clean_bg = np.array([v.mean() for v in nonink])
    assert _stump_cv_accuracy(clean_bg, y, writers) < 0.62


@pytest.mark.data
@pytest.mark.skipif(not (CEDAR / "manifest.csv").is_file(), reason=f"CEDAR not found at {CEDAR}")
def test_cedar_crops_clean_to_ink():
    rows = list(csv.DictReader((CEDAR / "manifest.csv").open()))[::97]
    out = clean_batch([CEDAR / r["path"] for r in rows], (150, 220), workers=2)
    assert out.shape == (len(rows), 150, 220)
    assert out.reshape(len(rows), -1).any(1).all()  # none blank
    frac = (out > 0).reshape(len(rows), -1).mean(1)
    assert ((frac > 0.02) & (frac < 0.35)).all()
    # Ink box touches two opposite edges (it was scaled to fit) and is centred.
    for o in out:
        y0, y1, x0, x1 = _box(o)
        assert (y0 == 0 and y1 == 150) or (x0 == 0 and x1 == 220)
        assert abs((y0 + y1) / 2 - 75) <= 1 and abs((x0 + x1) / 2 - 110) <= 1


if __name__ == "__main__":
    if "--regen" in sys.argv:
        _regen()
    else:
        print(__doc__)


def test_remove_rules_erases_skewed_and_dotted_lines_but_not_handwriting():
    from sigpipe.clean import remove_rules

    img = np.full((160, 500), 235, np.uint8)
    pts = np.array([[40, 100], [80, 30], [120, 110], [170, 40], [230, 105], [300, 35], [360, 100]], np.int32)
    cv2.polylines(img, [pts], False, 30, 3, cv2.LINE_AA)  # a zig-zag "signature"
    cv2.line(img, (10, 130), (490, 142), 20, 2, cv2.LINE_AA)  # a rule skewed ~1.4 degrees
    for x in range(10, 490, 9):  # a dotted rule
        cv2.line(img, (x, 150), (x + 4, 150), 40, 2)
    out = remove_rules(img)
    sig = np.zeros_like(img)
    cv2.polylines(sig, [pts], False, 255, 3)
    rule = np.zeros_like(img)
    cv2.line(rule, (10, 130), (490, 142), 255, 2)
    cv2.line(rule, (10, 150), (490, 150), 255, 2)
    away = (rule > 0) & (cv2.dilate(sig, np.ones((9, 9), np.uint8)) == 0)
    assert (out[away] > 200).mean() > 0.97  # the rules are gone
    assert (out[sig > 0] < 128).mean() > 0.9  # the handwriting stays
    blank = np.full((50, 300), 240, np.uint8)
    assert np.array_equal(remove_rules(blank), blank)


def test_remove_rules_takes_a_thin_skewed_rule_and_spares_letters_on_one_baseline():
    """A 1.5 px grey rule at about 0.6 degrees under handwriting whose letters stand on one baseline (a line
    Hough also finds): the rule goes, the letters stay (both went wrong on a demo cheque)."""
    from sigpipe.clean import remove_rules

    img = np.full((115, 360), 236, np.uint8)
    cv2.putText(img, "Edwmn Carlo", (12, 62), cv2.FONT_HERSHEY_SCRIPT_SIMPLEX, 1.6, 30, 3, cv2.LINE_AA)
    cv2.line(img, (0, 90), (359, 94), 40, 1, cv2.LINE_AA)
    out = remove_rules(img)
    text = np.zeros_like(img)
    cv2.putText(text, "Edwmn Carlo", (12, 62), cv2.FONT_HERSHEY_SCRIPT_SIMPLEX, 1.6, 255, 3)
    rule = np.zeros_like(img)
    cv2.line(rule, (0, 90), (359, 94), 255, 1)
    assert (out[rule > 0] > 200).mean() > 0.95  # the rule is gone
    assert (out[text > 0] == img[text > 0]).mean() > 0.99  # the letters are untouched


def test_remove_rules_keeps_a_stroke_whole_where_it_runs_along_the_rule():
    """A descender that curves into an underline flourish crosses the rule at a shallow angle, so for a stretch
    the rule runs inside the stroke. Erasing the rule's band there cut the stroke in two (the flourish then
    looked like another mark: demo seed 7, doc-0009). The stroke stays one piece; the rule away from it goes."""
    from sigpipe.clean import remove_rules

    img = np.full((140, 420), 236, np.uint8)
    stroke = np.array([[260, 10], [262, 50], [250, 78], [220, 92], [170, 100], [110, 100], [80, 95]], np.int32)
    cv2.polylines(img, [stroke], False, 30, 6, cv2.LINE_AA)
    cv2.line(img, (0, 88), (419, 93), 40, 2, cv2.LINE_AA)
    out = remove_rules(img)
    pen = np.zeros_like(img)
    cv2.polylines(pen, [stroke], False, 255, 6)
    n, _ = cv2.connectedComponents((out < 128).astype(np.uint8) & (pen > 0).astype(np.uint8))
    assert n - 1 == 1  # one stroke
    assert (out[pen > 0] < 128).mean() > 0.97
    rule = np.zeros_like(img)
    cv2.line(rule, (0, 88), (419, 93), 255, 2)
    away = (rule > 0) & (cv2.dilate(pen, np.ones((9, 9), np.uint8)) == 0)
    assert (out[away] > 200).mean() > 0.97


def test_median_u8_is_numpys_median_of_the_chosen_pixels():
    """The histogram median the cleaning paints paper with is ``np.median`` of the same pixels, to the bit: odd
    and even counts (the mean of the middle two), a mask, a lower bound on the level, and NaN for no pixel."""
    from sigpipe.clean import median_u8

    rng = np.random.default_rng(3)
    for h, w in ((1, 1), (1, 2), (7, 9), (40, 61), (64, 64)):
        img = rng.integers(0, 256, (h, w), dtype=np.uint8)
        img[: h // 2] = rng.integers(200, 256, (h // 2, w), dtype=np.uint8)  # paper-like and ink-like halves
        mask = rng.random((h, w)) < 0.6
        for m in (None, mask):
            for above in (-1, 0, 127, 230):
                sel = (img if m is None else img[m])
                sel = sel[sel > above]
                got = median_u8(img, m, above)
                if sel.size:
                    assert got == float(np.median(sel)), (h, w, above)
                else:
                    assert np.isnan(got)
    assert median_u8(np.array([[10, 11]], np.uint8)) == 10.5  # np.uint8() of it truncates to 10, as before
    assert np.isnan(median_u8(np.zeros((3, 3), np.uint8), above=0))
    # a level on more pixels than a float32 count holds exactly (2**24 + 1 at 249, 2**24 at 250): 249, where one
    # histogram of the whole image would say 249.5
    big = np.full((8283, 4051), 250, np.uint8)  # 2**25 + 1 pixels
    big.ravel()[: 2**24 + 1] = 249
    assert median_u8(big) == 249.0
    keep = np.ones(big.shape, bool)
    keep[0, 0] = False  # one 249 left out: 2**24 of each level, the middle two 249 and 250
    assert median_u8(big, keep) == 249.5


def test_remove_rules_takes_rules_along_a_crops_edges():
    """Outside the crop counts as paper for the check that a rule stands alone: rules on its first and last rows
    go, a signature between them stays."""
    from sigpipe.clean import remove_rules

    img = np.full((90, 300), 235, np.uint8)
    img[0:2, 10:290] = 40
    img[88:90, 5:295] = 40
    cv2.putText(img, "Sig", (60, 60), cv2.FONT_HERSHEY_SCRIPT_SIMPLEX, 1.4, 30, 3)
    out = remove_rules(img)
    assert (out[0:2, 10:290] > 200).mean() > 0.95 and (out[88:90, 5:295] > 200).mean() > 0.95
    letters = (img < 128) & (np.arange(90)[:, None] > 10) & (np.arange(90)[:, None] < 80)
    assert (out[letters] < 128).mean() > 0.97


def _signed_region() -> tuple[np.ndarray, tuple[int, int, int, int], tuple[int, int, int, int]]:
    """A ``(400, 700) uint8`` page region: a signature whose underline flourish crosses a printed rule, a typed
    line below. Returns (page, the signature's ink box, a detector box that cuts the flourish off)."""
    page = np.full((400, 700), 235, np.uint8)
    word = np.array([[200, 180], [230, 100], [260, 185], [300, 110], [340, 180], [380, 105], [420, 175]], np.int32)
    flourish = np.array([[420, 175], [445, 250], [380, 262], [260, 262], [190, 250]], np.int32)
    cv2.polylines(page, [word, flourish], False, 30, 3, cv2.LINE_AA)
    cv2.line(page, (20, 220), (680, 222), 25, 2, cv2.LINE_AA)  # the rule the signer wrote across
    cv2.putText(page, "Name: A. Person", (200, 300), cv2.FONT_HERSHEY_SIMPLEX, 1.0, 20, 2)
    return page, (188, 98, 448, 264), (195, 95, 430, 225)


def test_grow_to_ink_takes_the_flourish_a_box_cut():
    from sigpipe.clean import grow_to_ink

    page, ink_box, det = _signed_region()
    x0, y0, x1, y1 = grow_to_ink(page, det)
    assert x0 <= ink_box[0] + 3 and y1 >= ink_box[3] - 3 and x1 >= ink_box[2] - 3  # the whole flourish
    assert y1 < 272  # not the typed line below, nor the rule beyond the strokes
    assert x0 > 150 and x1 < 480
    assert (x0, y0) <= det[:2] and (x1, y1) >= det[2:]  # never shrinks


def test_grow_to_ink_leaves_a_whole_signature_and_blank_paper_alone():
    from sigpipe.clean import grow_to_ink

    page, ink_box, _ = _signed_region()
    box = (ink_box[0] - 8, ink_box[1] - 8, ink_box[2] + 8, ink_box[3] + 8)
    assert grow_to_ink(page, box) == pytest.approx(box)
    blank = np.full((300, 500), 240, np.uint8)
    assert grow_to_ink(blank, (100, 100, 300, 180)) == (100, 100, 300, 180)


def test_grow_to_ink_skips_a_stamp_larger_than_the_reach():
    """A stamp ring crossing the box is mostly outside it and runs beyond the search window: not taken."""
    from sigpipe.clean import grow_to_ink

    page, _, det = _signed_region()
    cv2.circle(page, (430, 120), 170, 60, 4, cv2.LINE_AA)
    x0, y0, x1, y1 = grow_to_ink(page, det)
    assert y0 >= det[1] - 2 and x1 < 480


def test_grow_to_ink_takes_a_flourish_a_mid_grey_stamp_ring_touches():
    """A stamp's ring, mid-grey and running far beyond the search window, touches the flourish the box cut: the
    pen's dark ink alone is grouped, so the flourish is still taken (demo seed 7, doc-0009, grew nothing)."""
    from sigpipe.clean import grow_to_ink

    page, ink_box, det = _signed_region()
    ring = np.full_like(page, 255)
    cv2.circle(ring, (300, 518), 260, 160, 5, cv2.LINE_AA)  # its top touches the flourish at y ~ 258
    page = (page.astype(np.float32) * ring / 255).astype(np.uint8)  # stamped over the ink, as ink is
    x0, y0, x1, y1 = grow_to_ink(page, det)
    assert y1 >= ink_box[3] - 3 and x0 <= ink_box[0] + 3  # the whole flourish
    assert y1 < 272


def test_grow_to_ink_widens_its_search_for_a_loop_longer_than_the_reach():
    """A signature's lower loop reaches further below the box than the first search window (half the box's
    height): the signature's group is cut by that window, so the search is repeated at twice the reach."""
    from sigpipe.clean import grow_to_ink

    page = np.full((480, 700), 235, np.uint8)
    word = np.array([[200, 180], [230, 100], [260, 185], [300, 110], [340, 180], [380, 105], [420, 175]], np.int32)
    loop = np.array([[420, 175], [440, 330], [380, 350], [300, 330], [260, 290]], np.int32)
    cv2.polylines(page, [word, loop], False, 30, 3, cv2.LINE_AA)
    det = (195, 95, 430, 225)
    assert grow_to_ink(page, det, widen=1) == det  # one window: the cut group is not taken
    x0, y0, x1, y1 = grow_to_ink(page, det)
    assert y1 >= 350 and x1 >= 440 and (x0, y0) == det[:2]


def _pen_and_stamp() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A ``(200, 520) uint8`` crop: dark pen strokes, and a stamp's words in an even mid-grey beside them (as the
    demo's scanned cheques have them). Returns (crop, pen mask, stamp mask)."""
    img = np.full((200, 520), 246, np.uint8)
    pen = np.zeros_like(img)
    pts = np.array([[30, 120], [70, 40], [110, 130], [150, 50], [200, 125], [250, 45], [300, 120]], np.int32)
    for canvas, value in ((img, 45), (pen, 255)):
        cv2.polylines(canvas, [pts], False, value, 3, cv2.LINE_AA)
    stamp = np.zeros_like(img)
    for canvas, value in ((img, 150), (stamp, 255)):
        cv2.putText(canvas, "PAID", (340, 120), cv2.FONT_HERSHEY_DUPLEX, 1.6, value, 4, cv2.LINE_AA)
    return img, pen > 0, stamp > 0


def test_remove_faint_marks_erases_a_stamp_beside_the_pen():
    from sigpipe.clean import remove_faint_marks

    img, pen, stamp = _pen_and_stamp()
    out = remove_faint_marks(img)
    assert (out[stamp] > 230).mean() > 0.98  # the stamp's words are paper now
    assert np.array_equal(out[pen], img[pen])  # the pen is untouched
    assert np.array_equal(remove_faint_marks(np.full((60, 200), 240, np.uint8)), np.full((60, 200), 240, np.uint8))


def test_remove_faint_marks_keeps_a_light_stroke_that_fades_out_of_the_ink():
    """A stroke whose end fades to a light grey, with gaps lighter still (pressure lifting): all of it stays, as
    its faint pieces join the dark stroke over the gaps (hysteresis), where the stamp's letters stand apart."""
    from sigpipe.clean import remove_faint_marks

    img = np.full((120, 420), 246, np.uint8)
    cv2.line(img, (20, 60), (200, 60), 45, 3)
    for i, x in enumerate(range(200, 400, 10)):  # fading from 60 to 150, a lighter gap (190) every other step
        cv2.line(img, (x, 60), (x + 10, 60), 190 if i % 2 else 60 + 5 * i, 3)
    assert np.array_equal(remove_faint_marks(img), img)


def test_remove_faint_marks_leaves_a_light_signature_beside_a_dark_mark():
    """When the faint ink is most of the ink it may be the signature itself (a light pen, and a dark dot or
    stamp beside it): nothing is erased."""
    from sigpipe.clean import remove_faint_marks

    img = np.full((150, 420), 246, np.uint8)
    pts = np.array([[30, 100], [80, 30], [130, 110], [190, 35], [260, 105], [330, 40]], np.int32)
    cv2.polylines(img, [pts], False, 160, 3, cv2.LINE_AA)  # a light pen
    cv2.circle(img, (390, 80), 8, 30, -1)  # a small dark mark
    assert np.array_equal(remove_faint_marks(img), img)


@pytest.mark.data
@pytest.mark.skipif(not (CEDAR / "manifest.csv").is_file(), reason=f"CEDAR not found at {CEDAR}")
def test_remove_faint_marks_leaves_real_signatures_alone():
    """Real scans, with their light pens, pressure changes and fading stroke ends: at most 3% of any image's ink
    changes, and 1% in nearly all (``bench/faint_marks.py`` measures the whole of CEDAR and crossmedia)."""
    from sigpipe.clean import remove_faint_marks

    # writers 8 and 41: light pens, the ones it touched most while it was tuned
    paths = sorted(CEDAR.glob("full_*/*_8_*.*")) + sorted(CEDAR.glob("full_*/*_41_*.*"))
    assert len(paths) >= 90
    lost = []
    for p in paths:
        g = to_grey(load_image(p))
        ink = ink_mask(g)
        lost.append((remove_faint_marks(g) != g)[ink].mean())
    assert max(lost) <= 0.03 and np.mean(np.array(lost) > 0.01) <= 0.02
