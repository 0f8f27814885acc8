"""Cross-generator check: CEDAR 36-45 genuine scans at 200 dpi with sigpipe.verifier.augment's stamp (another
generator than sigpipe.synth.documents'), multiplied on top. Reports stamp-only pixels removed and pen pixels lost."""

import glob
import sys
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent  # notes/destamp-experiment: net.py, and ROOT, SHARED
sys.path.insert(0, str(HERE))
from net import ROOT, SHARED, destamp, load  # noqa: E402

sys.path.insert(0, str(ROOT))

from sigpipe.verifier.augment import _stamp_layer  # noqa: E402

net = load(sys.argv[1])
thr = float(sys.argv[2]) if len(sys.argv) > 2 else 0.5
rng = np.random.default_rng(0)
files = sorted(f for w in range(36, 46) for f in glob.glob(f"{SHARED}/cedar/full_org/original_{w}_*.*"))[::4]
rec, lost, lost0 = [], [], []
for f in files:
    g = cv2.imread(f, cv2.IMREAD_GRAYSCALE)
    g = cv2.resize(g, None, fx=2 / 3, fy=2 / 3, interpolation=cv2.INTER_AREA).astype(np.float32)
    paper = np.median(g)
    g = np.clip(g * (rng.uniform(228, 250) / paper), 0, 255)
    h, w = g.shape
    t, _ = cv2.threshold(g.astype(np.uint8), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    pen = g < t
    s = int(min(h, w) * rng.uniform(0.8, 1.4))
    a = _stamp_layer(s, rng)
    x0, y0 = int(rng.integers(-s // 3, max(1, w - 2 * s // 3))), int(rng.integers(-s // 3, max(1, h - 2 * s // 3)))
    img = g.copy()
    X0, Y0, X1, Y1 = max(0, x0), max(0, y0), min(w, x0 + s), min(h, y0 + s)
    dark = rng.uniform(0.35, 0.7)
    img[Y0:Y1, X0:X1] *= 1 - dark * a[Y0 - y0 : Y1 - y0, X0 - x0 : X1 - x0]
    img = np.clip(img + rng.normal(0, 3, img.shape), 0, 255).astype(np.uint8)
    stamp_only = ((g - img) > 10) & ~pen
    out = destamp(net, img, thr)
    removed = out != img
    rec.append(removed[stamp_only].mean() if stamp_only.any() else np.nan)
    lost.append(removed[pen].mean())
    lost0.append(
        (destamp(net, np.clip(g, 0, 255).astype(np.uint8), thr) != np.clip(g, 0, 255).astype(np.uint8))[pen].mean()
    )
print(
    f"{len(files)} scans: stamp-only pixels removed {np.nanmean(rec):.3f}"
    f"; pen pixels lost with a stamp {np.mean(lost):.4f}, without {np.mean(lost0):.4f}"
)
