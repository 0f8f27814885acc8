"""Offline: would the forgeries reviewers confirmed on night 1 help tell night 2's forgeries? (exploratory)

Reads run.py's "reviewed" lake of one seed: the night-1 findings, every crop's embedding, the references enrolled
from the scans (not the crops run.py added), and night 2's claims with their truth. For each night-2 claim whose
signature was found: s = mean cosine to the claimed signer's 6 scan references (the card's aggregation), f = max
cosine to the crops of that signer confirmed forged on night 1 (0 when none). Prints the AUC (genuine over forged)
of s and of s - lam * f for a few lam, and how many claims had a known forgery of their signer.

    .venv/bin/python notes/review-enrol-experiment/forgery_cohort.py .state/review-enrol/100
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import storage  # noqa: E402


def auc(g: np.ndarray, f: np.ndarray) -> float:
    return float((g[:, None] > f[None, :]).mean() + 0.5 * (g[:, None] == f[None, :]).mean())


def main() -> int:
    out = Path(sys.argv[1])
    lake = out / "lake-reviewed"
    con = storage.connect(lake)
    q = lambda sql: storage.query(con, sql).to_pylist()  # noqa: E731
    refs = q("""SELECT signer_id, embedding FROM "references" WHERE source NOT LIKE '%blobs/crops%'""")
    forged = q("""SELECT r.claimed_signer, e.embedding FROM reviews AS r JOIN embeddings AS e USING (sig_id)
                  WHERE r.outcome = 'forgery' AND NOT r.superseded""")
    first = q("SELECT min(run_id) AS r FROM verdicts WHERE run_id LIKE 'audit-%'")[0]["r"]
    claims = q(f"""SELECT v.document, v.claimed_signer, e.embedding FROM verdicts AS v JOIN embeddings AS e
                   USING (sig_id) WHERE v.run_id != '{first}'""")
    con.close()
    with open(out / "night2" / "truth.csv", newline="") as fh:
        truth = {(r["document"], r["claimed_signer_id"]): r["genuine"].lower() == "true" for r in csv.DictReader(fh)}
    R: dict[str, list] = {}
    for r in refs:
        R.setdefault(r["signer_id"], []).append(r["embedding"])
    F: dict[str, list] = {}
    for r in forged:
        F.setdefault(r["claimed_signer"], []).append(r["embedding"])
    s, f, y = [], [], []
    for c in claims:
        t = truth.get((c["document"], c["claimed_signer"]))
        if t is None:
            continue
        e = np.asarray(c["embedding"], np.float32)
        s.append(float((np.asarray(R[c["claimed_signer"]], np.float32) @ e).mean()))
        kf = F.get(c["claimed_signer"])
        f.append(float((np.asarray(kf, np.float32) @ e).max()) if kf else 0.0)
        y.append(t)
    s, f, y = np.asarray(s), np.asarray(f), np.asarray(y, bool)
    print(f"night-2 claims scored: {len(y)} ({y.sum()} genuine, {(~y).sum()} forged); with a known forgery of their "
          f"signer: {(f > 0).sum()}; confirmed forgeries: {len(forged)}")
    for lam in (0.0, 0.25, 0.5, 1.0):
        z = s - lam * f
        print(f"lam {lam}: AUC {auc(z[y], z[~y]):.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
