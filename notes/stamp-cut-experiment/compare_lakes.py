"""Claims decided differently by two runs of ``bench/real_documents.py`` on the same seed.

    .venv/bin/python notes/stamp-cut-experiment/compare_lakes.py OUT_A OUT_B

Prints each claim whose decision changed or whose score moved by more than 0.05: (document, claimed signer), whether
the claim is genuine (the truth), decision and score in A -> in B, B's threshold and evidence sheet.
"""

import csv
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from storage import db  # noqa: E402

a, b = sys.argv[1], sys.argv[2]
truth = {(r["document"], r["claimed_signer_id"]): r["genuine"] for r in csv.DictReader(open(f"{a}/data/truth.csv"))}


def load(out: str) -> dict:
    con = db.connect(f"{out}/lake")
    return {(r[0].split("/")[-1], r[1]): r[2:] for r in con.execute(
        "SELECT document, claimed_signer, decision, score, threshold, evidence_path FROM verdicts").fetchall()}


A, B = load(a), load(b)
for k in sorted(A):
    if k in B and (A[k][0] != B[k][0] or abs((A[k][1] or 0) - (B[k][1] or 0)) > 0.05):
        r = [None if x is None else round(x, 3) for x in (A[k][1], B[k][1], B[k][2])]
        print(k, truth.get(k), A[k][0], "->", B[k][0], r[0], "->", r[1], "thr", r[2], B[k][3])
