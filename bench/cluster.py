"""Grouping a catalogue's unknown signatures by writer, with the groups earlier catalogues made (0.8.1).

    .venv/bin/python bench/cluster.py                        # 1k and 10k new unknown signatures x 0, 10k, 50k groups
    .venv/bin/python bench/cluster.py --new 10000 --earlier 50000 --json

``sigpipe.identify.cluster`` as ``tasks.verify.catalog_signatures`` calls it: the new unknown signatures, seeded
with the earlier groups (each the sum of its members' embeddings), at the default verifier's pair threshold.
Random unit embeddings (D=256) stand in for real ones: new signatures are drawn around writers (--spread, the
noise per dimension) so that a run forms groups of several signatures, and the earlier groups point elsewhere,
so each new signature is compared with every group and joins none of them (the cost does not depend on which
group it joins). Prints a table, or one JSON object with --json.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--new", default="1000,10000", help="new unknown signatures (comma-separated sizes)")
    ap.add_argument("--earlier", default="0,10000,50000", help="groups earlier catalogues made (sizes)")
    ap.add_argument("--per-writer", type=int, default=4, help="new signatures per new writer")
    ap.add_argument("--spread", type=float, default=0.03, help="noise per dimension around a writer")
    ap.add_argument("--threshold", type=float, default=0.643, help="verifier v4's pair threshold")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    from sigpipe.identify import cluster

    rng = np.random.default_rng(0)
    rows = []
    for n in (int(x) for x in args.new.split(",")):
        writers = _unit(rng.normal(size=(max(1, n // args.per_writer), 256)))
        emb = _unit(writers[rng.integers(0, len(writers), n)] + args.spread * rng.normal(size=(n, 256)))
        for k in (int(x) for x in args.earlier.split(",")):
            seeds = 3 * _unit(rng.normal(size=(k, 256))) if k else None  # groups of ~3 signatures each
            times = []
            for _ in range(args.repeats):
                t = time.perf_counter()
                labels = cluster(emb, args.threshold, seeds=seeds)
                times.append(time.perf_counter() - t)
            rows.append({"new": n, "earlier": k, "seconds": round(float(np.median(times)), 3),
                         "new_groups": int(len(np.unique(labels[labels >= k]))),
                         "joined": int((labels < k).sum()), "writers": len(writers)})
    out = {"threads": os.environ.get("OMP_NUM_THREADS", "default"), "threshold": args.threshold,
           "repeats": args.repeats, "rows": rows}
    if args.json:
        print(json.dumps(out))
        return
    print(f"cluster(): median of {args.repeats}, OMP_NUM_THREADS={out['threads']}")
    print(f"{'new':>7} {'earlier':>8} {'seconds':>8} {'new groups':>11} {'joined':>7} {'writers':>8}")
    for r in rows:
        print(f"{r['new']:>7} {r['earlier']:>8} {r['seconds']:>8.3f} {r['new_groups']:>11} {r['joined']:>7} "
              f"{r['writers']:>8}")


if __name__ == "__main__":
    main()
