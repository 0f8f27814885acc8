"""Which parts of a questioned signature move the verifier's score: occlusion over the cleaned crop.

The pixel agreement map of :mod:`sigpipe.evidence` shows where two crops' ink coincides after alignment; it says
nothing about what the network weighed. This asks the network: each window of the cleaned query that holds ink is
erased (set to background) and the crop embedded again; the change in the score against the claimed signer's
references is that window's weight. A window whose erasure raises the score pulls the query away from the signer
(a stamp over the name, a stroke the writer does not make); one whose erasure lowers it is part of what matches.
No training and any embedder: the map costs one embedding per window with ink.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["Occlusion", "occlusion", "windows"]


@dataclass(frozen=True)
class Occlusion:
    delta: np.ndarray  # (h, w) float32: mean score change over the evaluated windows covering each pixel (0: none)
    base: float  # the score of the crop as it is
    windows: np.ndarray  # (M, 4) int: x0, y0, x1, y1 of each evaluated window (those holding ink)
    scores: np.ndarray  # (M,) float32: the score with that window erased

    @property
    def top(self) -> int | None:
        """Index of the window whose erasure raises the score most (None: no window held ink)."""
        return int(np.argmax(self.scores)) if len(self.scores) else None

    @property
    def top_gain(self) -> float:
        """How much erasing the top window raises the score (<= 0 when no window lowers it)."""
        return float(self.scores.max() - self.base) if len(self.scores) else 0.0


def windows(size: tuple[int, int], grid: tuple[int, int] = (3, 4), overlap: int = 1) -> np.ndarray:
    """Windows over an ``(h, w)`` crop: ``grid`` (rows, columns) windows' size, stepped by 1/``overlap`` of it
    -> ``(M, 4)`` int ``x0, y0, x1, y1`` covering every pixel."""
    h, w = size
    wh, ww = max(1, -(-h // grid[0])), max(1, -(-w // grid[1]))
    sh, sw = max(1, wh // overlap), max(1, ww // overlap)
    ys = sorted({*range(0, h - wh + 1, sh), h - wh})
    xs = sorted({*range(0, w - ww + 1, sw), w - ww})
    return np.array([(x, y, min(w, x + ww), min(h, y + wh)) for y in ys for x in xs], np.int64)


def occlusion(crop: np.ndarray, embed: Callable[[np.ndarray], np.ndarray], score: Callable[[np.ndarray], np.ndarray],
              grid: tuple[int, int] = (3, 4), overlap: int = 1) -> Occlusion:
    """``crop (h, w) uint8`` cleaned (ink high, background 0); ``embed``: ``(N, h, w) uint8 -> (N, D)``;
    ``score``: ``(N, D) -> (N,)`` (the audit's score against the claimed signer) -> the score with each ink-holding
    window (:func:`windows`) erased, and per pixel the mean change of the windows covering it."""
    crop = np.asarray(crop)
    if crop.ndim != 2 or crop.dtype != np.uint8:
        raise ValueError(f"expected a cleaned crop (h, w) uint8, got {crop.shape} {crop.dtype}")
    boxes = windows(crop.shape, grid, overlap)
    boxes = boxes[[bool(crop[y0:y1, x0:x1].any()) for x0, y0, x1, y1 in boxes]]  # erasing nothing changes nothing
    batch = np.repeat(crop[None], len(boxes) + 1, axis=0)  # (1 + M, h, w): the crop, then each erasure
    for i, (x0, y0, x1, y1) in enumerate(boxes, start=1):
        batch[i, y0:y1, x0:x1] = 0
    s = np.asarray(score(embed(batch)), np.float32)
    base, scores = float(s[0]), s[1:]
    total = np.zeros(crop.shape, np.float32)
    count = np.zeros(crop.shape, np.float32)
    for (x0, y0, x1, y1), v in zip(boxes, scores, strict=True):
        total[y0:y1, x0:x1] += v - base
        count[y0:y1, x0:x1] += 1
    delta = np.divide(total, count, out=np.zeros_like(total), where=count > 0)
    return Occlusion(delta=delta, base=base, windows=boxes, scores=scores)
