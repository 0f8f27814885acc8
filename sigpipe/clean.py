"""Crop -> normalised model input: grey, denoise, Otsu, background removal, crop, centre, resize, invert.

The output convention (the one the verifier is trained on) is ``(h, w) uint8`` with the background at exactly 0
and ink high: an ink pixel keeps its (denoised) grey level ``g`` as ``255 - g``, like sigver's
``preprocess_signature`` (pixels above the Otsu threshold become background, the rest keep their grey level).
Removing the background exactly matters: CEDAR's genuine scans have a grey background (~239) and its
forgeries a white one (~254), so any background left in the input lets a model "detect forgeries" from it.

Sizes are always explicit. ``size`` is the model input size and callers read it (and the other keyword
arguments of :func:`clean`) from the model card; nothing here has a default input size.

Speed: the crop is first shrunk to a working resolution of about ``oversample`` times the final scale, so the
median, Otsu and connected components run on few pixels whatever the scan resolution; every step is a cv2 call
(they release the GIL, so :func:`clean_batch` scales over threads).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

__all__ = ["CleanError", "load_image", "to_grey", "otsu_threshold", "ink_mask", "grow_to_ink", "remove_rules",
           "remove_faint_marks", "clean", "clean_batch", "median_u8"]


class CleanError(ValueError):
    """An input that cannot be turned into a grey image (unreadable, empty, bad dtype or range)."""


# ----------------------------------------------------------------------------------------------- reading

_EXIF_ORIENTATION = 0x0112


def load_image(path: str | Path) -> np.ndarray:
    """Read an image file of any common mode as ``(H, W) uint8`` grey.

    Modes: 1-bit, L, P (palette, with or without transparency), RGB, RGBA / LA / PA (alpha composited on
    white), I;16 and I (16-bit PNG/TIFF, scaled to 8 bit), F (float: [0, 1] scaled, else clipped to
    [0, 255]), CMYK, YCbCr. The EXIF orientation is applied; a multi-frame file gives its first frame.

    Raises:
        CleanError: naming the file and the reason (missing, empty, not an image, truncated, no pixels).
    """
    p = Path(path)
    if not p.exists():
        raise CleanError(f"{p}: no such file")
    if not p.is_file():
        raise CleanError(f"{p}: not a file")
    if p.stat().st_size == 0:
        raise CleanError(f"{p}: empty file (0 bytes)")
    try:
        with Image.open(p) as im:
            im.load()
            if im.getexif().get(_EXIF_ORIENTATION, 1) != 1:  # exif_transpose copies even when it need not
                im = ImageOps.exif_transpose(im)
            grey = _pil_to_grey(im)
    except UnidentifiedImageError as e:
        raise CleanError(f"{p}: not a readable image ({e})") from e
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        # OSError covers truncated/corrupt data ("image file is truncated", "broken data stream").
        raise CleanError(f"{p}: cannot decode image ({type(e).__name__}: {e})") from e
    if grey.size == 0:
        raise CleanError(f"{p}: image has no pixels ({grey.shape[1]}x{grey.shape[0]})")
    return grey


def _pil_to_grey(im: Image.Image) -> np.ndarray:
    """PIL image of any mode -> ``(H, W) uint8``, alpha composited on white."""
    mode = im.mode
    if mode in ("1", "L"):
        return np.asarray(im.convert("L"))
    if mode.startswith("I;16") or mode == "I":
        # Pillow opens 16-bit grey PNG/TIFF as I;16 (I from some TIFFs): full 16-bit range, scale to 8 bit.
        return to_grey(np.clip(np.asarray(im), 0, 65535).astype(np.uint16))
    if mode == "F":
        a = np.nan_to_num(np.asarray(im, dtype=np.float32))
        a = a * 255.0 if a.size and a.max() <= 1.0 else a
        return np.clip(np.rint(a), 0, 255).astype(np.uint8)
    if "transparency" in im.info and mode in ("P", "L", "RGB"):
        im, mode = im.convert("RGBA"), "RGBA"
    if mode in ("RGBa", "La"):  # premultiplied alpha
        im, mode = im.convert("RGBA"), "RGBA"
    if mode in ("RGBA", "LA", "PA"):
        la = np.asarray(im.convert("LA"))  # (H, W, 2): grey, alpha
        return _composite_white(la[..., 0], la[..., 1])
    if mode in ("P", "RGB", "YCbCr"):
        return np.asarray(im.convert("L"))
    # CMYK, LAB, HSV, ...: through RGB, the one conversion Pillow offers for all of them.
    return np.asarray(im.convert("RGB").convert("L"))


def _composite_white(grey: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``(H, W) uint8`` grey over white with ``(H, W) uint8`` alpha -> ``(H, W) uint8`` (rounded)."""
    g = grey.astype(np.uint32)
    a = alpha.astype(np.uint32)
    return ((g * a + 255 * (255 - a) + 127) // 255).astype(np.uint8)


def to_grey(img: np.ndarray) -> np.ndarray:
    """Any image array -> ``(H, W) uint8`` grey (returned as is, no copy, when already so).

    Accepts ``(H, W)``, ``(H, W, 1)``, ``(H, W, 2)`` grey+alpha, ``(H, W, 3)`` BGR (OpenCV order) and
    ``(H, W, 4)`` BGRA (alpha composited on white); dtypes uint8, bool (True = white, as Pillow's mode "1"),
    uint16 (scaled by 255/65535), other integers with values in [0, 255], float in [0, 1].

    Raises:
        CleanError: empty array, unsupported shape, or values out of range for the dtype.
    """
    a = np.asarray(img)
    if a.size == 0:
        raise CleanError(f"empty image array of shape {a.shape}")
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (2, 3, 4)):
        raise CleanError(f"expected (H, W) or (H, W, 1|2|3|4) image, got shape {a.shape}")
    a = _to_uint8(a)
    if a.ndim == 2:
        return a
    c = a.shape[2]
    if c == 2:
        return _composite_white(a[..., 0], a[..., 1])
    grey = cv2.cvtColor(np.ascontiguousarray(a[..., :3]), cv2.COLOR_BGR2GRAY)
    return grey if c == 3 else _composite_white(grey, a[..., 3])


