"""Training augmentation on cleaned crops ``(h, w) uint8`` (ink high, background exactly 0).

A small affine (rotation, scale, shear, shift) and an elastic displacement are combined into one
``cv2.remap``; then stroke width changes (grey erode/dilate) and ink-intensity scaling, because scanners
and pens differ in exactly those. The background stays 0 (border value 0, morphology keeps 0 at 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["AugmentConfig", "augment", "augment_batch"]


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
    return out


def augment_batch(imgs: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig = AugmentConfig()) -> np.ndarray:  # noqa: B008
    """Augment each of ``imgs (B, h, w) uint8`` independently -> ``(B, h, w) uint8``."""
    if not cfg.enabled:
        return imgs
    return np.stack([augment(im, rng, cfg) for im in imgs])
