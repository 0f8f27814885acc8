"""Crossmedia control (pens the remover never saw, no stamps): genuine pairs scored with the query destamped
against the same pairs as they are; v3's writer-independent threshold."""

import glob
import sys
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent  # notes/destamp-experiment: net.py, and ROOT, SHARED
sys.path.insert(0, str(HERE))
from net import ROOT, SHARED, destamp, load  # noqa: E402

sys.path.insert(0, str(ROOT))

from sigpipe.verifier.infer import Verifier  # noqa: E402

net = load(sys.argv[1])
v = Verifier.load(str(ROOT / "models" / "verifier-signet"))
fs = sorted(glob.glob(f"{SHARED}/crossmedia/control/*/*.*"))
imgs = [cv2.imread(f, cv2.IMREAD_GRAYSCALE) for f in fs]
w = np.array([f.split("/")[-2] for f in fs])
e0 = v.embed_clean(v.clean(imgs))
e1 = v.embed_clean(v.clean([destamp(net, i, 0.8) for i in imgs]))
t = v.card.data["threshold"]["value"] if isinstance(v.card.data["threshold"], dict) else v.card.data["threshold"]
s0, s1, n0, n1 = [], [], [], []
for i in range(len(fs)):
    same = np.flatnonzero((w == w[i]) & (np.arange(len(fs)) != i))
    other = np.flatnonzero(w != w[i])
    s0 += list(e0[same] @ e0[i])
    s1 += list(e0[same] @ e1[i])
    n0 += list(e0[other] @ e0[i])
    n1 += list(e0[other] @ e1[i])
s0, s1, n0, n1 = map(np.array, (s0, s1, n0, n1))
print(f"{len(fs)} images, {len(set(w))} writers, threshold {t:.4f}")
print(
    f"genuine pairs: mean cosine {s0.mean():.4f} -> {s1.mean():.4f}"
    f"; below threshold {np.mean(s0 < t):.4f} -> {np.mean(s1 < t):.4f}"
)
print(
    f"other writers: mean cosine {n0.mean():.4f} -> {n1.mean():.4f}"
    f"; above threshold {np.mean(n0 >= t):.4f} -> {np.mean(n1 >= t):.4f}"
)