def _to_uint8(a: np.ndarray) -> np.ndarray:
    """Array of any supported dtype -> uint8, same shape."""
    if a.dtype == np.uint8:
        return a
    if a.dtype == np.bool_:
        return a.view(np.uint8) * np.uint8(255)
    if a.dtype == np.uint16:
        return cv2.convertScaleAbs(a, alpha=255.0 / 65535.0)  # rounds and saturates
    if np.issubdtype(a.dtype, np.floating):
        lo, hi = float(np.min(a)), float(np.max(a))
        if not (np.isfinite(lo) and np.isfinite(hi)) or lo < -1e-6 or hi > 1.0 + 1e-6:
            raise CleanError(f"float image values must lie in [0, 1], got [{lo:g}, {hi:g}]")
        return np.clip(np.rint(a * 255.0), 0, 255).astype(np.uint8)
    if np.issubdtype(a.dtype, np.integer):
        lo, hi = int(np.min(a)), int(np.max(a))
        if lo < 0 or hi > 255:
            raise CleanError(f"{a.dtype} image values must lie in [0, 255] (use uint16 for 16 bit), got [{lo}, {hi}]")
        return a.astype(np.uint8)
    raise CleanError(f"unsupported image dtype {a.dtype}")


# ----------------------------------------------------------------------------------------------- ink


def otsu_threshold(grey: np.ndarray) -> tuple[int, float]:
    """Otsu threshold of a ``(H, W) uint8`` image and the contrast between its two classes.

    Returns:
        ``(t, contrast)``: ink is ``grey <= t`` (cv2's convention); ``contrast`` is the mean of the
        background class minus the mean of the ink class, in grey levels (0 for a flat image).
    """
    hist = cv2.calcHist([grey], [0], None, [256], [0, 256]).ravel().astype(np.float64)  # (256,)
    p = hist / hist.sum()
    levels = np.arange(256, dtype=np.float64)
    w0 = np.cumsum(p)  # weight of the class <= t
    m0 = np.cumsum(p * levels)  # unnormalised mean of the class <= t
    mt = m0[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mt * w0 - m0) ** 2 / (w0 * (1.0 - w0))
    between[~np.isfinite(between)] = -1.0
    t = int(np.argmax(between))
    if between[t] < 0:  # one grey level only
        return t, 0.0
    ink_mean = m0[t] / w0[t]
    bg_mean = (mt - m0[t]) / (1.0 - w0[t])
    return t, float(bg_mean - ink_mean)


