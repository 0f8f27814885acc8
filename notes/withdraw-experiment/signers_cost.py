"""The signers and withdrawn_references views over 1M references and 10,000 withdrawals (session 32).

    .venv/bin/python notes/withdraw-experiment/signers_cost.py
    .venv/bin/python notes/withdraw-experiment/signers_cost.py --verdicts-lake .state/bench/sql-10m-lake-v3

The references are view_cost.py's (1M of 256 dimensions, 10 per signer, 100 parts). ``--verdicts-lake`` links in
every other table of a bench/sql.py lake (10M verdicts), so that signers reads both. Median of 3, seconds.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parents[1]), str(HERE)]

from view_cost import build  # noqa: E402

import storage  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--verdicts-lake", type=Path, default=None)
args = ap.parse_args()
with tempfile.TemporaryDirectory() as d:
    lake = Path(d)
    if args.verdicts_lake is not None:
        for t in args.verdicts_lake.resolve().iterdir():
            if t.is_dir() and t.name not in ("references", "withdrawals"):
                (lake / t.name).symlink_to(t)
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
