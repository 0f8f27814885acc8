"""What the audit's signatures would score if crops were cut from the page after the stamp remover painted the
region around their box, instead of cut as stored and then destamped as a crop.

    .venv/bin/python notes/page-destamp-experiment/recut.py .state/rd/TAG-SEED [GROW]

For every verdict with a detected signature (sig_id): the margin (score - threshold) of the stored crop (as the
audit decided it) and of the re-cut crop, split by truth and by a stamp on the page; and how many decisions the
re-cut would change (band as in the audit).
"""

import csv
import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from sigpipe import runtime  # noqa: E402

runtime.configure()
import numpy as np  # noqa: E402

import storage  # noqa: E402
from sigpipe import audit as audit_lib  # noqa: E402
from sigpipe import pdf  # noqa: E402
from tasks import models  # noqa: E402
from tasks.detect import signature_crop  # noqa: E402
from tasks.verify import _embed, _writers  # noqa: E402

out = Path(sys.argv[1])
grow = float(sys.argv[2]) if len(sys.argv) > 2 else 0.5
lake = str(out / "lake")
VER = str(ROOT / "models" / "verifier-signet")
v = models.verifier(VER)[0]
card = v.card.data
con = storage.connect(lake)
rows = storage.query(con, "SELECT v.document, v.claimed_signer, v.decision, v.score, v.threshold, v.page, "
                          "s.x0, s.y0, s.x1, s.y1, p.image_path, p.dpi FROM verdicts v "
                          "JOIN signatures s USING (sig_id) JOIN pages p ON p.doc_id = v.doc_id AND p.page = v.page"
                     ).to_pylist()
writers, _ = _writers(con, sorted({r["claimed_signer"] for r in rows}), card)
con.close()
with open(out / "data" / "truth.csv", newline="") as f:
    truth = {(r["document"], r["claimed_signer_id"]): r["genuine"] == "true" for r in csv.DictReader(f)}
stamped = {}
for r in rows:
    t = json.load(open(out / "data" / "truth" / (Path(r["document"]).stem + ".json")))
    stamped[(r["document"], r["page"])] = next(p for p in t["pages"] if p["page"] == r["page"])["stamps"] > 0
crops, dpis = [], []
for r in rows:
    img = pdf.decode_page(out / "lake" / r["image_path"])
    box = (r["x0"], r["y0"], r["x1"], r["y1"])
    painted, _ = v.destamp.paint_regions(img, [box], int(r["dpi"]), grow=grow)
    crops.append(signature_crop(painted, box))
    dpis.append(int(r["dpi"]))
emb, _, _, _ = _embed(VER, crops, dpis)
stats: dict[tuple, list] = {}
moves: Counter = Counter()
for r, e in zip(rows, emb, strict=True):
    w, band = writers[r["claimed_signer"]]
    new = float(w.score(e[None])[0])
    g = truth[(r["document"], r["claimed_signer"])]
    key = ("stamp" if stamped[(r["document"], r["page"])] else "no-stamp", "genuine" if g else "forged")
    stats.setdefault(key, []).append((r["score"] - r["threshold"], new - r["threshold"]))
    d = audit_lib.decide(new, r["threshold"], band)
    if d != r["decision"]:
        moves[(key[0], key[1], r["decision"], d)] += 1
for k, xs in sorted(stats.items()):
    a = np.asarray(xs)
    changed = int((np.abs(a[:, 1] - a[:, 0]) > 1e-4).sum())
    print(k, len(a), f"mean margin stored {a[:, 0].mean():.3f} re-cut {a[:, 1].mean():.3f}; changed {changed}")
for k, n in sorted(moves.items()):
    print("  ", k, n)
