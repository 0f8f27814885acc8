"""Training augmentation on cleaned crops ``(h, w) uint8`` (ink high, background exactly 0).

A small affine (rotation, scale, shear, shift) and an elastic displacement are combined into one
``cv2.remap``; then stroke width changes (grey erode/dilate) and ink-intensity scaling, because scanners
and pens differ in exactly those. The background stays 0 (border value 0, morphology keeps 0 at 0).

Two optional steps (off by default) imitate what a signature cut from a scanned document brings that a
signature scanned alone does not: ``p_clutter`` draws parts of a rubber stamp (ring arcs, box edges, printed
words) and rule fragments over the crop, at ink levels like the pen's, since the document-side cleaning only
erases marks much fainter than the pen; ``p_cut`` removes one end of the signature and re-fits the rest to the
input, as a detector box that stops short of a flourish does.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["AugmentConfig", "augment", "augment_batch", "clutter", "cut_end", "redraw_pen", "stamp_beside"]


@dataclass(frozen=True)
class AugmentConfig:
    rotate_deg: float = 5.0  # signatures are written roughly level; CEDAR crops are not deskewed
    scale: float = 0.08  # relative zoom range +-; the cleaner already normalises size
    shear: float = 0.15  # slant differs between repetitions of one writer
    shift: float = 0.04  # fraction of width/height
    elastic_alpha: float = 2.5  # displacement amplitude in pixels at model resolution
    elastic_grid: tuple[int, int] = (4, 6)  # coarse random field, upsampled: smooth, stroke-scale wobble
    p_elastic: float = 0.5
    p_morph: float = 0.4  # probability of one erode or dilate step
    ink_gain: tuple[float, float] = (0.7, 1.3)  # ink darkness/contrast differs between pens and scanners
    p_clutter: float = 0.0  # probability of stamp parts / rule fragments over the crop (documents)
    p_cut: float = 0.0  # probability of one end cut off (a detector box short of the signature)
    p_stamp: float = 0.0  # probability of a rubber stamp beside or over the signature, cropped with it (stamp_beside)
    cut: tuple[float, float] = (0.1, 0.35)  # share of the ink's width cut off
    enabled: bool = True


def augment(img: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig = AugmentConfig()) -> np.ndarray:  # noqa: B008
    """One augmented copy of ``img (h, w) uint8`` -> ``(h, w) uint8``."""
    if not cfg.enabled:
        return img
    h, w = img.shape
    ang = np.deg2rad(rng.uniform(-cfg.rotate_deg, cfg.rotate_deg))
    s = 1.0 + rng.uniform(-cfg.scale, cfg.scale)
    sh = rng.uniform(-cfg.shear, cfg.shear)
    tx, ty = rng.uniform(-cfg.shift, cfg.shift) * w, rng.uniform(-cfg.shift, cfg.shift) * h
    # inverse map: output pixel (x, y) samples input at A @ (x - c) + c + t
    cos, sin = np.cos(ang) / s, np.sin(ang) / s
    a = np.array([[cos, -sin + sh], [sin, cos]], np.float32)
    cx, cy = (w - 1) / 2, (h - 1) / 2
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    dx, dy = xs - cx, ys - cy
    map_x = a[0, 0] * dx + a[0, 1] * dy + cx - tx
    map_y = a[1, 0] * dx + a[1, 1] * dy + cy - ty
    if rng.random() < cfg.p_elastic and cfg.elastic_alpha > 0:
        gh, gw = cfg.elastic_grid
        field = rng.normal(0, 1, (2, gh, gw)).astype(np.float32) * cfg.elastic_alpha
        map_x += cv2.resize(field[0], (w, h), interpolation=cv2.INTER_CUBIC)
        map_y += cv2.resize(field[1], (w, h), interpolation=cv2.INTER_CUBIC)
    out = cv2.remap(img, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    if rng.random() < cfg.p_morph:
        k = np.ones((2, 2), np.uint8)
        out = cv2.dilate(out, k) if rng.random() < 0.6 else cv2.erode(out, k)  # erosion can erase 1-px strokes
    lo, hi = cfg.ink_gain
    if hi > lo:
        out = np.clip(out.astype(np.float32) * rng.uniform(lo, hi), 0, 255).astype(np.uint8)
    if cfg.p_cut > 0 and rng.random() < cfg.p_cut:
        out = cut_end(out, rng, cfg.cut)
    if cfg.p_clutter > 0 and rng.random() < cfg.p_clutter:
        out = clutter(out, rng)
    if cfg.p_stamp > 0 and rng.random() < cfg.p_stamp:
        out = stamp_beside(out, rng)
    return out


def _refit(img: np.ndarray, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Crop ``img`` to its ink and scale it to fit ``shape`` (default: ``img``'s), centred (as the cleaner fits)."""
    h, w = shape or img.shape
    ys, xs = np.nonzero(img)
    if len(xs) == 0:
        return img
    ink = img[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    f = min(h / ink.shape[0], w / ink.shape[1])
    nh, nw = max(1, min(h, round(ink.shape[0] * f))), max(1, min(w, round(ink.shape[1] * f)))
    small = cv2.resize(ink, (nw, nh), interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR)
    out = np.zeros((h, w), img.dtype)
    y, x = (h - nh) // 2, (w - nw) // 2
    out[y : y + nh, x : x + nw] = small
    return out


def cut_end(img: np.ndarray, rng: np.random.Generator, share: tuple[float, float] = (0.1, 0.35)) -> np.ndarray:
    """Cut ``share`` of the ink's width off the left or right end (the right, where flourishes are, twice as
    often) and re-fit what is left."""
    xs = np.nonzero(img.any(axis=0))[0]
    if len(xs) < 8:
        return img
    a, b = int(xs[0]), int(xs[-1]) + 1
    n = int(round((b - a) * rng.uniform(*share)))
    out = img.copy()
    if rng.random() < 2 / 3:
        out[:, b - n :] = 0
    else:
        out[:, : a + n] = 0
    return _refit(out) if out.any() else img


_STAMP_CHARS = "ABCDEFGHIJKLMNOPRSTUVWXYZ0123456789   "


def clutter(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Draw one to three document marks over ``img (h, w)`` (ink high): a stamp's ring arcs, a stamp's box edges,
    a line of stamp or printed capitals, a rule fragment. Marks are at 0.5-1.1 times the pen's ink level and
    blotchy like rubber-stamp ink; where they cross the pen the darker wins, as on paper."""
    h, w = img.shape
    ink = img[img > 0]
    level = float(np.percentile(ink, 75)) if ink.size else 160.0
    layer = np.zeros((h, w), np.uint8)
    for _ in range(int(rng.integers(1, 4))):
        kind = rng.choice(4, p=[0.35, 0.2, 0.3, 0.15])
        t = int(rng.integers(1, 4))
        if kind == 0:  # ring arcs: a circle through a point of the crop
            r = rng.uniform(0.4, 1.4) * h
            px, py, ang = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0, 2 * np.pi)
            c = (int(px + r * np.cos(ang)), int(py + r * np.sin(ang)))
            cv2.circle(layer, c, int(r), 255, t, cv2.LINE_AA)
            if rng.random() < 0.5:
                cv2.circle(layer, c, int(r * rng.uniform(0.75, 0.9)), 255, max(1, t - 1), cv2.LINE_AA)
        elif kind == 1:  # a stamp box's corner: two edges
            x, y = int(rng.uniform(0, w)), int(rng.uniform(0, h))
            x2 = int(x + rng.choice([-1, 1]) * rng.uniform(0.3, 1.0) * w)
            y2 = int(y + rng.choice([-1, 1]) * rng.uniform(0.3, 1.0) * h)
            cv2.line(layer, (x, y), (x2, y), 255, t, cv2.LINE_AA)
            cv2.line(layer, (x, y), (x, y2), 255, t, cv2.LINE_AA)
        elif kind == 2:  # capitals: a stamp's words, a date, a printed label
            text = "".join(rng.choice(list(_STAMP_CHARS), int(rng.integers(2, 9))))
            scale = rng.uniform(0.35, 0.9)
            cv2.putText(layer, text, (int(rng.uniform(-0.2, 0.8) * w), int(rng.uniform(0.15, 1.0) * h)),
                        cv2.FONT_HERSHEY_SIMPLEX if rng.random() < 0.5 else cv2.FONT_HERSHEY_DUPLEX, scale, 255,
                        max(1, t - 1), cv2.LINE_AA)
        else:  # a rule fragment the rule eraser left: short, near the bottom
            y = int(rng.uniform(0.6, 1.0) * h)
            x = int(rng.uniform(-0.3, 0.7) * w)
            cv2.line(layer, (x, y), (x + int(rng.uniform(0.2, 0.6) * w), y), 255, t, cv2.LINE_AA)
    blotch = cv2.resize(rng.random((h // 6 + 1, w // 6 + 1)).astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    layer = layer.astype(np.float32) * (blotch > rng.uniform(0.05, 0.3)) / 255.0
    mark = np.clip(layer * level * rng.uniform(0.5, 1.1), 0, 255)
    return np.maximum(img, mark.astype(np.uint8))


def _stamp_layer(size: int, rng: np.random.Generator) -> np.ndarray:
    """A rubber stamp ``(size, size) float32`` coverage in [0, 1]: a ring (one or two circles) or a box frame
    around one or two lines of capitals, rotated up to 35 degrees, blotchy."""
    s = size
    patch = np.zeros((s, s), np.uint8)
    lw = max(1, s // int(rng.integers(30, 60)))
    if rng.random() < 0.5:
        cv2.circle(patch, (s // 2, s // 2), s // 2 - lw, 255, lw, cv2.LINE_AA)
        if rng.random() < 0.6:
            cv2.circle(patch, (s // 2, s // 2), int(s * rng.uniform(0.33, 0.42)), 255, max(1, lw // 2), cv2.LINE_AA)
        text_w, hh = 0.6, s
    else:
        hh = int(s * rng.uniform(0.4, 0.75))
        y0 = (s - hh) // 2
        cv2.rectangle(patch, (lw, y0), (s - lw, y0 + hh), 255, lw, cv2.LINE_AA)
        text_w = 0.8
    lines = ["".join(rng.choice(list(_STAMP_CHARS.strip()), int(rng.integers(3, 10))))
             for _ in range(int(rng.integers(1, 3)))]
    font = cv2.FONT_HERSHEY_DUPLEX if rng.random() < 0.6 else cv2.FONT_HERSHEY_SIMPLEX
    for i, t in enumerate(lines):
        tw, th = cv2.getTextSize(t, font, 1.0, lw)[0]
        fs = min(text_w * s / tw, 0.35 * hh / max(th, 1) / len(lines))
        tw, th = cv2.getTextSize(t, font, fs, lw)[0]
        yy = s // 2 + int((i - (len(lines) - 1) / 2) * th * 1.8) + th // 2
        cv2.putText(patch, t, ((s - tw) // 2, yy), font, fs, 255, max(1, lw - i), cv2.LINE_AA)
    m = cv2.getRotationMatrix2D((s / 2, s / 2), float(rng.uniform(-35, 35)), 1.0)
    patch = cv2.warpAffine(patch, m, (s, s))
    blotch = cv2.resize(rng.uniform(0.3, 1.0, (8, 8)).astype(np.float32), (s, s), interpolation=cv2.INTER_CUBIC)
    return np.clip(patch.astype(np.float32) / 255 * blotch, 0, 1)


def stamp_beside(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A crop of ``img (h, w)`` (ink high) as a document gives it when a rubber stamp sits beside or over the
    signature: the stamp (one to two times the signature's height, usually right of it, overlapping it or not)
    is drawn at 0.5-1.1 times the pen's ink level, then a box around the signature, taking in part or all of the
    stamp (sometimes cutting the signature's ends), is cropped to its ink and re-fitted. Unlike :func:`clutter`,
    which draws over the fitted signature, the signature here shrinks and moves within the crop, as when the
    cleaner crops to the ink of a signature and a stamp together."""
    h, w = img.shape
    ys, xs = np.nonzero(img)
    if len(xs) < 8:
        return img
    bx0, by0, bx1, by1 = int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1
    bw, bh = bx1 - bx0, by1 - by0
    s = max(8, int(rng.uniform(0.9, 2.0) * bh + rng.uniform(0.0, 0.4) * bw))
    pad = s + max(bw, bh)
    big = np.zeros((h + 2 * pad, w + 2 * pad), np.float32)
    big[pad : pad + h, pad : pad + w] = img
    side = 1 if rng.random() < 2 / 3 else -1
    cx = (bx1 if side > 0 else bx0) + side * rng.uniform(-0.6, 0.3) * s + pad
    cy = (by0 + by1) / 2 + rng.uniform(-0.4, 0.4) * s + pad
    x0, y0 = int(round(cx - s / 2)), int(round(cy - s / 2))
    ink = img[img > 0]
    level = float(np.percentile(ink, 75)) * rng.uniform(0.5, 1.1)
    region = big[y0 : y0 + s, x0 : x0 + s]
    np.maximum(region, _stamp_layer(s, rng) * level, out=region)
    # the crop: the signature's box, each side moved by up to a quarter of its size, sometimes out to the stamp
    sx0, sy0, sx1, sy1 = bx0 + pad, by0 + pad, bx1 + pad, by1 + pad
    jit = rng.uniform(-0.1, 0.25, 4) * np.array([bw, bh, bw, bh])
    cx0, cy0, cx1, cy1 = sx0 - jit[0], sy0 - jit[1], sx1 + jit[2], sy1 + jit[3]
    if rng.random() < 0.5:
        cx0, cy0, cx1, cy1 = min(cx0, x0), min(cy0, y0), max(cx1, x0 + s), max(cy1, y0 + s)
    c = np.clip(big[max(0, int(cy0)) : int(np.ceil(cy1)), max(0, int(cx0)) : int(np.ceil(cx1))], 0, 255)
    c = c.astype(np.uint8)
    return _refit(c, (h, w)) if c.any() else img


def redraw_pen(grey: np.ndarray, factor: float) -> np.ndarray:
    """A scan ``(h, w) uint8`` (ink dark, paper light) as if written with a pen ``factor`` times as dark: its ink
    contrast scaled about white, ``255 - factor * (255 - grey)``, clipped. Applied before cleaning, so that the
    cleaner's Otsu threshold then keeps what it would keep of such a pen: thinner strokes for a faint one, fused
    strokes for a saturated one (what ``ink_gain`` on a cleaned crop does not imitate)."""
    return np.clip(255.0 - factor * (255.0 - grey.astype(np.float32)), 0, 255).astype(np.uint8)


def augment_batch(imgs: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig = AugmentConfig()) -> np.ndarray:  # noqa: B008
    """Augment each of ``imgs (B, h, w) uint8`` independently -> ``(B, h, w) uint8``."""
    if not cfg.enabled:
        return imgs
    return np.stack([augment(im, rng, cfg) for im in imgs])
