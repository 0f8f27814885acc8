"""Session 29: what the one-way look again (a forgery becomes inconclusive, never the other way) decides, read off two
runs of ``bench/real_documents.py`` (or ``sigpipe demo``) on the same documents: one before (0.6.1) and one with the
first, two-way version (its verdict rows on a box found whole have no ``sig_id`` and a score).

    .venv/bin/python notes/stamp-cut-experiment/one_way.py BEFORE FIRST [BEFORE FIRST ...]

Per pair: forged documents flagged and genuine documents called forgery before, with the two-way version and with the
one-way rule applied to the same verdicts, and how many claims the one-way rule moved (by the document's truth).
"""

import collections
import csv
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from storage import db  # noqa: E402


def load(out: str) -> dict:
    con = db.connect(f"{out}/lake")
    return {(r[0].split("/")[-1], r[1]): r[2:] for r in con.execute(
        "SELECT document, claimed_signer, decision, sig_id, score FROM verdicts").fetchall()}


def documents(decisions: dict, truth: dict) -> str:
    by_doc = collections.defaultdict(list)
    for (doc, _), d in decisions.items():
        by_doc[doc].append(d)
    forged = [d for d, t in truth.items() if not all(t)]
    genuine = [d for d, t in truth.items() if all(t)]
    flagged = sum(any(x in ("forgery", "inconclusive", "no_signature") for x in by_doc.get(d, [])) for d in forged)
    called = sum("forgery" in by_doc.get(d, []) for d in genuine)
    return f"{flagged}/{len(forged)} flagged, {called}/{len(genuine)} genuine called forgery"


for before, first in zip(sys.argv[1::2], sys.argv[2::2], strict=True):
    truth = collections.defaultdict(list)
    for r in csv.DictReader(open(f"{before}/data/truth.csv")):
        truth[r["document"]].append(r["genuine"].lower() == "true")
    A, B = load(before), load(first)
    one_way, moved = {}, collections.Counter()
    for k, (dec, sig, _) in A.items():
        new_dec, new_sig, new_score = B[k]
        recut = sig is not None and new_sig is None and new_score is not None
        d = "inconclusive" if recut and dec == "forgery" and new_dec in ("genuine", "inconclusive") else dec
        if d != dec:
            moved["of genuine documents" if all(truth[k[0]]) else "of forged documents"] += 1
        one_way[k] = d
    print(Path(before).name, "| before:", documents({k: v[0] for k, v in A.items()}, truth),
          "| two-way:", documents({k: v[0] for k, v in B.items()}, truth),
          "| one-way:", documents(one_way, truth), "| moved:", dict(moved))
