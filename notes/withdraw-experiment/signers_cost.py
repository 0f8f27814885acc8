"""The signers and withdrawn_references views over 1M references and 10,000 withdrawals (no verdicts) (session 32).

    .venv/bin/python notes/withdraw-experiment/signers_cost.py

The lake is view_cost.py's (1M references of 256 dimensions, 10 per signer, 100 parts); median of 3, seconds.
bench/sql.py times signers over 10M verdicts and no references; this is the other half.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parents[1]), str(HERE)]

from view_cost import build  # noqa: E402

import storage  # noqa: E402

with tempfile.TemporaryDirectory() as d:
    lake = Path(d)
    build(lake, 1_000_000, 256, 100, 0.01)
    con = storage.connect(lake, threads=2)
    for sql in ("SELECT * FROM signers LIMIT 100", "SELECT * FROM signers",
                "SELECT * FROM withdrawn_references LIMIT 100"):
        ts = []
        for _ in range(3):
            t = time.perf_counter()
            n = storage.query(con, sql).num_rows
            ts.append(time.perf_counter() - t)
        print(f"{sql:50s} {n:>8} {statistics.median(ts):6.2f} s")
