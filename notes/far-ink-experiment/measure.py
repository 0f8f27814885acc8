"""How often would dropping small ink groups far from the signature's bulk touch a clean CEDAR scan?

For each scan: clean()'s first pass (shrink, median, Otsu, specks removed), then the ink grouped where
components' boxes come within ``gap`` x the ink box's height; groups holding under ``share`` of the ink are
what the rule would drop.
Prints, per (gap, share), the share of scans touched and the ink they would lose (worst, mean of the touched).

    git apply notes/far-ink-experiment/far-ink.patch   # sigpipe.clean._drop_far_ink, clean(far_gap=, far_share=)
    .venv/bin/python notes/far-ink-experiment/measure.py [--limit N]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from sigpipe.clean import (  # noqa: E402 - after `git apply notes/far-ink-experiment/far-ink.patch`
    _denoise,
    _drop_far_ink,
    _ink_components,
    _int_factor,
    _shrink_int,
    load_image,
    otsu_threshold,
    to_grey,
)

CEDAR = ROOT.parent / "shared" / "data" / "cedar"


def groups_dropped(keep: np.ndarray, box: tuple[int, int, int, int], gap: float, share: float) -> float:
    """Share of the ink :func:`sigpipe.clean._drop_far_ink` removes."""
    kept, _ = _drop_far_ink(keep, box, gap, share)
    return 1.0 - cv2.countNonZero(kept) / cv2.countNonZero(keep)


def first_pass(path: Path, size=(150, 220), oversample=2.0, median=3, speck_frac=0.002):
    grey = to_grey(load_image(path))
    H, W = grey.shape  # noqa: N806
    k = _int_factor(oversample * max(size[0] / H, size[1] / W))
    work = _denoise(_shrink_int(grey, k), median)
    t, _ = otsu_threshold(work)
    return _ink_components(work, t, speck_frac)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=0)
    a = ap.parse_args()
    files = sorted((CEDAR / "full_org").glob("*.png")) + sorted((CEDAR / "full_forg").glob("*.png"))
    files = files or sorted((CEDAR / "full_org").iterdir()) + sorted((CEDAR / "full_forg").iterdir())
    if a.limit:
        files = files[:: max(1, len(files) // a.limit)]
    settings = [(g, s) for g in (0.1, 0.2, 0.3) for s in (0.02, 0.05, 0.1)]
    lost = {st: [] for st in settings}
    for f in files:
        keep, box = first_pass(f)
        if box is None:
            continue
        for st in settings:
            lost[st].append(groups_dropped(keep, box, *st))
    print(f"{len(files)} scans")
    print("| gap x height | share | scans touched | ink lost: worst | mean of touched |")
    print("|---|---|---|---|---|")
    for (g, s), v in lost.items():
        v = np.array(v)
        t = v[v > 0]
        print(f"| {g} | {s} | {len(t)}/{len(v)} ({len(t) / len(v):.1%}) | {v.max():.3f} | "
              f"{(t.mean() if len(t) else 0):.3f} |")


if __name__ == "__main__":
    main()
