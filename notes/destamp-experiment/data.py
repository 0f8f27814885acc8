"""Throw-away: pairs of (crop with stamp, same crop without) from sigpipe.synth.real documents, CEDAR writers 1-35."""

import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent  # notes/destamp-experiment
ROOT, SHARED = HERE.parents[1], HERE.parents[2] / "shared" / "data"
sys.path.insert(0, str(ROOT))
from pdf2image import convert_from_path  # noqa: E402

from sigpipe.synth import dataset, documents, real  # noqa: E402

seed, n_docs, out = int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
CEDAR = SHARED / "cedar"
for k in documents._P_STAMP:
    documents._P_STAMP[k] = 1.0
orig = documents._Layout.stamp


def nostamp(self, *a, **k):
    orig(self, *a, **k)
    p, x, y, _ = self.stamps[-1]
    self.stamps[-1] = (p, x, y, 0.0)


for variant in ("stamp", "clean"):
    documents._Layout.stamp = orig if variant == "stamp" else nostamp
    if not (out / variant / "truth.csv").exists():
        if len(sys.argv) > 4 and sys.argv[4] == "synth":
            dataset.generate(
                out / variant,
                signers=24,
                documents=n_docs,
                seed=seed,
                forged_fraction=0.3,
                references_per_signer=0,
                genuine_per_signer=0,
                forged_per_signer=0,
                overwrite=True,
            )
        else:
            real.compose(CEDAR, out / variant, range(1, 36), n_docs, seed, 0, 0.3, cycle=24)
documents._Layout.stamp = orig
rng = np.random.default_rng(seed)
X, Y = [], []
for tj in sorted((out / "stamp" / "truth").glob("*.json")):
    t = json.loads(tj.read_text())
    for pg in t["pages"]:
        if not pg["signatures"] or not pg["stamps"]:
            continue
        imgs = [
            np.asarray(
                convert_from_path(
                    out / v / "inbox" / t["document"],
                    dpi=t["dpi"],
                    first_page=pg["page"],
                    last_page=pg["page"],
                    grayscale=True,
                )[0]
            )
            for v in ("stamp", "clean")
        ]
        if imgs[0].shape != imgs[1].shape:
            continue
        for s in pg["signatures"]:
            x0, y0, x1, y1 = s["box"]
            w, h = x1 - x0, y1 - y0
            m = rng.uniform(0.05, 0.35, 4)
            X0, Y0 = max(0, int(x0 - m[0] * w)), max(0, int(y0 - m[1] * h))
            X1, Y1 = int(x1 + m[2] * w), int(y1 + m[3] * h)
            X.append(imgs[0][Y0:Y1, X0:X1].copy())
            Y.append(imgs[1][Y0:Y1, X0:X1].copy())
np.savez_compressed(out / "pairs.npz", x=np.array(X, dtype=object), y=np.array(Y, dtype=object), allow_pickle=True)
d = [float(np.mean(np.abs(a.astype(int) - b.astype(int)) > 12)) for a, b in zip(X, Y, strict=False)]
print(
    len(X),
    "pairs; share of crops the stamp touches:",
    np.mean(np.array(d) > 0.002),
    "sizes",
    np.median([a.shape for a in X], 0),
)
