"""0.8.2's unknown_writers and documents_by_signer against 0.8.1's SQL (1bbfd04), first 100 rows, alternated on one
connection over bench/sql.py's lake: as it is (one verifier version, no models rows: recatalogued's gate closed), then
with half its catalogue runs' matches given a second verifier version (views over the same files: the gate open, no
signature catalogued twice, so the two SQLs return the same rows; it measures what the grouping costs).

    .venv/bin/python notes/recatalogue/ab.py .state/bench/sql-10m-lake-v3
"""
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
import storage  # noqa: E402

con = storage.connect(sys.argv[1], 2)
for n in ("unknown_writers", "documents_by_signer"):
    old = subprocess.run(["git", "show", f"1bbfd04:storage/views/{n}.sql"], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    con.execute(f'CREATE OR REPLACE VIEW "{n}_old" AS {old}')
def bench(label):
    res = {}
    for _rep in range(3):
        for n in ("unknown_writers", "documents_by_signer"):
            for v in ("", "_old"):
                t = time.perf_counter()
                storage.query(con, f"SELECT * FROM {n}{v} LIMIT 100")
                res.setdefault(n + v, []).append(time.perf_counter() - t)
    for k, v in res.items():
        print(f"{label:14s} {k:26s} first 100: median {statistics.median(v):.2f} s [{min(v):.2f}-{max(v):.2f}]")
bench("one version")
# the same lake as if half its catalogue runs had used a second verifier version (no signature catalogued twice)
con.execute("CREATE OR REPLACE VIEW models AS SELECT 'verifier' AS kind, 'v' AS name, x::VARCHAR AS version "
            "FROM range(2) t(x)")
con.execute("CREATE OR REPLACE VIEW matches AS SELECT * REPLACE (CASE WHEN hash(run_id) % 2 = 0 THEN 'other' "
            "ELSE verifier_version END AS verifier_version) FROM _src_matches")
print(storage.query(con, "SELECT count(*) AS n FROM recatalogued").to_pylist())
bench("two versions")
