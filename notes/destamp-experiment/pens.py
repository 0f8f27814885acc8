"""Pen preservation on signatures without stamps: share of ink pixels the destamper erases."""

import glob
import sys
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent  # notes/destamp-experiment: net.py, and ROOT, SHARED
sys.path.insert(0, str(HERE))
from net import SHARED, destamp, load  # noqa: E402

net = load(sys.argv[1])
sets = {
    "crossmedia control": sorted(glob.glob(f"{SHARED}/crossmedia/control/**/*.*", recursive=True))[::6],
    "CEDAR 36-45 scans (300 dpi)": sorted(
        f for w in range(36, 46) for f in glob.glob(f"{SHARED}/cedar/full_org/original_{w}_*.*")
    )[::6],
    "CEDAR 36-45 at 200 dpi": None,
}
for name, fs in sets.items():
    if fs is None:
        fs = sets["CEDAR 36-45 scans (300 dpi)"]
    lost, anyc = [], []
    for f in fs:
        g = cv2.imread(f, cv2.IMREAD_GRAYSCALE)
        if g is None:
            continue
        if name.endswith("200 dpi"):
            g = cv2.resize(g, None, fx=2 / 3, fy=2 / 3, interpolation=cv2.INTER_AREA)
        t, _ = cv2.threshold(g, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        pen = g <= t
        o = destamp(net, g, float(sys.argv[2]) if len(sys.argv) > 2 else 0.8)
        lost.append((o != g)[pen].mean())
        anyc.append((o != g)[pen].mean() > 0.01)
    print(
        f"{name}: {len(lost)} images, ink erased mean {np.mean(lost):.4f}"
        f", p90 {np.percentile(lost, 90):.4f}, max {np.max(lost):.4f}, over 1% of ink: {np.mean(anyc):.2%}"
    )
