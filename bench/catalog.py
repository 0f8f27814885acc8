"""Catalogue scoring at archive scale: Q query signatures against R enrolled references, top-k signers.

    .venv/bin/python bench/catalog.py                       # 10k queries x 1M references (100k signers x 10)
    .venv/bin/python bench/catalog.py --queries 1000 --references 100000 --json

Random unit embeddings (D=256, the verifier's size) stand in for real ones: the cost of exact blocked
scoring does not depend on their values. Prints a table, or one JSON object with --json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time

import numpy as np


def _unit(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    out = np.empty((n, d), np.float32)
    for i in range(0, n, 100_000):  # in chunks: 1M x 256 float64 would be 2 GB
        x = rng.standard_normal((min(100_000, n - i), d), dtype=np.float32)
        out[i:i + len(x)] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--queries", type=int, default=10_000)
    ap.add_argument("--references", type=int, default=1_000_000)
    ap.add_argument("--per-signer", type=int, default=10, help="references per enrolled signer")
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    import torch

    from sigpipe.identify import topk_signers

    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    refs = _unit(rng, args.references, args.dim)
    signer = (np.arange(args.references) // args.per_signer).astype(np.int32)
    queries = _unit(rng, args.queries, args.dim)
    topk_signers(queries[:64], refs[:4096], signer[:4096], k=args.k)  # warm-up
    t0 = time.perf_counter()
    top = topk_signers(queries, refs, signer, k=args.k)
    secs = time.perf_counter() - t0
    assert top.signers.shape == (args.queries, args.k) and (top.signers >= 0).all()
    res = {"queries": args.queries, "references": args.references, "signers": int(signer.max()) + 1,
           "dim": args.dim, "k": args.k, "threads": args.threads, "seconds": round(secs, 2),
           "queries_per_s": round(args.queries / secs, 1),
           "gflops": round(2 * args.queries * args.references * args.dim / secs / 1e9, 1),
           "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
           "device": "cuda" if torch.cuda.is_available() else "cpu", "load_avg_1m": round(os.getloadavg()[0], 2)}
    if args.json:
        print(json.dumps(res))
        return
    print(f"{'queries':>8} {'refs':>10} {'signers':>8} {'k':>3} {'seconds':>8} {'q/s':>8} {'GFLOP/s':>8} "
          f"{'RSS MB':>8} {'load':>5}")
    print(f"{res['queries']:>8} {res['references']:>10} {res['signers']:>8} {res['k']:>3} {res['seconds']:>8} "
          f"{res['queries_per_s']:>8} {res['gflops']:>8} {res['peak_rss_mb']:>8} {res['load_avg_1m']:>5}")


if __name__ == "__main__":
    main()
