"""Does the evidence sheet's "what moved the score" map point at what a reviewer should look at, and what does it
cost? (:mod:`sigpipe.verifier.explain`: each ink-holding window of the cleaned crop erased in turn.)

    .venv/bin/python bench/explain.py [--data ../shared/data/cedar] [--writers 36-45] [--references 6]
        [--queries 8] [--model models/verifier-signet] [--seed 0] [--grid 3,4] [--overlap 1] [--json]

Per CEDAR writer: ``--references`` genuine scans enrolled as the audit enrols them (the card's writer model),
``--queries`` other genuine scans as questioned signatures, each scored as it is and with document marks drawn over
it (``sigpipe.verifier.augment.clutter``: stamp rings, box edges, capitals, rule fragments at the pen's level; the
marks' pixels are known), and the writer's skilled forgeries. For the marked crops: how much of the top window's
ink (the window whose erasure raises the score most) is mark, against the marks' share of all the crop's ink and of
a random ink-holding window's; and how much of the score the marks cost the top window's erasure gives back. For
each kind: the top window's gain (what the sheet's "erasing the boxed part gives" line adds to the score).
``--grid``/``--overlap`` try other windows than the sheet's (3 x 4 cells, no overlap).
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

import numpy as np  # noqa: E402

from bench import _cedar  # noqa: E402


def _share(crop: np.ndarray, mark: np.ndarray, box: np.ndarray) -> float:
    """Share of the ink inside ``box`` (x0, y0, x1, y1) that is mark."""
    x0, y0, x1, y1 = (int(v) for v in box)
    ink = crop[y0:y1, x0:x1] > 0
    return float((mark[y0:y1, x0:x1] & ink).sum() / max(1, ink.sum()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    _cedar.add_arguments(ap)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--grid", default="3,4", help="rows,columns of windows (explain.occlusion's grid)")
    ap.add_argument("--overlap", type=int, default=1, help="windows step by 1/overlap of their size")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()

    from sigpipe.audit import writer_model
    from sigpipe.clean import load_image
    from sigpipe.verifier import Verifier
    from sigpipe.verifier.augment import clutter
    from sigpipe.verifier.explain import occlusion

    v = Verifier.load(a.model)
    rng = np.random.default_rng(a.seed)
    grid = tuple(int(x) for x in a.grid.split(","))

    def occlusion_(crop: np.ndarray, score) -> object:
        return occlusion(crop, v.embed_clean, score, grid, a.overlap)

    rows: dict[str, list[float]] = {k: [] for k in (
        "gain_genuine", "gain_marked", "gain_forged", "top_share", "crop_share", "random_share", "given_back",
        "cost", "ms")}
    n_writers = 0
    for w, gen, forg in _cedar.writers(a):
        n_writers += 1
        gen = [gen[i] for i in rng.permutation(len(gen))]
        refs = v.clean([load_image(p) for p in gen[: a.references]])
        model, _ = writer_model(v.card.data, w, v.embed_clean(refs))
        queries = v.clean([load_image(p) for p in gen[a.references : a.references + a.queries]])
        forged = v.clean([load_image(p) for p in forg[: a.queries]])
        for q in queries:
            as_scanned = occlusion_(q, model.score)  # its base: the score of the crop as it is
            rows["gain_genuine"].append(as_scanned.top_gain)
            marked = clutter(q, rng)
            mark = marked > q  # (h, w) bool: the pixels the marks took
            if not mark.any():
                continue
            t0 = time.perf_counter()
            occ = occlusion_(marked, model.score)
            rows["ms"].append(1000 * (time.perf_counter() - t0))
            rows["gain_marked"].append(occ.top_gain)
            rows["top_share"].append(_share(marked, mark, occ.windows[occ.top]))
            rows["crop_share"].append(float(mark.sum() / max(1, (marked > 0).sum())))
            rows["random_share"].append(_share(marked, mark, occ.windows[rng.integers(len(occ.windows))]))
            cost = as_scanned.base - occ.base
            if cost > 0.02:  # the marks cost the score something: how much of it does the top erasure give back
                rows["cost"].append(cost)
                rows["given_back"].append(occ.top_gain / cost)
        for f in forged:
            rows["gain_forged"].append(occlusion_(f, model.score).top_gain)

    def stat(k: str) -> dict[str, float]:
        x = np.asarray(rows[k], np.float64)
        return {"n": len(x), "mean": float(x.mean()) if len(x) else float("nan"),
                "median": float(np.median(x)) if len(x) else float("nan")}

    out = {"model": f"{v.card.name} v{v.card.version}", "writers": a.writers, "n_writers": n_writers,
           "references": a.references, "seed": a.seed, "grid": list(grid), "overlap": a.overlap,
           **{k: stat(k) for k in rows}}
    if a.json:
        print(json.dumps(out, indent=1))
        return
    labels = {
        "gain_genuine": "top window's gain, genuine as scanned",
        "gain_marked": "top window's gain, genuine with marks",
        "gain_forged": "top window's gain, skilled forgeries",
        "top_share": "marks' share of the top window's ink",
        "random_share": "marks' share of a random ink window's ink",
        "crop_share": "marks' share of the whole crop's ink",
        "cost": "score the marks cost (where > 0.02)",
        "given_back": "share of that cost the top erasure gives back",
        "ms": "ms per map (marked crops)",
    }
    print(f"{out['model']}, CEDAR writers {a.writers} ({n_writers}), {a.references} references, seed {a.seed}, "
          f"windows {grid[0]}x{grid[1]} / overlap {a.overlap}")
    print(f"{'measure':<48} {'n':>5} {'mean':>8} {'median':>8}")
    for k, lab in labels.items():
        s = out[k]
        print(f"{lab:<48} {s['n']:>5} {s['mean']:>8.3f} {s['median']:>8.3f}")


if __name__ == "__main__":
    main()