def median_u8(grey: np.ndarray, mask: np.ndarray | None = None, above: int = -1, empty: float = math.nan) -> float:
    """``np.median`` of the ``(H, W) uint8`` pixels where ``mask`` (``(H, W)`` bool, None: all) holds and the level is
    over ``above``, the same float, from a histogram: ``np.median`` copies the pixels and partitions them, 3 times the
    cost on a page and 2 on a crop. ``empty`` when no pixel qualifies (NaN, as ``np.median`` of nothing, without its
    warning)."""
    m = None if mask is None else mask.astype(np.uint8)
    # cv2's counts are float32, exact below 2**24: a large page is counted in strips of fewer pixels
    step = max(1, (1 << 24) // max(1, grey.shape[1]))
    hist = np.zeros(256, np.int64)
    for r in range(0, grey.shape[0], step):
        part = None if m is None else m[r:r + step]
        hist += cv2.calcHist([grey[r:r + step]], [0], part, [256], [0, 256]).ravel().astype(np.int64)
    cum = np.cumsum(hist[above + 1:])  # (256 - above - 1,) pixels at or under each level over ``above``
    n = int(cum[-1]) if cum.size else 0
    if n == 0:
        return empty
    k = (n - 1) // 2  # the middle pixel (odd n) or the lower of the middle two (even n), in sorted order
    lo = int(np.searchsorted(cum, k, side="right"))
    hi = lo if n % 2 else int(np.searchsorted(cum, k + 1, side="right"))
    return (lo + hi + 2 * (above + 1)) / 2


def remove_rules(img: np.ndarray, min_frac: float = 0.5, max_angle_deg: float = 4.0, max_gap: int = 12,
                 min_clear: float = 0.5) -> np.ndarray:
    """Erase printed rules (straight horizontal lines, solid or dotted) from a crop cut out of a page.

    A signature sits on a printed line more often than not; the line is not the writer's and must not reach
    the verifier. Straight segments at least ``min_frac`` of the crop's width, within ``max_angle_deg`` of
    horizontal (scans are skewed), with gaps up to ``max_gap`` px (dotted rules), are painted with the
    paper's grey, when they stand alone: at least ``min_clear`` of their inked columns have no ink 4-7 rows
    above and below. A line along the feet of handwritten letters is as straight, but has the letters on one
    side. Vertical segments are left alone: a tall straight downstroke is common in signatures, a vertical
    rule inside a signature box is not. ``(H, W) uint8`` -> ``(H, W) uint8``.
    """
    grey = to_grey(img)
    h, w = grey.shape
    t, contrast = otsu_threshold(grey)
    if contrast <= 0 or min(h, w) < 8:
        return grey
    ink = np.where(grey <= t, 255, 0).astype(np.uint8)
    mask = np.zeros_like(ink)
    length = int(min_frac * w)
    if length < 20:
        return grey
    tan = np.tan(np.radians(max_angle_deg))
    # Hough on the ink thickened by a row up and down: its walk along a thin skewed rule steps between rows and
    # sees gaps where the rule changes row (a 1.5 px rule at 1 degree under a signature was missed)
    segs = cv2.HoughLinesP(cv2.dilate(ink, np.ones((3, 1), np.uint8)), 1, np.pi / 360,
                           threshold=max(10, length // 3), minLineLength=length, maxLineGap=max_gap)
    padded = None
    for x0, y0, x1, y1 in ([] if segs is None else np.asarray(segs).reshape(-1, 4).tolist()):
        if abs(y1 - y0) <= tan * abs(x1 - x0):
            if padded is None:  # the ink with _CLEAR_ROWS rows of paper above and below, for _clear_share
                padded = np.pad(ink > 0, ((_CLEAR_ROWS, _CLEAR_ROWS), (0, 0)))
            if _clear_share(padded, x0, y0, x1, y1) >= min_clear:
                cv2.line(mask, (x0, y0), (x1, y1), 255, 1)
    if not mask.any():
        return grey
    # the rule's pixels are the vertical ink runs its centre line (give or take a row) passes through, where
    # they are about as tall as the rule: where a stroke crosses the rule, or runs along it (an underline
    # flourish leaving a descender), the run is taller and the stroke keeps it whole instead of being cut in
    # two; then one pixel around them, where there is ink, for the rule's antialiased edges
    rule, kept = _rule_runs(ink > 0, cv2.dilate(mask, np.ones((3, 1), np.uint8)) > 0)
    mask = cv2.dilate(rule.astype(np.uint8), np.ones((3, 3), np.uint8)) & cv2.dilate(ink, np.ones((3, 3), np.uint8))
    mask[kept] = 0
    out = grey.copy()
    out[mask > 0] = np.uint8(median_u8(grey, above=t, empty=255))  # the paper: the pixels off the ink
    return out


def remove_faint_marks(img: np.ndarray, core: float = 0.4, join: float = 0.5, max_share: float = 0.5,
                       median: int = 3, min_contrast: float = 24.0) -> np.ndarray:
    """Erase marks of ink much fainter than the crop's main ink and apart from it: rubber stamps, bleed-through.

    A pen stroke has a dark core; a stamp's letters are an even mid-grey (stamp ink pressed through rubber,
    scanned grey). Ink is split as in :func:`clean` (median, Otsu). The ink's dark level is the 25th percentile
    of the ink pixels (the main ink when it is most of the ink); a pixel is a core when it lies within ``core``
    of the way from that level to the paper's. Hysteresis: a mark is kept when it holds a core pixel, marks
    being joined over gaps up to ``join`` of the way from the Otsu threshold to the paper (a light pen stroke
    fades in and out of the ink class along its path; a stamp's letters stand on bare paper). The marks left
    are painted with the paper's grey, unless they are over ``max_share`` of all the ink: then the faint ink
    may be the signature (a light pen beside a dark stamp) and nothing is erased. A mark touching the signature
    stays with it, and a stamp as dark as the pen cannot be told from it this way. On real signatures it erases
    almost nothing (``bench/faint_marks.py``): of CEDAR's 2,160 scans none loses over 0.5% of its ink, of
    crossmedia's 4,218 three lose over 1%, at most 3.6% (faint ends of strokes). ``(H, W[, C])`` ->
    ``(H, W) uint8``.
    """
    grey = to_grey(img)
    if min(grey.shape) < 8:
        return grey
    work = _denoise(grey, median)
    t, contrast = otsu_threshold(work)
    if contrast < min_contrast:
        return grey
    _, weak = cv2.threshold(work, t, 255, cv2.THRESH_BINARY_INV)  # (H, W) 0/255 all ink
    hist = cv2.calcHist([work], [0], None, [256], [0, 256]).ravel()  # (256,) ink is levels <= t
    cum = np.cumsum(hist)
    ink_level = float(np.searchsorted(cum, 0.25 * cum[t]))  # 25th percentile of the ink
    paper_level = float(np.searchsorted(cum, cum[t] + 0.5 * (cum[-1] - cum[t])))  # median of the paper
    strong = work <= ink_level + core * (paper_level - ink_level)  # (H, W) bool, the ink's dark cores
    joined = (work <= t + join * (paper_level - t)).astype(np.uint8)  # (H, W) 0/1, ink and its faint gaps
    n, labels = cv2.connectedComponents(joined, connectivity=8, ltype=cv2.CV_32S)  # (H, W)
    keep = np.zeros(n, bool)
    keep[np.unique(labels[strong])] = True
    keep[0] = True  # paper
    faint = ~keep[labels] & (weak > 0)  # (H, W) bool
    n_faint = int(faint.sum())
    if n_faint == 0 or n_faint > max_share * cv2.countNonZero(weak):
        return grey
    out = grey.copy()
    # the median may have shaved a mark's fringe off the ink: take one pixel around it with it (paper only)
    fringe = cv2.dilate(faint.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    out[fringe & ((weak == 0) | faint)] = np.uint8(paper_level)
    return out


def _rule_runs(ink: np.ndarray, centre: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The vertical ink runs that ``centre`` (a rule's centre line) touches, split by height: up to 2 pixels
    over the rule's height (the median height of the runs touched) the run is the rule's; taller, a stroke
    crosses or runs along the rule there. ``ink``, ``centre`` ``(H, W) bool`` -> ``(rule, kept)`` ``(H, W) bool``.
    """
    col = np.zeros((ink.shape[1], ink.shape[0] + 1), bool)  # (W, H + 1) columns as rows, one gap after each
    col[:, :-1] = ink.T
    flat = col.ravel()
    starts = flat & ~np.concatenate(([False], flat[:-1]))
    run = np.cumsum(starts) * flat  # (W * (H + 1),) run id of each ink pixel, 0 off ink
    on = np.zeros_like(col)
    on[:, :-1] = centre.T
    hit = np.unique(run[on.ravel() & flat])
    hit = hit[hit > 0]
    length = np.bincount(run)
    rule, kept = np.zeros(length.size, bool), np.zeros(length.size, bool)
    if hit.size:
        short = length[hit] <= np.median(length[hit]) + 2
        rule[hit[short]], kept[hit[~short]] = True, True
    return rule[run].reshape(col.shape)[:, :-1].T, kept[run].reshape(col.shape)[:, :-1].T


_CLEAR_ROWS = 7  # how far from a segment _clear_share looks for ink


def _clear_share(padded: np.ndarray, x0: int, y0: int, x1: int, y1: int) -> float:
    """Of the columns where the segment ``(x0, y0)-(x1, y1)`` has ink within 2 rows of it, the share with no ink
    4 to 7 rows above it and none 4 to 7 rows below (outside the image counts as no ink: rules often run along
    a crop's edge). ``padded (H + 14, W) bool``: the ink with :data:`_CLEAR_ROWS` rows of paper above and below
    (segment coordinates are the unpadded image's)."""
    if x1 < x0:
        x0, y0, x1, y1 = x1, y1, x0, y0
    xs = np.arange(x0, x1 + 1)
    ys = np.rint(y0 + (y1 - y0) * (xs - x0) / max(1, x1 - x0)).astype(int)
    # (L, 15): the ink 7 rows above to 7 rows below the segment in each of its columns, one gather
    near = padded[ys[:, None] + np.arange(2 * _CLEAR_ROWS + 1), xs[:, None]]
    on = near[:, _CLEAR_ROWS - 2:_CLEAR_ROWS + 3].any(axis=1)  # rows -2..2
    clear = on & ~near[:, :_CLEAR_ROWS - 3].any(axis=1) & ~near[:, _CLEAR_ROWS + 4:].any(axis=1)  # -7..-4, 4..7
    return float(clear.sum() / max(1, on.sum()))


def _denoise(grey: np.ndarray, median: int) -> np.ndarray:
    return cv2.medianBlur(grey, median) if median > 1 else grey


def _ink_components(work: np.ndarray, t: int, speck_frac: float) -> tuple[np.ndarray, tuple[int, int, int, int] | None]:
    """Ink mask of a denoised ``(H, W) uint8`` image without specks, and the ink bounding box.

    Returns:
        ``(keep, box)``: ``keep`` is ``(H, W) uint8`` 0/255; ``box`` is ``(y0, y1, x0, x1)`` (end exclusive)
        or None when no ink is left.
    """
    _, mask = cv2.threshold(work, t, 255, cv2.THRESH_BINARY_INV)  # (H, W) 0/255, ink = work <= t
    n_ink = cv2.countNonZero(mask)
    if n_ink == 0:
        return mask, None
    # Labels without cv2's stats (which cost 3-6x the labelling here); areas from a histogram of the labels.
    # 16-bit labels when they cannot overflow: a cheaper histogram and cv2's 16-bit LUT below.
    ltype = cv2.CV_16U if n_ink < 65535 else cv2.CV_32S
    n, labels = cv2.connectedComponentsWithAlgorithm(mask, 8, ltype, cv2.CCL_DEFAULT)  # (H, W)
    if ltype == cv2.CV_16U:
        areas = cv2.calcHist([labels], [0], None, [n], [0, n]).ravel()[1:]  # (n-1,) pixels per component
    else:
        areas = np.bincount(labels.ravel(), minlength=n)[1:]
    small = areas < speck_frac * n_ink
    if small.all():
        return mask, None
    if small.any():
        lut = np.zeros(65536 if ltype == cv2.CV_16U else n, np.uint8)  # label -> 0/255
        lut[1:n][~small] = 255
        mask = cv2.LUT(labels, lut) if ltype == cv2.CV_16U else lut[labels]
    x, y, w, h = cv2.boundingRect(mask)
    return mask, (y, y + h, x, x + w)


def ink_mask(img: np.ndarray, *, median: int = 3, speck_frac: float = 0.002, min_contrast: float = 24.0) -> np.ndarray:
    """Ink pixels of an image at its own resolution: median, Otsu, specks removed.

    Args:
        img: any array :func:`to_grey` accepts, ``(H, W[, C])``.
        median, speck_frac, min_contrast: as in :func:`clean`.

    Returns:
        ``(H, W) bool``, True on ink; all False when the image has no ink (contrast below ``min_contrast``).
    """
    work = _denoise(to_grey(img), median)
    t, contrast = otsu_threshold(work)
    if contrast < min_contrast:
        return np.zeros(work.shape, bool)
    keep, box = _ink_components(work, t, speck_frac)
    return keep > 0 if box is not None else np.zeros(work.shape, bool)


def grow_to_ink(page: np.ndarray, xyxy: Sequence[float], reach: tuple[float, float] = (0.25, 0.5), own: float = 0.5,
                gap: float = 0.04, core: float = 0.4, min_contrast: float = 24.0,
                widen: int = 2) -> tuple[float, float, float, float]:
    """Grow a signature box ``(x0, y0, x1, y1)`` (page pixels) to the whole strokes it mostly holds.

    Detector boxes often cut a signature's flourish or underline, and a verifier scores a clipped signature
    far lower than the whole one. Within a window of ``reach`` ``(x, y)`` times the box's width and height
    around the box, printed rules are erased (:func:`remove_rules`), the pen's ink is grouped into strokes
    (components after a dilation of ``gap`` times the box's smaller side, which rejoins a stroke the rule
    erasure cut), and the box grows to every group that has at least ``own`` of its ink inside the box. A
    group cut by the window's border is larger than a signature (a stamp ring, a text block) and is left out;
    when such a group has ``own`` of its ink inside the box, it may be the signature with a flourish longer
    than the reach, so the search is repeated with the reach times 2, ..., ``widen``, until no group the box
    holds is cut. The pen's ink is the ink (median, Otsu) within ``core`` of the way from the dark level of the
    ink in the box (its 25th percentile) to the paper: a stamp's mid-grey ring touching a flourish would
    otherwise join it to a group the window cuts, and the box would not grow at all. Never shrinks the box;
    returns it unchanged on a page region without ink.
    ``page (H, W[, C])`` -> grown ``(x0, y0, x1, y1)`` float, within the page.
    """
    grey = to_grey(page)
    box = tuple(float(v) for v in xyxy)
    grown = box
    for k in range(1, max(1, widen) + 1):
        grown, held_cut = _grow_once(grey, box, (k * reach[0], k * reach[1]), own, gap, core, min_contrast)
        if not held_cut:
            break
    return grown


def _grow_once(grey: np.ndarray, box: tuple[float, ...], reach: tuple[float, float], own: float, gap: float,
               core: float, min_contrast: float) -> tuple[tuple[float, float, float, float], bool]:
    """One search of :func:`grow_to_ink` in one window -> (the grown box, whether a group with ``own`` of its
    ink inside the box was cut by the window's border)."""
    h, w = grey.shape
    x0, y0, x1, y1 = box
    bw, bh = max(x1 - x0, 1.0), max(y1 - y0, 1.0)
    wx0, wy0 = max(0, math.floor(x0 - reach[0] * bw)), max(0, math.floor(y0 - reach[1] * bh))
    wx1, wy1 = min(w, math.ceil(x1 + reach[0] * bw)), min(h, math.ceil(y1 + reach[1] * bh))
    if wx1 - wx0 < 3 or wy1 - wy0 < 3:
        return (x0, y0, x1, y1), False
    win = _denoise(remove_rules(grey[wy0:wy1, wx0:wx1]), 3)  # (wh, ww)
    t, contrast = otsu_threshold(win)
    if contrast < min_contrast:
        return (x0, y0, x1, y1), False
    bx0, by0 = max(0, round(x0) - wx0), max(0, round(y0) - wy0)
    in_box = win[by0 : round(y1) - wy0, bx0 : round(x1) - wx0]  # (bh, bw)
    box_ink = in_box[in_box <= t]
    if box_ink.size == 0:
        return (x0, y0, x1, y1), False
    pen = float(np.percentile(box_ink, 25))
    paper = median_u8(win, above=t)  # not empty: Otsu's contrast above says both classes exist
    ink = (win <= min(t, pen + core * (paper - pen))).astype(np.uint8)
    g = max(1, round(gap * min(bw, bh)))
    n, groups = cv2.connectedComponents(cv2.dilate(ink, np.ones((2 * g + 1, 2 * g + 1), np.uint8)), connectivity=8)
    lab = groups * ink  # (wh, ww) group of each ink pixel, 0 off ink
    area = np.bincount(lab.ravel(), minlength=n)
    inside = np.bincount(lab[by0 : round(y1) - wy0, bx0 : round(x1) - wx0].ravel(), minlength=n)
    cut = np.zeros(n, bool)
    # the window's border only counts where the window did not stop at the page's edge
    for edge, inner in ((lab[0], wy0 > 0), (lab[-1], wy1 < h), (lab[:, 0], wx0 > 0), (lab[:, -1], wx1 < w)):
        if inner:
            cut[edge] = True
    held = (inside > 0) & (inside >= own * area)
    held[0] = False
    keep = held & ~cut
    if not keep.any():
        return (x0, y0, x1, y1), bool((held & cut).any())
    ys, xs = np.nonzero(keep[lab])
    return ((min(x0, float(wx0 + xs.min())), min(y0, float(wy0 + ys.min())),
             max(x1, float(wx0 + xs.max() + 1)), max(y1, float(wy0 + ys.max() + 1))), bool((held & cut).any()))


# ----------------------------------------------------------------------------------------------- clean


def _shrink_int(img: np.ndarray, k: int) -> np.ndarray:
    """``(H, W) uint8`` -> ``(round(H / k), round(W / k))`` by box averaging; cv2's fast integer-factor path."""
    if k <= 1:
        return img
    return cv2.resize(img, None, fx=1.0 / k, fy=1.0 / k, interpolation=cv2.INTER_AREA)


def _resize(img: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """``(H, W) uint8`` -> ``hw``: box averaging when shrinking (no aliasing), bilinear when growing.

    A shrink by more than 2 first takes cv2's fast integer-factor box filter, then the general (slow,
    cost ~ source pixels) area resize does the remaining factor below 2 on a quarter of the pixels or fewer.
    """
    h, w = hw
    if (h, w) == img.shape:
        return img
    if h > img.shape[0] and w > img.shape[1]:
        return cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)
    k = int(min(img.shape[0] / h, img.shape[1] / w))
    img = _shrink_int(img, k) if k >= 2 else img
    return cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)


def _int_factor(f: float) -> int:
    """Largest integer shrink factor ``k`` with ``1 / k >= f`` (1 when ``f >= 1``)."""
    return max(1, int(np.floor(1.0 / f + 1e-9))) if f < 1.0 else 1


def _pair(x: Sequence[int], name: str) -> tuple[int, int]:
    """A JSON list or tuple from a model card -> ``(int, int)``, both positive."""
    try:
        a, b = (int(v) for v in x)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name} must be a pair (height, width), got {x!r}") from e
    if a < 1 or b < 1:
        raise ValueError(f"{name} must be positive, got {x!r}")
    return a, b


def clean(
    img: np.ndarray,
    size: Sequence[int],
    canvas: Sequence[int] | None = None,
    *,
    median: int = 3,
    speck_frac: float = 0.002,
    min_contrast: float = 24.0,
    oversample: float = 2.0,
    binarize: bool = False,
) -> np.ndarray:
    """Normalise one signature crop into the model input: background exactly 0, ink high, centred, resized.

    Steps: grey -> shrink to a working resolution -> median -> Otsu -> pixels above the threshold become
    background, ink keeps its grey level -> connected components smaller than ``speck_frac`` of the ink
    removed -> crop to the ink bounding box -> centred keeping the aspect ratio -> resized -> inverted.

    Args:
        img: ``(H, W[, C])`` any array :func:`to_grey` accepts (dark ink on light paper).
        size: ``(h, w)`` output size, the model input size from the model card.
        canvas: None: the ink box is scaled to fit ``(h, w)`` and centred. ``(Hc, Wc)`` in input pixels:
            the ink is centred on an ``(Hc, Wc)`` canvas (shrunk to fit if larger), which is scaled to fit
            ``(h, w)`` and centred; so the ink keeps its size relative to the scan (sigver's convention).
        median: median filter aperture (odd; 0 or 1 disables), applied at the working resolution.
        speck_frac: components with fewer pixels than this fraction of all ink pixels are specks.
        min_contrast: an image whose Otsu classes differ by fewer grey levels is blank (paper, no ink).
        oversample: the working resolution is at least this many times the final one (the input shrunk
            by the largest integer factor that allows it; never enlarged). 1 is fastest; at 2 the median
            never sees strokes thinner than twice their final width (CEDAR at 150x220: full resolution).
        binarize: ink at 255 instead of its grey level (before the resize, so edges stay smooth). Ink
            darkness is a pen and scanner property: on CEDAR it alone tells genuine from forged ~60% of
            the time (bench/background_leak.py); binarizing removes that cue, and the grey-level detail.

    Returns:
        ``(h, w) uint8``: background exactly 0, ink ``255 - grey``. A blank input (no ink) gives all zeros
        (test with ``not out.any()``).
    """
    h, w = _pair(size, "size")
    grey = to_grey(img)
    H, W = grey.shape  # noqa: N806 - input size vs output size
    out = np.zeros((h, w), np.uint8)

    if canvas is not None:
        ch, cw = _pair(canvas, "canvas")
        f = min(h / ch, w / cw)  # canvas -> output scale
    else:
        # The ink box is unknown yet; it is at most the image, so this scale is right unless the ink fills
        # well under half the crop in both directions, which the second pass below repairs.
        f = max(h / H, w / W)
    # Integer factor: cv2's box filter is ~20x faster for it than for a general scale, and 1/k >= f keeps
    # at least the requested oversampling.
    k = _int_factor(oversample * f)
    work = _denoise(_shrink_int(grey, k), median)  # (~H/k, ~W/k)

    t, contrast = otsu_threshold(work)
    if contrast < min_contrast:
        return out
    keep, box = _ink_components(work, t, speck_frac)
    if box is None:
        return out
    y0, y1, x0, x1 = box

    if canvas is None and k > 1:
        # Second pass for crops with wide margins (ink box well under the crop): the first pass then fell
        # well short of the requested oversampling, so redo the ink box alone from the input pixels.
        k2 = _int_factor(oversample * min(h / ((y1 - y0) * k), w / ((x1 - x0) * k)))
        if k >= 1.5 * k2:
            region = grey[max(0, (y0 - 1) * k) : (y1 + 1) * k, max(0, (x0 - 1) * k) : (x1 + 1) * k]
            work2 = _denoise(_shrink_int(region, k2), median)
            keep2, box2 = _ink_components(work2, t, speck_frac)  # same threshold: same ink definition
            if box2 is not None:
                work, keep, (y0, y1, x0, x1), k = work2, keep2, box2, k2

    if binarize:
        ink = keep[y0:y1, x0:x1]  # (bh, bw) 0/255
    else:
        ink = cv2.bitwise_and(cv2.bitwise_not(work[y0:y1, x0:x1]), keep[y0:y1, x0:x1])  # (bh, bw) bg 0
    bh, bw = ink.shape
    if canvas is None:
        s = min(h / bh, w / bw)
    else:
        chw, cww = ch / k, cw / k  # canvas in working pixels
        s = min(h / chw, w / cww) * min(1.0, chw / bh, cww / bw)
    nh, nw = min(h, max(1, round(bh * s))), min(w, max(1, round(bw * s)))
    oy, ox = (h - nh) // 2, (w - nw) // 2
    out[oy : oy + nh, ox : ox + nw] = _resize(ink, (nh, nw))
    return out


def clean_batch(
    images: Sequence[np.ndarray | str | Path],
    size: Sequence[int],
    canvas: Sequence[int] | None = None,
    *,
    workers: int = 1,
    **kwargs: float | bool,
) -> np.ndarray:
    """Clean many crops, optionally on a thread pool (the cv2 and Pillow calls release the GIL).

    Args:
        images: N arrays ``(H_i, W_i[, C])`` or image paths (read with :func:`load_image` in the workers).
        size, canvas, kwargs: as in :func:`clean`.
        workers: threads; 1 runs inline. Each crop costs ~0.6 ms of CPU (CEDAR, 150x220), so 2 threads on
            2 cores approach twice the 1-thread rate. OpenCV's own pool (``cv2.setNumThreads``, process
            global, left to entry points) buys nothing on crops this small and costs ~10% more CPU.

    Returns:
        ``(N, h, w) uint8``; blank inputs are all-zero slices (``~out.any(axis=(1, 2))``).
    """
    h, w = _pair(size, "size")
    out = np.zeros((len(images), h, w), np.uint8)

    def run(i: int) -> None:
        x = images[i]
        out[i] = clean(load_image(x) if isinstance(x, str | Path) else x, (h, w), canvas, **kwargs)

    if workers <= 1 or len(images) <= 1:
        for i in range(len(images)):
            run(i)
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(run, range(len(images))))  # list() re-raises the first worker exception
    return out
