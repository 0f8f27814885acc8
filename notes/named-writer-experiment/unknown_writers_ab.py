"""unknown_writers as shipped (NOT IN the signatures in use) against 0.7.0's SQL and two ANTI JOIN placements,
interleaved on one connection: first 100 rows, median of 3 per round, 4 rounds (session 33).

    .venv/bin/python notes/named-writer-experiment/unknown_writers_ab.py .state/bench/sql-10m-lake-v3
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import storage  # noqa: E402

GROUPED = """
SELECT u.cluster_id, count(DISTINCT u.sig_id) AS signatures, count(DISTINCT u.doc_id) AS documents,
       list(DISTINCT d.file_name ORDER BY d.file_name) AS files
FROM unmatched AS u JOIN documents AS d USING (doc_id)
GROUP BY u.cluster_id ORDER BY signatures DESC, u.cluster_id"""
CLUSTERED = "SELECT DISTINCT cluster_id, sig_id, doc_id, page FROM matches WHERE cluster_id IS NOT NULL"
VARIANTS = {
    "0.7.0": f"WITH unmatched AS ({CLUSTERED}) {GROUPED}",
    "shipped": None,  # the unknown_writers view
    "anti-after": f"WITH um AS ({CLUSTERED}), unmatched AS (SELECT * FROM um ANTI JOIN enrolled_signatures USING "
                  f"(sig_id)) {GROUPED}",
    "anti-before": "WITH unmatched AS (SELECT DISTINCT m.cluster_id, m.sig_id, m.doc_id, m.page FROM matches AS m "
                   "ANTI JOIN enrolled_signatures USING (sig_id) WHERE m.cluster_id IS NOT NULL) " + GROUPED,
}


def main() -> None:
    con = storage.connect(sys.argv[1], threads=2)
    names = {}
    for k, sql in VARIANTS.items():
        names[k] = "unknown_writers" if sql is None else f'"u_{k}"'
        if sql is not None:
            con.execute(f"CREATE VIEW {names[k]} AS {sql}")
    for _ in range(4):
        out = []
        for k, view in names.items():
            ts = []
            for _ in range(3):
                t = time.perf_counter()
                storage.query(con, f"SELECT * FROM {view} LIMIT 100")
                ts.append(time.perf_counter() - t)
            out.append(f"{k}={statistics.median(ts):.2f}")
        print(" ".join(out), flush=True)


if __name__ == "__main__":
    main()
