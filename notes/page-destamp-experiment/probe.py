"""Do signatures that stamps hide from the detector come back when the stamp remover runs on the whole page?

    .venv/bin/python notes/page-destamp-experiment/probe.py .state/rd/TAG-SEED [THR]

For every claim a `bench/real_documents.py --out DIR` audit left no_signature on a page that carries a stamp: the
claimed page from the lake, the detector (the product's) on it as stored and after the product's stamp remover
painted the whole page (no guard: a page has no single ink share to test), at confidence 0.01; prints the best
box's IoU with the truth box and its confidence, and the time the page remover took.
"""

import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from sigpipe import runtime  # noqa: E402

runtime.configure()
import storage  # noqa: E402
from sigpipe import pdf  # noqa: E402
from sigpipe.detect import load_detector  # noqa: E402
from sigpipe.verifier.infer import Verifier  # noqa: E402

out = Path(sys.argv[1])
thr = float(sys.argv[2]) if len(sys.argv) > 2 and sys.argv[2] != "-" else None
MODE = sys.argv[3] if len(sys.argv) > 3 else "page"
con = storage.connect(out / "lake")
rows = storage.query(con, "SELECT v.document, v.claimed_signer, v.page, p.image_path, p.width, p.height, p.dpi "
                          "FROM verdicts v JOIN pages p ON p.doc_id = v.doc_id AND p.page = v.page "
                          "WHERE v.decision = 'no_signature'").to_pylist()
con.close()
det = load_detector(ROOT / "models" / "detector-yolo11n")
rem = Verifier.load(ROOT / "models" / "verifier-signet").destamp
if thr is not None:
    rem.threshold = thr
truth_rows = {r["document"]: r for r in
              __import__("csv").DictReader(open(out / "data" / "truth.csv"))}


def iou(a, b):
    x0, y0, x1, y1 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    i = max(0, x1 - x0) * max(0, y1 - y0)
    return i / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - i)


def best(boxes, tb):
    s = [(iou(b.xyxy, tb), b.confidence) for b in boxes]
    s = [x for x in s if x[0] > 0.3]
    return max(s, key=lambda x: x[1]) if s else (0.0, 0.0)


n = found0 = found1 = 0
times = []
for r in rows:
    t = json.load(open(out / "data" / "truth" / (Path(r["document"]).stem + ".json")))
    pg = next(p for p in t["pages"] if p["page"] == r["page"])
    if not pg["stamps"]:
        continue
    sig = [s for s in pg["signatures"] if s["claimed_signer_id"] == r["claimed_signer"]]
    if not sig:
        continue
    tb = sig[0]["box"]
    img = pdf.decode_page(out / "lake" / r["image_path"])
    b0 = det.detect([img], conf=0.01)[0]
    t0 = time.perf_counter()
    if MODE == "page":
        m = rem.mask(img)
    else:  # only around the detector's weak boxes, each grown by half its size on every side
        m = np.zeros(img.shape, bool)
        H, W = img.shape
        for b in b0[:8]:
            x0, y0, x1, y1 = b.xyxy
            gx, gy = (x1 - x0) * 0.5, (y1 - y0) * 0.5
            X0, Y0 = int(max(0, x0 - gx)), int(max(0, y0 - gy))
            X1, Y1 = int(min(W, x1 + gx)), int(min(H, y1 + gy))
            m[Y0:Y1, X0:X1] |= rem.mask(img[Y0:Y1, X0:X1])
    paper = np.uint8(np.median(img[~m]))
    clean = img.copy()
    clean[m] = paper
    times.append(time.perf_counter() - t0)
    b1 = det.detect([clean], conf=0.01)[0]
    i0, c0 = best(b0, tb)
    i1, c1 = best(b1, tb)
    n += 1
    found0 += c0 >= det.conf
    found1 += c1 >= det.conf
    print(f"{r['document']} p{r['page']} {r['claimed_signer']} genuine={sig[0]['genuine']} "
          f"as stored: iou {i0:.2f} conf {c0:.2f} | destamped: iou {i1:.2f} conf {c1:.2f} "
          f"(mask {m.mean():.3f})", flush=True)
print(f"{n} claims; at the card's conf {det.conf:.2f}: found as stored {found0}, destamped {found1}; "
      f"page remover {np.mean(times):.2f} s a page ({img.shape})")
