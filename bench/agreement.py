"""Does the evidence sheet's agreement map line the questioned signature up with its reference? The share of both
crops' ink within 2 px of the other's (what the sheet prints), for genuine signatures and skilled forgeries against
the best enrolled reference, by how the query is aligned first.

    .venv/bin/python bench/agreement.py [--data ../shared/data/cedar] [--writers 36-45] [--references 6]
        [--queries 8] [--model models/verifier-signet] [--json]

Per CEDAR writer: the first ``--references`` genuine scans are the references, the next ``--queries`` genuine
scans and the first ``--queries`` skilled forgeries are questioned; each is compared with the reference nearest to
it in the verifier's embedding (the sheet's best reference). Alignments: ``none`` (the cleaned crops as they are),
``phase`` (0.4.0: one shift by phase correlation of the crops themselves), ``align`` (0.4.1,
``sigpipe.evidence.align``: of no move and the shifts that best correlate lightly blurred ink at three scales, the
one under which the most ink agrees). A good alignment raises the genuine pairs' agreement
and separates them from the forgeries (AUC: how often a genuine pair agrees more than a forged one).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sigpipe.runtime import configure  # noqa: E402

configure()

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from bench import _cedar  # noqa: E402


def _phase(q: np.ndarray, r: np.ndarray) -> np.ndarray:
    """0.4.0's alignment: the query shifted by the phase correlation of the two crops' own pixels."""
    (dx, dy), _ = cv2.phaseCorrelate(r.astype(np.float32), q.astype(np.float32))
    return cv2.warpAffine(q.astype(np.float32), np.float32([[1, 0, -dx], [0, 1, -dy]]), (q.shape[1], q.shape[0]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    _cedar.add_arguments(ap)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()

    from sigpipe.clean import load_image
    from sigpipe.evidence import agreement_map, align, ink_agreement
    from sigpipe.metrics import auc
    from sigpipe.verifier import Verifier

    v = Verifier.load(a.model)
    ways = {"none": lambda q, r: q, "phase": _phase, "align": align}
    got: dict[str, dict[str, list[float]]] = {k: {"genuine": [], "forged": []} for k in ways}
    ms: dict[str, float] = dict.fromkeys(ways, 0.0)
    n_writers = 0
    for _, gen, forg in _cedar.writers(a):
        n_writers += 1
        refs = v.clean([load_image(p) for p in gen[: a.references]])
        e_refs = v.embed_clean(refs)
        for kind, paths in (("genuine", gen[a.references : a.references + a.queries]), ("forged", forg[: a.queries])):
            queries = v.clean([load_image(p) for p in paths])
            for q, e in zip(queries, v.embed_clean(queries), strict=True):
                r = refs[int(np.argmax(e_refs @ e))]
                for name, fn in ways.items():
                    t0 = time.perf_counter()
                    aligned = fn(q, r)
                    ms[name] += 1000 * (time.perf_counter() - t0)
                    got[name][kind].append(ink_agreement(aligned, r)[4])
                assert abs(agreement_map(q, r)[1] - got["align"][kind][-1]) < 1e-9  # the sheet prints this figure

    n = sum(len(x) for x in got["none"].values())
    out = {"model": f"{v.card.name} v{v.card.version}", "writers": a.writers, "n_writers": n_writers, "pairs": n,
           **{k: {"genuine": float(np.mean(d["genuine"])), "forged": float(np.mean(d["forged"])),
                  "auc": auc(d["genuine"] + d["forged"], [1] * len(d["genuine"]) + [0] * len(d["forged"])),
                  "ms": ms[k] / max(1, n)} for k, d in got.items()}}
    if a.json:
        print(json.dumps(out, indent=1))
        return
    print(f"{out['model']}, CEDAR writers {a.writers} ({n_writers}), {a.references} references, {n} pairs")
    print(f"{'alignment':<10} {'genuine':>8} {'forged':>8} {'AUC':>6} {'ms':>6}")
    for k in ways:
        s = out[k]
        print(f"{k:<10} {s['genuine']:>8.3f} {s['forged']:>8.3f} {s['auc']:>6.3f} {s['ms']:>6.1f}")


if __name__ == "__main__":
    main()
