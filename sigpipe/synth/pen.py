"""Pen primitives: spline trajectories and anti-aliased variable-width stroke rendering.

Everything here works in pixel units of the output image and is deterministic (no global RNG): callers
pass a ``numpy.random.Generator`` where randomness is needed.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["catmull_rom", "smooth_noise", "arc_length", "render_strokes", "SUPERSAMPLE"]

# Strokes are rasterised at 3x and area-averaged down: 9 coverage levels per pixel is enough anti-aliasing
# for ink and keeps the cost to a few ms per signature (a cv2.polylines call per run of equal width).
SUPERSAMPLE = 3


def catmull_rom(points: np.ndarray, step: float = 1.0, alpha: float = 0.5) -> np.ndarray:
    """Centripetal Catmull-Rom spline through ``points`` (K, 2), sampled about every ``step`` units.

    Centripetal parameterisation (alpha=0.5) never forms cusps or self-intersections inside a segment, so
    loops appear only where the keypoints ask for them. Returns (N, 2) float64 with N >= 2; the first and
    last keypoints are passed through exactly.
    """
    pts = np.asarray(points, dtype=np.float64)
    if len(pts) == 1:
        return np.repeat(pts, 2, axis=0)
    # Phantom end points: reflect the neighbours so the curve starts and ends along its first/last chord.
    p = np.vstack([2 * pts[0] - pts[1], pts, 2 * pts[-1] - pts[-2]])
    d = np.linalg.norm(np.diff(p, axis=0), axis=1)
    knots = np.concatenate([[0.0], np.cumsum(np.maximum(d, 1e-6) ** alpha)])
    chord = d[1:-1]  # (K-1,) lengths of the real segments
    n = np.maximum(2, np.ceil(chord / step).astype(int))
    seg = np.repeat(np.arange(len(chord)), n)  # segment index of every sample
    first = np.repeat(np.cumsum(n) - n, n)
    u = (np.arange(len(seg)) - first) / n[seg]  # (N,) in [0, 1) within each segment
    t0, t1, t2, t3 = (knots[seg + i][:, None] for i in range(4))
    p0, p1, p2, p3 = (p[seg + i] for i in range(4))
    t = t1 + u[:, None] * (t2 - t1)
    a1 = (t1 - t) / (t1 - t0) * p0 + (t - t0) / (t1 - t0) * p1
    a2 = (t2 - t) / (t2 - t1) * p1 + (t - t1) / (t2 - t1) * p2
    a3 = (t3 - t) / (t3 - t2) * p2 + (t - t2) / (t3 - t2) * p3
    b1 = (t2 - t) / (t2 - t0) * a1 + (t - t0) / (t2 - t0) * a2
    b2 = (t3 - t) / (t3 - t1) * a2 + (t - t1) / (t3 - t1) * a3
    c = (t2 - t) / (t2 - t1) * b1 + (t - t1) / (t2 - t1) * b2
    return np.vstack([c, pts[-1:]])


def arc_length(path: np.ndarray) -> np.ndarray:
    """Cumulative arc length (N,) float64 of a path (N, 2), starting at 0."""
    return np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(path, axis=0), axis=1))])


def smooth_noise(rng: np.random.Generator, s: np.ndarray, wavelength: float) -> np.ndarray:
    """Zero-mean, unit-ish amplitude noise (N,) along positions ``s`` (N,), varying over ``wavelength`` units.

    Random values on a grid every wavelength/2, interpolated with a cubic (smoothstep) blend so the result
    has no kinks; used for pressure changes, ink density and (short wavelengths) forger tremor.
    """
    span = float(s[-1] - s[0]) if len(s) else 0.0
    k = int(span / (wavelength / 2)) + 3
    knots = rng.standard_normal(k)
    x = (s - s[0]) / (wavelength / 2)
    i = np.clip(np.floor(x).astype(int), 0, k - 2)
    f = x - i
    f = f * f * (3 - 2 * f)
    return knots[i] * (1 - f) + knots[i + 1] * f


def render_strokes(paths: list[np.ndarray], widths: list[np.ndarray], pad: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Rasterise pen strokes to an ink-coverage image.

    ``paths``: list of (N_i, 2) float arrays, x right / y down, in output pixels. ``widths``: matching (N_i,)
    pen widths in pixels. Returns ``(alpha, origin)``: alpha (h, w) float32 in [0, 1] with the ink, and origin
    (2,) float64, the pixel position of alpha[0, 0] in the paths' coordinates (paths are shifted to fit).
    """
    s = SUPERSAMPLE
    allp = np.vstack(paths)
    wmax = max(float(w.max()) for w in widths)
    lo = np.floor(allp.min(axis=0) - wmax / 2 - pad)
    hi = np.ceil(allp.max(axis=0) + wmax / 2 + pad)
    w_px, h_px = (hi - lo).astype(int) + 1
    canvas = np.zeros((h_px * s, w_px * s), dtype=np.uint8)
    for path, width in zip(paths, widths, strict=True):
        # Pixel centres sit at +0.5 in the supersampled grid; integer coordinates after the 4x scale.
        q = np.round((path - lo) * s + (s - 1) / 2).astype(np.int32)
        # Widths quantised in ~10 % steps (at least one sub-pixel): long runs of equal width, so few calls.
        th = np.maximum(1, np.round(np.exp(np.round(np.log(np.maximum(width * s, 1)) / 0.1) * 0.1)))
        th = th.astype(np.int32)
        if len(q) == 1 or np.all(q == q[0]):
            cv2.circle(canvas, (int(q[0, 0]), int(q[0, 1])), max(1, int(th[0]) // 2), 255, -1, cv2.LINE_8)
            continue
        # One polyline per run of equal quantised width; runs share their boundary point so they connect.
        cuts = np.flatnonzero(np.diff(th)) + 1
        starts = np.concatenate([[0], cuts])
        ends = np.concatenate([cuts, [len(q) - 1]])
        for a, b in zip(starts, ends, strict=True):
            seg = q[a : b + 1]
            cv2.polylines(canvas, [seg.reshape(-1, 1, 2)], False, 255, thickness=int(th[a]), lineType=cv2.LINE_8)
    alpha = cv2.resize(canvas, (w_px, h_px), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    return alpha, lo
