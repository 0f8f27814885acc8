"""Session 29: how often the box a genuine claim was decided on stops short of the signature, by page stamp.

    .venv/bin/python notes/stamp-cut-experiment/short_boxes.py OUT [OUT ...]

OUT: a ``bench/real_documents.py --out OUT`` folder (its lake and data/truth). Per (decision, box short or whole,
page stamped or not) the count of genuine claims decided on a detected signature, where "short" means the detector's
box (as stored in ``signatures``) covers less than 80% of the true signature's width; then each short one decided
forgery.
"""

import collections
import glob
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from storage import db  # noqa: E402

tot, short_forgery = collections.Counter(), []
for out in sys.argv[1:]:
    con = db.connect(f"{out}/lake")
    truth = {}
    for f in glob.glob(f"{out}/data/truth/*.json"):
        d = json.load(open(f))
        for p in d["pages"]:
            for sg in p["signatures"]:
                truth.setdefault((d["document"], sg["claimed_signer_id"]), []).append((sg, p["stamps"]))
    for doc, signer, dec, x0, x1 in con.execute(
            "SELECT document, claimed_signer, decision, s.x0, s.x1 FROM verdicts v "
            "LEFT JOIN signatures s USING (sig_id)"
    ).fetchall():
        doc = doc.split("/")[-1]
        ts = [t for t in truth.get((doc, signer), []) if t[0]["genuine"]]
        if not ts or x0 is None:
            continue
        sg, stamps = ts[0]
        tx0, _, tx1, _ = sg["box"]
        cover = max(0, min(x1, tx1) - max(x0, tx0)) / max(1, tx1 - tx0)
        tot[(dec, "short" if cover < 0.8 else "whole", "stamp" if stamps else "no stamp")] += 1
        if cover < 0.8 and dec == "forgery":
            short_forgery.append((out, doc, round(cover, 2), "stamp" if stamps else "no stamp", (x0, x1), (tx0, tx1)))
for k in sorted(tot):
    print(*k, tot[k])
for e in short_forgery:
    print(*e)
