"""Does what the cleaner throws away (the ink's size, its stroke width) tell a skilled forgery from a genuine signature?

Throw-away diagnostic (session 34). For every CEDAR scan: the shipped verifier's embedding, and a few global
measurements of the ink at the scan's own resolution: ink box width and height, ink pixel count, mean stroke
width (ink pixels over skeleton-ish length from a distance transform). Pair features: the cosine and the absolute
log ratios of the measurements. A logistic regression is fitted on pairs of writers 1-35 (genuine-genuine against
genuine-skilled and genuine-random) and tested on writers 36-45 (skilled EER), against the cosine alone.

    .venv/bin/python notes/size-experiment/features.py [--model models/verifier-signet] [--cache .state/size-feat.npz]
"""
from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import cv2
import numpy as np

from sigpipe import runtime

runtime.configure()

import torch  # noqa: E402

from sigpipe.clean import _denoise, _ink_components, load_image, otsu_threshold, to_grey  # noqa: E402
from sigpipe.metrics import eer  # noqa: E402
from sigpipe.verifier.data import discover  # noqa: E402
from sigpipe.verifier.infer import Verifier  # noqa: E402


def measure(path: str) -> np.ndarray:
    """(5,) float: ink box width, height (px), ink pixels, mean stroke width (px), ink darkness (0-255)."""
    grey = to_grey(load_image(path))
    work = _denoise(grey, 3)
    t, _ = otsu_threshold(work)
    keep, box = _ink_components(work, t, 0.002)
    y0, y1, x0, x1 = box
    ink = keep[y0:y1, x0:x1] > 0
    n = float(ink.sum())
    dist = cv2.distanceTransform(ink.astype(np.uint8), cv2.DIST_L2, 3)
    # mean over the ridge (local maxima of the distance) of 2 * distance: the stroke width
    ridge = (dist >= cv2.dilate(dist, np.ones((3, 3), np.uint8))) & ink
    sw = float(2 * dist[ridge].mean()) if ridge.any() else 0.0
    dark = float(255 - work[y0:y1, x0:x1][ink].mean())
    return np.array([x1 - x0, y1 - y0, n, sw, dark], np.float64)


def pair_features(emb: np.ndarray, meas: np.ndarray, a: np.ndarray, b: np.ndarray, use: list[int]) -> np.ndarray:
    cos = (emb[a] * emb[b]).sum(1)
    logm = np.log(np.maximum(meas, 1e-3))
    diff = np.abs(logm[a] - logm[b])[:, use]
    return np.column_stack([cos, diff])


def pairs(writers: np.ndarray, genuine: np.ndarray, ws: list[str], rng: np.random.Generator, n_random: int = 12):
    """Index arrays (a, b, y, skilled): genuine-genuine y=1; genuine-skilled y=0 skilled=1; random y=0."""
    A, B, Y, S = [], [], [], []  # noqa: N806
    for w in ws:
        g = np.flatnonzero((writers == w) & genuine)
        f = np.flatnonzero((writers == w) & ~genuine)
        for i, j in itertools.combinations(g, 2):
            A.append(i), B.append(j), Y.append(1), S.append(0)
        for i in g:
            for j in f:
                A.append(i), B.append(j), Y.append(0), S.append(1)
        others = np.flatnonzero(np.isin(writers, ws) & (writers != w) & genuine)
        for i in g:
            for j in rng.choice(others, n_random, replace=False):
                A.append(i), B.append(j), Y.append(0), S.append(0)
    return np.array(A), np.array(B), np.array(Y), np.array(S)


def fit_logreg(x: np.ndarray, y: np.ndarray, w: np.ndarray, l2: float = 1e-3) -> tuple[np.ndarray, ...]:
    mu, sd = x.mean(0), x.std(0) + 1e-9
    xt = torch.tensor((x - mu) / sd, dtype=torch.float64)
    yt = torch.tensor(y, dtype=torch.float64)
    wt = torch.tensor(w, dtype=torch.float64)
    coef = torch.zeros(x.shape[1] + 1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([coef], max_iter=500, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        z = xt @ coef[1:] + coef[0]
        loss = (wt * torch.nn.functional.binary_cross_entropy_with_logits(z, yt, reduction="none")).sum() / wt.sum()
        loss = loss + l2 * (coef[1:] ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return coef.detach().numpy(), mu, sd


def score(coef, mu, sd, x):
    return ((x - mu) / sd) @ coef[1:] + coef[0]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/data/cedar")
    ap.add_argument("--model", default="models/verifier-signet")
    ap.add_argument("--cache", default=".state/size-feat.npz")
    args = ap.parse_args()
    sset = discover(args.data, "cedar")
    paths = [str(p) for p in sset.paths]
    writers, genuine = np.asarray(sset.writers), np.asarray(sset.genuine, bool)
    cache = Path(args.cache)
    if cache.exists():
        z = np.load(cache)
        emb, meas = z["emb"], z["meas"]
    else:
        meas = np.stack([measure(p) for p in paths])
        v = Verifier.load(args.model)
        emb = v.embed_images(paths)
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, emb=emb, meas=meas)

    names = ["width", "height", "ink", "stroke", "dark"]
    tr = [str(w) for w in range(1, 36)]
    te = [str(w) for w in range(36, 46)]
    rng = np.random.default_rng(0)
    a, b, y, s = pairs(writers, genuine, tr, rng)
    ta, tb, ty, ts = pairs(writers, genuine, te, rng)
    test_sk = (ty == 1) | (ts == 1)
    # per-measurement: AUC-ish view as the skilled EER of -|log ratio| alone, on train and test writers
    for k, nm in enumerate(names):
        logm = np.log(np.maximum(meas[:, k], 1e-3))
        d_tr = -np.abs(logm[a] - logm[b])
        d_te = -np.abs(logm[ta] - logm[tb])
        trs = (y == 1) | (s == 1)
        print(f"{nm:7s} alone: skilled EER train {eer(d_tr[trs], y[trs])[0]:.3f} "
              f"test {eer(d_te[test_sk], ty[test_sk])[0]:.3f}"
              f"   genuine median {np.median(meas[genuine, k]):.1f} forged {np.median(meas[~genuine, k]):.1f}")
    cos_te = (emb[ta] * emb[tb]).sum(1)
    print(f"cosine alone: test skilled EER {eer(cos_te[test_sk], ty[test_sk])[0]:.3f}")
    for use in ([0, 1], [0, 1, 2], [3], [4], [0, 1, 2, 3], [0, 1, 2, 3, 4]):
        x = pair_features(emb, meas, a, b, use)
        wgt = np.where(y == 1, 1.0, np.where(s == 1, 1.0, 0.3))
        coef, mu, sd = fit_logreg(x, y.astype(float), wgt)
        st = score(coef, mu, sd, pair_features(emb, meas, ta, tb, use))
        label = "+".join(names[u] for u in use)
        rnd = (ty == 1) | (ts == 0)
        print(f"cosine + {label:28s} test skilled EER {eer(st[test_sk], ty[test_sk])[0]:.3f}  "
              f"random EER {eer(st[rnd], ty[rnd])[0]:.3f}  coef {np.round(coef, 2)}")


if __name__ == "__main__":
    main()
