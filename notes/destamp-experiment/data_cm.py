"""Pairs of (crop, the same crop without its stamp) from crossmedia's genuine crops (pens, tablets and phones the
documents never show): writers WRITERS of crossmedia/experiment, each crop on a paper tint, scaled to a document
crop's height, and with probability P_STAMP a rubber stamp of sigpipe.verifier.augment (another generator than
the documents') multiplied on top; crops without a stamp teach the remover to leave every pen alone.

    .venv/bin/python notes/destamp-experiment/data_cm.py FIRST-LAST STEP OUT.npz [P_STAMP]
"""

import glob
import sys
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
ROOT, SHARED = HERE.parents[1], HERE.parents[2] / "shared" / "data"
sys.path.insert(0, str(ROOT))
from sigpipe.verifier.augment import _stamp_layer  # noqa: E402

lo, hi = map(int, sys.argv[1].split("-"))
step, out = int(sys.argv[2]), Path(sys.argv[3])
p_stamp = float(sys.argv[4]) if len(sys.argv) > 4 else 0.6
rng = np.random.default_rng(lo * 1000 + hi)
files = [f for w in range(lo, hi + 1) for f in sorted(glob.glob(f"{SHARED}/crossmedia/experiment/{w}/*.jpg"))[::step]]
X, Y = [], []
for f in files:
    g = cv2.imread(f, cv2.IMREAD_GRAYSCALE).astype(np.float32)
    hgt = rng.uniform(60, 160)  # a signature's height in a 200-dpi document crop
    s = hgt / g.shape[0]
    g = cv2.resize(g, None, fx=s, fy=s, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    m = rng.uniform(0.05, 0.35, 4)  # the detector's margin around the ink
    h, w = g.shape
    g = cv2.copyMakeBorder(g, int(m[0] * h), int(m[1] * h), int(m[2] * w), int(m[3] * w), cv2.BORDER_CONSTANT,
                           value=255)
    paper = rng.uniform(225, 252)
    g = g * (paper / 255.0)
    ink_level = rng.uniform(0.6, 1.0)  # lighter pens
    g = paper - (paper - g) * ink_level
    h, w = g.shape
    img = g.copy()
    if rng.random() < p_stamp:
        sz = int(max(h, w) * rng.uniform(0.5, 1.2))
        a = _stamp_layer(sz, rng)
        x0 = int(rng.integers(-sz // 3, max(1, w - 2 * sz // 3)))
        y0 = int(rng.integers(-sz // 3, max(1, h - 2 * sz // 3)))
        X0, Y0, X1, Y1 = max(0, x0), max(0, y0), min(w, x0 + sz), min(h, y0 + sz)
        if X1 > X0 and Y1 > Y0:
            img[Y0:Y1, X0:X1] *= 1 - rng.uniform(0.35, 0.7) * a[Y0 - y0 : Y1 - y0, X0 - x0 : X1 - x0]
    noise = rng.normal(0, rng.uniform(1, 4), img.shape)
    X.append(np.clip(img + noise, 0, 255).astype(np.uint8))
    Y.append(np.clip(g + noise, 0, 255).astype(np.uint8))
np.savez_compressed(out, x=np.array(X, dtype=object), y=np.array(Y, dtype=object), allow_pickle=True)
touched = np.mean([float((np.abs(a.astype(int) - b.astype(int)) > 12).mean() > 0.002)
                   for a, b in zip(X, Y, strict=True)])
print(len(X), "pairs; share with a stamp:", round(float(touched), 3))
