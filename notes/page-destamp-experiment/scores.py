"""What the second look's boxes score against the claimed signer, for the claims an audit left no_signature.

    .venv/bin/python notes/page-destamp-experiment/scores.py .state/rd/TAG-SEED

Per claim on a stamped page: each box the second look considers (weak, or found once the stamps were painted:
``D``), its IoU with the truth box, detector confidence, and score - threshold against the claimed signer (the
band's upper edge in brackets: a box is accepted as genuine at or above it).
"""

import csv
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from sigpipe import runtime  # noqa: E402

runtime.configure()

import storage  # noqa: E402
from sigpipe.detect import box_iou  # noqa: E402
from tasks import models  # noqa: E402
from tasks.verify import _second_look_boxes, _writers  # noqa: E402

out = Path(sys.argv[1])
lake = str(out / "lake")
VER, DET = str(ROOT / "models" / "verifier-signet"), str(ROOT / "models" / "detector-yolo11n")
card = models.verifier(VER)[0].card.data
con = storage.connect(lake)
rows = storage.query(con, "SELECT v.doc_id, v.document, v.claimed_signer, v.page, p.image_path, p.width, p.height, "
                          "p.dpi FROM verdicts v JOIN pages p ON p.doc_id = v.doc_id AND p.page = v.page "
                          "WHERE v.decision = 'no_signature'").to_pylist()
writers, _ = _writers(con, sorted({r["claimed_signer"] for r in rows}), card)
con.close()
with open(out / "data" / "truth.csv", newline="") as f:
    truth = {(r["document"], r["claimed_signer_id"]): r["genuine"] for r in csv.DictReader(f)}
for r in rows:
    t = json.load(open(out / "data" / "truth" / (Path(r["document"]).stem + ".json")))
    pg = next(p for p in t["pages"] if p["page"] == r["page"])
    sig = [s for s in pg["signatures"] if s["claimed_signer_id"] == r["claimed_signer"]]
    tb = sig[0]["box"] if sig else None
    boxes, _ = _second_look_boxes(lake, DET, VER, [{k: r[k] for k in ("doc_id", "page", "width", "height", "dpi",
                                                                         "image_path")}])
    w, band = writers[r["claimed_signer"]]
    line = []
    for b in boxes.get(r["doc_id"], []):
        s = float(w.score(b["embedding"][None])[0]) - float(w.threshold)
        iou = box_iou((b["x0"], b["y0"], b["x1"], b["y1"]), tb) if tb else 0
        line.append(f"{'D' if b['destamped'] else 'w'} iou {iou:.2f} c {b['confidence']:.2f} m {s:+.3f}")
    print(f"{r['document']} {r['claimed_signer']} genuine={truth[(r['document'], r['claimed_signer'])]} "
          f"stamps={pg['stamps']} band+{band[1]:.3f}: " + "; ".join(line), flush=True)
