"""The remover behind an image-level guard: it acts only when the pixels it would erase are at least a share G of
the crop's dark pixels (Otsu), so a crop it sees no stamp in (or a few strokes it doubts) is left as it is.

    .venv/bin/python notes/destamp-experiment/guard.py W.pt [THR]

Per check set, for a few G: share of crops it acts on, stamp pixels removed (where the pair's truth knows them),
pen pixels lost. Sets: held-out document crops (sigpipe.synth.real, seed 5009) with and without their stamps;
crossmedia writers 81-100 (data_cm.py, pens never trained on) with and without stamps; crossmedia control (11
writers, no stamps); CEDAR 36-45 genuine scans at 300 and 200 dpi (no stamps).
"""

import glob
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from net import ROOT, SHARED, grey, load, target  # noqa: E402

GS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3)


@torch.no_grad()
def prob(net, img):
    g = grey(img)
    h, w = g.shape
    H, W = -(-h // 8) * 8, -(-w // 8) * 8
    p = cv2.copyMakeBorder(g, 0, H - h, 0, W - w, cv2.BORDER_REPLICATE)
    return torch.sigmoid(net(torch.from_numpy(p).float()[None, None] / 255.0))[0, 0, :h, :w].numpy()


def stats(net, img, thr, truth=None):
    """(share of dark pixels the mask covers, pen pixels lost if it acts, stamp pixels removed if it acts)"""
    g = grey(img)
    m = prob(net, g) > thr
    t, _ = cv2.threshold(g, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    dark = g <= t
    share = float((m & dark).sum() / max(1, dark.sum()))
    if truth is None:
        pen = dark
        rec = np.nan
    else:
        pen = (truth <= cv2.threshold(truth, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)[0])
        st = target(g, truth) > 0
        rec = float(m[st].mean()) if st.sum() > 50 else np.nan
    return share, float(m[pen].mean()) if pen.any() else 0.0, rec


def report(name, rows):
    rows = np.array(rows, dtype=float)
    parts = []
    for G in GS:
        act = rows[:, 0] >= G
        lost = np.where(act, rows[:, 1], 0.0)
        rec = np.where(act, rows[:, 2], 0.0)[~np.isnan(rows[:, 2])]
        parts.append(f"G {G}: acts {act.mean():.2f}, pen lost {lost.mean():.4f}" +
                     (f", stamp removed {rec.mean():.2f}" if len(rec) else ""))
    print(f"{name} ({len(rows)}):\n  " + "\n  ".join(parts), flush=True)


def main():
    net = load(sys.argv[1])
    thr = float(sys.argv[2]) if len(sys.argv) > 2 else 0.8
    for label, path in (("documents seed 5009", ROOT / ".state/destamp/H5009/pairs.npz"),
                        ("crossmedia 81-100", ROOT / ".state/destamp/Cheld.npz")):
        d = np.load(path, allow_pickle=True)
        pairs = list(zip(d["x"], d["y"], strict=True))
        st = [p for p in pairs if (np.abs(p[0].astype(int) - p[1].astype(int)) > 12).mean() > 0.002]
        report(f"{label}, stamped", [stats(net, x, thr, y) for x, y in st])
        report(f"{label}, without stamp", [stats(net, y, thr) for _, y in pairs])
    cm = sorted(glob.glob(f"{SHARED}/crossmedia/control/*/*.*"))
    report("crossmedia control", [stats(net, cv2.imread(f, cv2.IMREAD_GRAYSCALE), thr) for f in cm])
    ced = sorted(f for w in range(36, 46) for f in glob.glob(f"{SHARED}/cedar/full_org/original_{w}_*.*"))[::3]
    imgs = [cv2.imread(f, cv2.IMREAD_GRAYSCALE) for f in ced]
    report("CEDAR 36-45, 300 dpi", [stats(net, g, thr) for g in imgs])
    report("CEDAR 36-45, 200 dpi", [stats(net, cv2.resize(g, None, fx=2 / 3, fy=2 / 3,
                                                          interpolation=cv2.INTER_AREA), thr) for g in imgs])


if __name__ == "__main__":
    main()
