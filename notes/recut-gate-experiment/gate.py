"""Session 30: could a cheap test skip the stamp-cut look again (0.6.2) where it cannot find anything?

    .venv/bin/python notes/recut-gate-experiment/gate.py OUT_0_6_1 [OUT_0_6_1 ...] > rows.jsonl

OUT: a ``bench/real_documents.py`` (or ``sigpipe demo``) output folder (``lake/``) of 0.6.1, which has no look
again: its claims decided forgery on a signature are exactly the ones 0.6.2 looks at again. For each, one JSON row:
whether ``tasks.verify._recut_boxes`` finds the signature whole, and what the stamp remover says of the stored crop
(the pixels its mask holds, whether its guard lets it act), with the time each took.
"""

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from sigpipe.runtime import configure  # noqa: E402

configure()

from sigpipe.clean import load_image, to_grey  # noqa: E402
from storage import db  # noqa: E402
from tasks import models  # noqa: E402
from tasks import verify as tv  # noqa: E402

VERIFIER = str(ROOT / "models" / "verifier-signet")
DETECTOR = str(ROOT / "models" / "detector-yolo11n")

v, _ = models.verifier(VERIFIER)
remover = v.destamp
for out in sys.argv[1:]:
    lake = f"{out}/lake"
    con = db.connect(lake)
    det_info = con.execute("SELECT DISTINCT detector_name, detector_version FROM signatures").fetchall()[0]
    detector = {"name": det_info[0], "version": det_info[1]}
    rows = con.execute(
        "SELECT v.doc_id, v.document, v.claimed_signer, v.score, s.* FROM verdicts v JOIN signatures s USING (sig_id) "
        "WHERE v.decision = 'forgery'").to_arrow_table().to_pylist()
    todo = [{"doc_id": r["doc_id"], "k": i, "sig": r} for i, r in enumerate(rows)]
    pages = tv._pages_of(con, tv._pages_wanted(todo), detector)
    dpi_of = {(p["doc_id"], p["page"]): int(p["dpi"]) for p in pages}
    con.close()
    for t in todo:  # one claim at a time, to time each
        r = t["sig"]
        dpi = dpi_of.get((r["doc_id"], r["page"]))
        if dpi is None:
            continue
        crop = to_grey(load_image(Path(lake) / r["crop_path"]))
        t0 = time.perf_counter()
        m = remover.mask_at(crop, dpi)
        t_crop = time.perf_counter() - t0
        acted = remover(crop, dpi)[1]
        t0 = time.perf_counter()
        found, _ = tv._recut_boxes(lake, DETECTOR, VERIFIER, [p for p in pages if (p["doc_id"], p["page"]) ==
                                                              (r["doc_id"], r["page"])], [t])
        t_recut = time.perf_counter() - t0
        grown = [b for bs in found.values() for b in bs]
        print(json.dumps({"out": Path(out).name, "document": r["document"].split("/")[-1],
                          "signer": r["claimed_signer"], "score": r["score"], "sig_id": r["sig_id"],
                          "crop_hw": list(crop.shape), "crop_mask_px": int(m.sum()), "crop_acted": bool(acted),
                          "t_crop_mask": round(t_crop, 4), "t_recut": round(t_recut, 4), "grown": bool(grown),
                          "grown_box": [grown[0][k] for k in ("x0", "y0", "x1", "y1")] if grown else None}),
              flush=True)
