import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent  # notes/destamp-experiment: net.py, and ROOT, SHARED
sys.path.insert(0, str(HERE))
from net import destamp, load, target  # noqa: E402

net = load(sys.argv[1])
d = np.load(sys.argv[2], allow_pickle=True)
for thr in (0.5, 0.8, 0.95):
    sx, sy, lost_x, lost_y, rec = [], [], [], [], []
    for x, y in zip(d["x"], d["y"], strict=False):
        m = target(x, y)
        ox, oy = destamp(net, x, thr), destamp(net, y, thr)
        sx.append((ox != x).mean())
        sy.append((oy != y).mean())
        import cv2

        t, _ = cv2.threshold(y, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        pen = y <= t
        lost_y.append((oy != y)[pen].mean())
        lost_x.append((ox != x)[pen].mean())
        if m.sum() > 50:
            rec.append((ox != x)[m > 0].mean())
    print(
        f"thr {thr}: erased share stamped {np.median(sx):.4f} (mean {np.mean(sx):.4f})"
        f", unstamped {np.median(sy):.4f} (p90 {np.percentile(sy, 90):.4f}, max {np.max(sy):.4f})"
        f"; pen lost unstamped {np.mean(lost_y):.4f} stamped {np.mean(lost_x):.4f}; stamp recall {np.mean(rec):.3f}"
    )
