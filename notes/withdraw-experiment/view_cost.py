"""What the withdrawals filter costs the `references` view at catalogue scale (session 32).

    .venv/bin/python notes/withdraw-experiment/view_cost.py [--refs 1000000] [--dim 256] [--withdrawn 0.01]

Writes a lake of R references (10 per signer, one verifier version, `--parts` parts) and W withdrawals, then times
the catalogue's read (every embedding of the version) and the audit's (one chunk of 64 signers) through
`storage.connect`: the view as shipped (a left join on each reference's last withdrawal), and the same SQL as
0.6.4's view (no filter) registered under another name, with no withdrawals and with W.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

import storage  # noqa: E402

OLD_VIEW = """
WITH ranked AS (
    SELECT *, row_number() OVER (
        PARTITION BY signer_id, ref_id, model_name, model_version ORDER BY enrolled_at DESC, run_id DESC) AS rn
    FROM _src_references
)
SELECT * EXCLUDE (rn) FROM ranked WHERE rn = 1
"""


def build(lake: Path, n: int, dim: int, parts: int, withdrawn: float, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    t0 = np.datetime64("2026-01-01T00:00:00", "us")
    signer = np.char.add("S", (np.arange(n) // 10).astype(str))
    ref = np.char.add("r", np.arange(n).astype(str))
    emb = rng.standard_normal((n, dim), dtype=np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    sch = storage.schema("references")
    for p, idx in enumerate(np.array_split(np.arange(n), parts)):
        run = f"enroll-{p:04d}"
        tbl = pa.table({
            "ref_id": ref[idx], "signer_id": signer[idx], "source": np.char.add(ref[idx], ".png"),
            "source_kind": np.full(len(idx), "image"), "sig_id": pa.nulls(len(idx), pa.string()),
            "crop_path": np.char.add("blobs/", ref[idx]), "model_name": np.full(len(idx), "v"),
            "model_version": np.full(len(idx), "1"), "dim": np.full(len(idx), dim, np.int32),
            "embedding": pa.FixedSizeListArray.from_arrays(emb[idx].ravel(), dim).cast(pa.list_(pa.float32())),
            "run_id": np.full(len(idx), run),
            "enrolled_at": pa.array(np.full(len(idx), t0 + p), pa.timestamp("us", tz="UTC")),
        }).cast(sch)
        out = lake / "references" / f"run_id={run}"
        out.mkdir(parents=True)
        pq.write_table(tbl, out / "part-x.parquet")
    k = int(n * withdrawn)
    if k:
        pick = rng.choice(n, k, replace=False)
        tbl = pa.table({"signer_id": signer[pick], "ref_id": ref[pick], "reason": np.full(k, "closed"),
                        "withdrawn_by": pa.nulls(k, pa.string()), "run_id": np.full(k, "withdraw-1"),
                        "withdrawn_at": pa.array(np.full(k, t0 + 10**9), pa.timestamp("us", tz="UTC"))}
                       ).cast(storage.schema("withdrawals"))
        out = lake / "withdrawals" / "run_id=withdraw-1"
        out.mkdir(parents=True)
        pq.write_table(tbl, out / "part-x.parquet")


def timed(con, sql: str, params: dict, repeats: int) -> tuple[float, int]:
    ms, rows = [], 0
    for _ in range(repeats):
        t = time.perf_counter()
        rows = storage.query(con, sql, params).num_rows
        ms.append(1000 * (time.perf_counter() - t))
    return statistics.median(ms), rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--refs", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--parts", type=int, default=100)
    ap.add_argument("--withdrawn", type=float, default=0.01)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    print(f"{'withdrawals':>11} {'view':>6} {'query':>8} {'rows':>9} {'ms':>8}")
    for share in (0.0, args.withdrawn):
        with tempfile.TemporaryDirectory() as d:
            lake = Path(d)
            build(lake, args.refs, args.dim, args.parts, share)
            con = storage.connect(lake, threads=args.threads)
            con.execute(f"CREATE VIEW references_old AS {OLD_VIEW}")
            for view in ("references", "references_old"):
                for name, sql, params in (
                        ("catalog", f'SELECT signer_id, embedding FROM "{view}" WHERE model_name = $n '
                                    "AND model_version = $v", {"n": "v", "v": "1"}),
                        ("audit", f'SELECT signer_id, ref_id, embedding FROM "{view}" WHERE model_name = $n AND '
                                  "model_version = $v AND list_contains($s, signer_id)",
                         {"n": "v", "v": "1", "s": [f"S{i}" for i in range(0, args.refs // 10, args.refs // 640)]})):
                    ms, rows = timed(con, sql, params, args.repeats)
                    print(f"{int(share * args.refs):>11} {'0.7.0' if view == 'references' else '0.6.4':>6} "
                          f"{name:>8} {rows:>9} {ms:>8.0f}")
            con.close()


if __name__ == "__main__":
    main()
