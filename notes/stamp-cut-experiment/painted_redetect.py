"""Session 29: does the detector find the whole signature once the stamps around its box are painted?

    .venv/bin/python notes/stamp-cut-experiment/painted_redetect.py OUT:DOC [OUT:DOC ...]

OUT: a ``bench/real_documents.py --out OUT`` folder; DOC: a document file name in it. For each, the page of the
document's signatures is painted around every stored box by the verifier's stamp remover
(``StampRemover.paint_regions``, as the audit's second look does for claims without a signature), decoded at 1/2 for
the detector as the detect task does, and detected again; prints the stored boxes, the true genuine boxes and the new
boxes (page pixels, confidence).
"""

import json
import sys
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from sigpipe.runtime import configure  # noqa: E402

configure()
from sigpipe import pdf  # noqa: E402
from sigpipe.detect import load_detector  # noqa: E402
from sigpipe.verifier.infer import Verifier  # noqa: E402
from storage import db  # noqa: E402

det = load_detector("models/detector-yolo11n")
remover = Verifier.load("models/verifier-signet").destamp
for arg in sys.argv[1:]:
    out, doc = arg.rsplit(":", 1)
    con = db.connect(f"{out}/lake")
    rows = con.execute("SELECT s.x0, s.y0, s.x1, s.y1, p.image_path FROM signatures s JOIN pages p "
                       "ON p.doc_id = s.doc_id AND p.page = s.page JOIN documents d ON d.doc_id = s.doc_id "
                       "WHERE d.path LIKE $d",
                       {"d": f"%{doc}"}).fetchall()
    truth = json.load(open(f"{out}/data/truth/{doc[:-4]}.json"))
    genuine = [sg["box"] for p in truth["pages"] for sg in p["signatures"] if sg["genuine"]]
    page = pdf.decode_page(f"{out}/lake/{rows[0][4]}")
    boxes = [r[:4] for r in rows]
    painted, n = remover.paint_regions(page, boxes, 200)
    small = cv2.resize(painted, (painted.shape[1] // 2, painted.shape[0] // 2), interpolation=cv2.INTER_AREA)
    found = det.detect([small], shapes=[painted.shape])[0]
    print(doc, "stored", [tuple(b) for b in boxes], "truth", genuine, "painted px", n,
          "found", [(tuple(round(v) for v in b.xyxy), round(b.confidence, 2)) for b in found])
