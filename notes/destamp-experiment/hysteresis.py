"""The remover's mask with hysteresis (card ``destamp.low``, ``destamp.reach``) on held-out crops, through the product's
:class:`sigpipe.destamp.StampRemover` (guard included), against the same remover without it.

    .venv/bin/python notes/destamp-experiment/hysteresis.py VERIFIER [VERIFIER ...]

Per verifier folder and check set: share of crops it acts on, stamp pixels removed (where the pair's truth knows
them), pen pixels lost (mean over the set; the worst crop too). Sets as guard.py: held-out document crops
(sigpipe.synth.real seed 5009: ``data.py 5009 80 .state/destamp/H5009``) with and without their stamps, crossmedia
writers 81-100 (``data_cm.py 81-100 4 .state/destamp/Cheld.npz``) with and without, the crossmedia control, CEDAR
36-45 scans at 200 dpi.
"""

import glob
import sys
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from net import ROOT, SHARED, grey, target  # noqa: E402

sys.path.insert(0, str(ROOT))
from sigpipe.destamp import StampRemover  # noqa: E402
from sigpipe.weights import load_card  # noqa: E402


def stats(rm, img, truth=None):
    g = grey(img)
    out, acted = rm(g, 200)
    m = out != g
    if truth is None:
        t, _ = cv2.threshold(g, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        pen, rec = g <= t, np.nan
    else:
        pen = truth <= cv2.threshold(truth, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)[0]
        st = target(g, truth) > 0
        rec = float(m[st].mean()) if acted and st.sum() > 50 else (0.0 if st.sum() > 50 else np.nan)
    return float(acted), float(m[pen].mean()) if pen.any() else 0.0, rec


def report(name, rows):
    r = np.array(rows, dtype=float)
    rec = r[~np.isnan(r[:, 2]), 2]
    print(f"  {name} ({len(r)}): acts {r[:, 0].mean():.2f}, pen lost {r[:, 1].mean():.4f} (worst {r[:, 1].max():.3f})"
          + (f", stamp removed {rec.mean():.2f}" if len(rec) else ""), flush=True)


def main():
    sets = []
    for label, path in (("documents seed 5009", ROOT / ".state/destamp/H5009/pairs.npz"),
                        ("crossmedia 81-100", ROOT / ".state/destamp/Cheld.npz")):
        d = np.load(path, allow_pickle=True)
        pairs = list(zip(d["x"], d["y"], strict=True))
        st = [p for p in pairs if (np.abs(p[0].astype(int) - p[1].astype(int)) > 12).mean() > 0.002]
        sets += [(f"{label}, stamped", [(x, y) for x, y in st]),
                 (f"{label}, without stamp", [(y, None) for _, y in pairs])]
    sets.append(("crossmedia control", [(cv2.imread(f, cv2.IMREAD_GRAYSCALE), None)
                                        for f in sorted(glob.glob(f"{SHARED}/crossmedia/control/*/*.*"))]))
    ced = sorted(f for w in range(36, 46) for f in glob.glob(f"{SHARED}/cedar/full_org/original_{w}_*.*"))[::3]
    sets.append(("CEDAR 36-45, 200 dpi", [(cv2.resize(cv2.imread(f, cv2.IMREAD_GRAYSCALE), None, fx=2 / 3, fy=2 / 3,
                                                      interpolation=cv2.INTER_AREA), None) for f in ced]))
    for folder in sys.argv[1:]:
        spec = load_card(folder)["destamp"]
        rm = StampRemover.from_card(folder, spec)
        print(f"{folder}: low {spec.get('low')}, reach {spec.get('reach')}")
        for name, items in sets:
            report(name, [stats(rm, x, y) for x, y in items])


if __name__ == "__main__":
    main()
