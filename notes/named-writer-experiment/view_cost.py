"""What naming writers costs documents_by_signer and unknown_writers at scale (session 33).

    .venv/bin/python notes/named-writer-experiment/view_cost.py --verdicts-lake .state/bench/sql-10m-lake-v3 \
        [--named 1000000]

Links every table but references and withdrawals of a bench/sql.py lake (10M verdicts, 1M documents, its catalogue
with clusters) into a temporary lake, beside 1M references of 256 dimensions (withdraw-experiment/view_cost.py's,
10 per signer, 1% withdrawn) of which ``--named`` carry a sig_id of one of the lake's documents (the worst case:
every reference cut from a PDF or named from the lake). Times, median of 3 on one connection (2 threads), the
views as shipped and the same queries over 0.7.0's SQL of both views (registered under other names).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parents[1]), str(HERE.parent / "withdraw-experiment")]

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402
import pyarrow.dataset as ds  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from view_cost import build  # noqa: E402

import storage  # noqa: E402

OLD = {
    "documents_by_signer": """
WITH audited AS (
    SELECT claimed_signer AS signer_id, file_name, page, 'audit' AS source, score, run_id, doc_id
    FROM verdicts WHERE decision = 'genuine' AND file_name IS NOT NULL
),
catalogued AS (
    SELECT signer_id, file_name, page, 'catalog' AS source, score, run_id, doc_id
    FROM matches WHERE rank = 1 AND is_match AND file_name IS NOT NULL
)
SELECT * FROM audited UNION ALL SELECT * FROM catalogued ORDER BY signer_id, file_name, page""",
    "unknown_writers": """
WITH unmatched AS (
    SELECT DISTINCT cluster_id, sig_id, doc_id, page FROM matches WHERE cluster_id IS NOT NULL
)
SELECT u.cluster_id, count(DISTINCT u.sig_id) AS signatures, count(DISTINCT u.doc_id) AS documents,
       list(DISTINCT d.file_name ORDER BY d.file_name) AS files
FROM unmatched AS u JOIN documents AS d USING (doc_id)
GROUP BY u.cluster_id ORDER BY signatures DESC, u.cluster_id""",
}
QUERIES = [
    ("documents_by_signer, first 100", "SELECT * FROM {documents_by_signer} LIMIT 100", {}),
    ("documents_by_signer, all", "SELECT * FROM {documents_by_signer}", {}),
    ("signed by $s (10 references)", "SELECT file_name, page, source, score FROM {documents_by_signer} "
     "WHERE signer_id = $s", {"s": "S42"}),
    ("signed by $s (verdicts, matches)", "SELECT file_name, page, source, score FROM {documents_by_signer} "
     "WHERE signer_id = $s", {"s": "S00042"}),
    ("unknown_writers, first 100", "SELECT * FROM {unknown_writers} LIMIT 100", {}),
    ("unknown_writers, all", "SELECT * FROM {unknown_writers}", {}),
]


def name_references(lake: Path, docs: Path, named: int, seed: int = 1) -> None:
    """Give the first ``named`` references a sig_id on one of ``docs``' documents (page 1, box 0)."""
    ids = ds.dataset(docs, format="parquet").to_table(columns=["doc_id"]).column("doc_id")
    rng = np.random.default_rng(seed)
    done = 0
    for f in sorted((lake / "references").rglob("*.parquet")):
        t = pq.read_table(f)
        k = min(named - done, t.num_rows)
        if k <= 0:
            break
        pick = ids.take(pa.array(rng.integers(0, len(ids), k)))
        sig = pc.binary_join_element_wise(pick, pa.array([":1:0"] * k), "")
        sig = pa.concat_arrays([sig.combine_chunks() if hasattr(sig, "combine_chunks") else sig,
                                pa.nulls(t.num_rows - k, pa.string())])
        t = t.set_column(t.schema.get_field_index("sig_id"), "sig_id", sig)
        t = t.set_column(t.schema.get_field_index("source_kind"), "source_kind",
                         pa.array(["pdf"] * k + ["image"] * (t.num_rows - k)))
        pq.write_table(t.cast(storage.schema("references")), f)
        done += k


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--verdicts-lake", type=Path, required=True)
    ap.add_argument("--named", type=int, default=1_000_000)
    ap.add_argument("--keep", type=Path, default=None, help="build the lake here (a new folder) and leave it")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        lake = Path(d) if args.keep is None else args.keep
        lake.mkdir(exist_ok=args.keep is None)
        for t in args.verdicts_lake.resolve().iterdir():
            if t.is_dir() and t.name not in ("references", "withdrawals"):
                (lake / t.name).symlink_to(t)
        build(lake, 1_000_000, 256, 100, 0.01)
        name_references(lake, lake / "documents", args.named)
        con = storage.connect(lake, threads=2)
        for name, sql in OLD.items():
            con.execute(f"CREATE VIEW old_{name} AS {sql}")
        print(f"{args.named:,} of 1,000,000 references named from the lake's documents")
        print(f"{'query':34s} {'rows':>9} {'shipped s':>10} {'0.7.0 s':>8}")
        for label, sql, params in QUERIES:
            out = []
            for names in ({k: k for k in OLD}, {k: f"old_{k}" for k in OLD}):
                ts, n = [], 0
                for _ in range(3):
                    t = time.perf_counter()
                    n = storage.query(con, sql.format(**names), params).num_rows
                    ts.append(time.perf_counter() - t)
                out.append((statistics.median(ts), n))
            print(f"{label:34s} {out[0][1]:>9} {out[0][0]:>10.2f} {out[1][0]:>8.2f}  (0.7.0 rows {out[1][1]})")
        con.close()


if __name__ == "__main__":
    main()
