"""The background trap: can a trivial classifier tell CEDAR genuine from forged by the background alone?

CEDAR's genuine scans have a grey background (~239), its forgeries a white one (~254). This fits a 1-D
logistic regression (numpy, Newton) and a best-threshold stump on simple intensity features of the raw
scans and of the same scans after ``sigpipe.clean.clean``, cross-validated by writer (no writer in both the
fitting and the scoring folds), and prints the accuracies. Chance is 50% (1,080 genuine, 1,080 forged).

    .venv/bin/python bench/background_leak.py [--size 150 220] [--folds 5] [--json]
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sigpipe.clean import clean_batch, ink_mask, load_image  # noqa: E402

CEDAR = ROOT.parent / "shared" / "data" / "cedar"


def _background(img: np.ndarray) -> np.ndarray:
    """Pixels of a dark-ink-on-light ``(H, W) uint8`` image outside its ink mask -> ``(M,) uint8``."""
    return img[~ink_mask(img)]


# name -> (feature of a raw scan (dark ink on light), feature of a cleaned crop (ink high, background 0)).
# Each side in its own polarity; the cleaned crop's ink mask is taken on 255 - crop (dark ink on light, as
# for the raw scan), so "background" is found the same way on both sides and is ~0 after cleaning.
FEATURES: dict[str, tuple[Callable[[np.ndarray], float], Callable[[np.ndarray], float]]] = {
    "mean intensity (whole image)": (lambda g: float(g.mean()), lambda c: float(c.mean())),
    "background mean": (lambda g: float(_background(g).mean()), lambda c: float(c[~ink_mask(255 - c)].mean())),
    "background median": (
        lambda g: float(np.median(_background(g))),
        lambda c: float(np.median(c[~ink_mask(255 - c)])),
    ),
    "ink mean": (lambda g: float(g[ink_mask(g)].mean()), lambda c: float(c[c > 0].mean())),
    "ink fraction": (lambda g: float(ink_mask(g).mean()), lambda c: float((c > 0).mean())),
}


def _folds(writers: np.ndarray, k: int) -> list[np.ndarray]:
    """Writer ids split into ``k`` interleaved folds -> list of ``(N,) bool`` test masks."""
    uniq = np.unique(writers)
    return [np.isin(writers, uniq[i::k]) for i in range(k)]


def _logreg_fit(x: np.ndarray, y: np.ndarray, iters: int = 50, l2: float = 1e-3) -> tuple[np.ndarray, float, float]:
    """Logistic regression on ``(N, D)`` features, ``(N,)`` 0/1 labels by Newton's method (standardised x)."""
    mu, sd = x.mean(0), x.std(0) + 1e-9
    z = np.c_[np.ones(len(x)), (x - mu) / sd]  # (N, D + 1)
    w = np.zeros(z.shape[1])
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-np.clip(z @ w, -30, 30)))
        grad = z.T @ (p - y) + l2 * w
        hess = (z * (p * (1 - p))[:, None]).T @ z + l2 * np.eye(len(w))
        w -= np.linalg.solve(hess, grad)
    return w, mu, sd


def _logreg_acc(xtr, ytr, xte, yte) -> float:
    w, mu, sd = _logreg_fit(xtr, ytr)
    pred = (np.c_[np.ones(len(xte)), (xte - mu) / sd] @ w) > 0
    return float(np.mean(pred == yte))


def _stump_acc(xtr, ytr, xte, yte) -> float:
    """Best single threshold (and direction) on the training folds, scored on the test fold (1-D x)."""
    xs = np.unique(xtr[:, 0])
    cuts = np.r_[xs[0] - 1, (xs[1:] + xs[:-1]) / 2, xs[-1] + 1]
    best = max(((np.mean((xtr[:, 0] > c) == ytr), c, True) for c in cuts), key=lambda t: t[0])
    best = max(best, max(((np.mean((xtr[:, 0] <= c) == ytr), c, False) for c in cuts), key=lambda t: t[0]))
    _, c, up = best
    pred = xte[:, 0] > c if up else xte[:, 0] <= c
    return float(np.mean(pred == yte))


def _cv(x: np.ndarray, y: np.ndarray, writers: np.ndarray, k: int, fit) -> tuple[float, float]:
    accs = [fit(x[~te], y[~te], x[te], y[te]) for te in _folds(writers, k)]
    return float(np.mean(accs)), float(np.std(accs))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=CEDAR, help="CEDAR folder with manifest.csv")
    ap.add_argument("--size", type=int, nargs=2, default=(150, 220), metavar=("H", "W"), help="clean() size")
    ap.add_argument("--folds", type=int, default=5, help="writer-disjoint cross-validation folds")
    ap.add_argument("--workers", type=int, default=1, help="threads for cleaning")
    ap.add_argument("--binarize", action="store_true", help="clean(binarize=True): ink at 255, not its grey")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    a = ap.parse_args()
    if not (a.data / "manifest.csv").is_file():
        sys.exit(f"no CEDAR manifest at {a.data / 'manifest.csv'} (see shared/data/README.md)")

    rows = list(csv.DictReader((a.data / "manifest.csv").open()))
    y = np.array([r["label"] == "genuine" for r in rows], dtype=float)  # 1 genuine, 0 forged
    writers = np.array([int(r["writer"]) for r in rows])
    t0 = time.perf_counter()
    raw = [load_image(a.data / r["path"]) for r in rows]
    cleaned = clean_batch(raw, tuple(a.size), workers=a.workers, binarize=a.binarize)  # (N, h, w)
    t_prep = time.perf_counter() - t0

    results = []
    for name, (f_raw, f_clean) in FEATURES.items():
        for side, imgs, f in (("raw", raw, f_raw), ("cleaned", cleaned, f_clean)):
            x = np.array([f(im) for im in imgs])[:, None]  # (N, 1)
            lr, lr_sd = _cv(x, y, writers, a.folds, _logreg_acc)
            st, st_sd = _cv(x, y, writers, a.folds, _stump_acc)
            results.append(
                {
                    "feature": name,
                    "input": side,
                    "genuine_mean": float(x[y == 1].mean()),
                    "forged_mean": float(x[y == 0].mean()),
                    "logreg_acc": lr,
                    "logreg_acc_sd": lr_sd,
                    "stump_acc": st,
                    "stump_acc_sd": st_sd,
                }
            )
    out = {
        "data": str(a.data),
        "n_images": len(rows),
        "n_writers": int(np.unique(writers).size),
        "size": list(a.size),
        "folds": a.folds,
        "binarize": a.binarize,
        "prep_seconds": round(t_prep, 1),
        "results": results,
    }
    if a.json:
        print(json.dumps(out, indent=1))
        return
    print(
        f"CEDAR background leak: {out['n_images']} images, {out['n_writers']} writers, "
        f"{a.folds}-fold CV by writer, clean size {a.size[0]}x{a.size[1]}"
        f"{', binarize' if a.binarize else ''}; chance = 50%"
    )
    hdr = f"{'feature':30s} {'input':8s} {'genuine':>9s} {'forged':>9s} {'logreg acc':>14s} {'stump acc':>14s}"
    print(hdr)
    print("-" * len(hdr))
    for r in results:
        print(
            f"{r['feature']:30s} {r['input']:8s} {r['genuine_mean']:9.3f} {r['forged_mean']:9.3f} "
            f"{r['logreg_acc']:8.1%} ±{r['logreg_acc_sd']:4.1%} {r['stump_acc']:8.1%} ±{r['stump_acc_sd']:4.1%}"
        )


if __name__ == "__main__":
    main()
