"""How much does the shipped verifier's score depend on how dark the pen is?

Throw-away diagnostic (session 34). CEDAR writers 36-45: each genuine scan is compared with the writer's other
genuine scans and skilled forgeries as `sigpipe eval verifier` does (all pairs), except that the second image of
every pair is redrawn with a lighter or darker pen first: its ink contrast scaled by f about white,
grey' = 255 - f * (255 - grey), clipped. Reported per f: FRR and skilled FAR at the card's threshold, skilled EER.

    .venv/bin/python notes/size-experiment/pen.py [--model models/verifier-signet]
"""
from __future__ import annotations

import argparse

import numpy as np

from sigpipe import runtime

runtime.configure()

from sigpipe.clean import load_image, to_grey  # noqa: E402
from sigpipe.metrics import eer  # noqa: E402
from sigpipe.verifier.data import discover  # noqa: E402
from sigpipe.verifier.infer import Verifier  # noqa: E402


def pen(grey: np.ndarray, f: float) -> np.ndarray:
    return np.clip(255.0 - f * (255.0 - grey.astype(np.float64)), 0, 255).astype(np.uint8)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/data/cedar")
    ap.add_argument("--model", default="models/verifier-signet")
    ap.add_argument("--writers", default="36-45")
    ap.add_argument("--factors", default="0.4,0.6,0.8,1.0,1.5,2.5")
    ap.add_argument("--ink-norm", type=float, default=None,
                    help="scale every cleaned crop to this mean ink level (0-1) before the network, as a card's "
                         "preprocessing.ink_norm does; 'median' of the training writers' crops: --ink-norm -1")
    args = ap.parse_args()
    lo, hi = (int(x) for x in args.writers.split("-"))
    sset = discover(args.data, "cedar", writers={str(w) for w in range(lo, hi + 1)})
    writers, genuine = np.asarray(sset.writers), np.asarray(sset.genuine, bool)
    greys = [to_grey(load_image(p)) for p in sset.paths]
    v = Verifier.load(args.model)
    if args.ink_norm is not None:
        norm = args.ink_norm
        if norm < 0:  # the median mean ink level of the training writers' cleaned scans
            train = discover(args.data, "cedar", writers={str(w) for w in range(1, 36)})
            crops = v.clean(list(train.paths)).astype(np.float64) / 255.0
            norm = float(np.median([c[c > 0].mean() for c in crops if (c > 0).any()]))
        v.preprocessing = {**v.preprocessing, "ink_norm": norm}
        print(f"ink_norm {norm:.4f}")
    thr = float(v.card["threshold"]["value"])
    base = v.embed_images(greys)
    print(f"model {args.model} v{v.card['version']} threshold {thr:.3f}")
    print("| f | mean ink grey | FRR | FAR skilled | skilled EER |")
    print("|---|---|---|---|---|")
    for f in (float(x) for x in args.factors.split(",")):
        mod = [pen(g, f) for g in greys]
        emb = v.embed_images(mod)
        pos, neg = [], []
        for w in np.unique(writers):
            g = np.flatnonzero((writers == w) & genuine)
            fo = np.flatnonzero((writers == w) & ~genuine)
            s = base[g] @ emb[g].T  # first image as scanned, second redrawn
            pos.extend(s[~np.eye(len(g), dtype=bool)])
            neg.extend((base[g] @ emb[fo].T).ravel())
        pos, neg = np.array(pos), np.array(neg)
        ink = np.mean([m[m < 128].mean() for m in mod if (m < 128).any()])
        e = eer(np.r_[pos, neg], np.r_[np.ones(len(pos)), np.zeros(len(neg))])[0]
        print(f"| {f} | {ink:.0f} | {np.mean(pos < thr):.3f} | {np.mean(neg >= thr):.3f} | {e:.3f} |")


if __name__ == "__main__":
    main()
