"""Verification metrics in the field's language: FAR, FRR, ROC, AUC, EER (global and per writer), HTER.

Convention everywhere: a score is a similarity, higher = more likely genuine, and a pair is accepted as
genuine when ``score >= threshold``. Labels are 1 for a genuine pair (same writer, genuine signature) and 0
for a negative pair; ``kinds`` names the negatives: ``"skilled"`` (a forgery of the writer's signature) or
``"random"`` (another writer's genuine signature); positives are ``"genuine"``.

- FAR(t) = fraction of negatives with score >= t (accepted impostors).
- FRR(t) = fraction of positives with score < t (rejected genuine signatures).
- EER: where FAR = FRR on the ROC curve joined by straight lines (the rates at adjacent operating points,
  interpolated), with the threshold interpolated between those two points' thresholds by the same fraction
  (:func:`eer`). When the rates cross exactly at an operating point, that point's threshold and rate.
- Thresholds are fixed on development writers and then applied to test writers; never pick them on the
  test set (``eer_threshold`` in a test report is for reference only).

numpy only (matplotlib is imported inside :func:`roc_plot`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = [
    "KINDS",
    "far",
    "frr",
    "hter",
    "far_by_kind",
    "roc_curve",
    "auc",
    "eer",
    "eer_user_thresholds",
    "verification_report",
    "roc_plot",
]

KINDS = ("genuine", "skilled", "random")


def _arrays(scores: Sequence[float] | np.ndarray, labels: Sequence[int] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """-> ``(N,) float64`` scores and ``(N,) bool`` labels (True = genuine); checks shapes and values."""
    s = np.asarray(scores, dtype=np.float64).ravel()
    y = np.asarray(labels).ravel()
    if s.shape != y.shape:
        raise ValueError(f"scores and labels differ in length: {s.shape[0]} vs {y.shape[0]}")
    if not np.isfinite(s).all():
        raise ValueError("scores contain NaN or infinity")
    if y.size and not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be 0 (negative) or 1 (genuine)")
    return s, y.astype(bool)


def far(scores: Sequence[float] | np.ndarray, labels: Sequence[int] | np.ndarray, threshold: float) -> float:
    """False acceptance rate: negatives (label 0) with ``score >= threshold`` / negatives; NaN without any."""
    s, y = _arrays(scores, labels)
    neg = s[~y]
    return float(np.mean(neg >= threshold)) if neg.size else float("nan")


def frr(scores: Sequence[float] | np.ndarray, labels: Sequence[int] | np.ndarray, threshold: float) -> float:
    """False rejection rate: positives (label 1) with ``score < threshold`` / positives; NaN without any."""
    s, y = _arrays(scores, labels)
    pos = s[y]
    return float(np.mean(pos < threshold)) if pos.size else float("nan")


def hter(scores: Sequence[float] | np.ndarray, labels: Sequence[int] | np.ndarray, threshold: float) -> float:
    """Half total error rate at ``threshold``: ``(FAR + FRR) / 2``."""
    return (far(scores, labels, threshold) + frr(scores, labels, threshold)) / 2.0


def far_by_kind(
    scores: Sequence[float] | np.ndarray, kinds: Sequence[str] | np.ndarray, threshold: float
) -> dict[str, float]:
    """FAR of skilled and of random forgeries separately: ``{"skilled": ..., "random": ...}`` (NaN if none)."""
    s = np.asarray(scores, dtype=np.float64).ravel()
    k = np.asarray(kinds).ravel()
    if s.shape != k.shape:
        raise ValueError(f"scores and kinds differ in length: {s.shape[0]} vs {k.shape[0]}")
    out = {}
    for kind in ("skilled", "random"):
        sel = s[k == kind]
        out[kind] = float(np.mean(sel >= threshold)) if sel.size else float("nan")
    return out


def roc_curve(
    scores: Sequence[float] | np.ndarray, labels: Sequence[int] | np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ROC curve over every distinct score.

    Returns:
        ``(fpr, tpr, thresholds)``, each ``(K + 1,) float64`` for K distinct scores: thresholds decreasing,
        starting at ``+inf`` (accept nothing: fpr = tpr = 0) and ending at the lowest score (accept all:
        fpr = tpr = 1). ``fpr[i]`` = FAR and ``tpr[i]`` = 1 - FRR at ``score >= thresholds[i]``.

    Raises:
        ValueError: when there are no positives or no negatives (the curve is undefined).
    """
    s, y = _arrays(scores, labels)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError(f"ROC needs positives and negatives, got {n_pos} positives and {n_neg} negatives")
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    # Last index of each run of equal scores: one operating point per distinct score (ties move together).
    last = np.r_[np.flatnonzero(np.diff(s) != 0), s.size - 1]
    tp = np.cumsum(y)[last]
    fp = (last + 1) - tp
    tpr = np.r_[0.0, tp / n_pos]
    fpr = np.r_[0.0, fp / n_neg]
    return fpr, tpr, np.r_[np.inf, s[last]]


def auc(scores: Sequence[float] | np.ndarray, labels: Sequence[int] | np.ndarray) -> float:
    """Area under the ROC curve (trapezoids; equals P(genuine score > negative score), ties counted 1/2)."""
    fpr, tpr, _ = roc_curve(scores, labels)
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0))


def eer(scores: Sequence[float] | np.ndarray, labels: Sequence[int] | np.ndarray) -> tuple[float, float]:
    """Equal error rate and its threshold.

    Along the ROC (thresholds decreasing) FRR falls from 1 to 0 and FAR rises from 0 to 1. Let ``i`` be the
    first operating point with ``FRR <= FAR``. If they are equal there, that is the EER at ``thresholds[i]``;
    otherwise FAR and FRR are interpolated linearly between points ``i - 1`` and ``i`` to where they meet,
    and the threshold by the same fraction between ``thresholds[i - 1]`` and ``thresholds[i]`` (if the upper
    one is ``+inf``, ``thresholds[i]``). A threshold strictly between two scores realises the upper point's
    rates, so the interpolated EER is the error of a classifier randomising between the two neighbours.

    Returns:
        ``(eer, threshold)``; ``eer`` in [0, 1] (0 for perfect separation, at the lowest genuine score).
    """
    fpr, tpr, thr = roc_curve(scores, labels)
    fnr = 1.0 - tpr
    d = fnr - fpr  # (K + 1,) from +1 down to -1
    i = int(np.argmax(d <= 0))
    if d[i] == 0:
        return float(fpr[i]), float(thr[i])
    a = d[i - 1] / (d[i - 1] - d[i])  # fraction of the way from point i - 1 to point i, in (0, 1)
    rate = fpr[i - 1] + a * (fpr[i] - fpr[i - 1])
    t = thr[i] if not np.isfinite(thr[i - 1]) else thr[i - 1] + a * (thr[i] - thr[i - 1])
    return float(rate), float(t)


def eer_user_thresholds(
    scores: Sequence[float] | np.ndarray,
    labels: Sequence[int] | np.ndarray,
    writers: Sequence[object] | np.ndarray,
) -> float:
    """Mean over writers of each writer's own EER (sigver's ``EER_userthresholds``).

    Each writer gets the threshold that equalises its own FAR and FRR, so this measures how well a writer's
    genuine and negative scores separate, free of the calibration across writers a global threshold needs;
    it is optimistic (each threshold is chosen on the very scores it is scored on).
    Writers with no positives or no negatives are left out; NaN if none is left.
    """
    s, y = _arrays(scores, labels)
    w = np.asarray(writers).ravel()
    if w.shape != s.shape:
        raise ValueError(f"scores and writers differ in length: {s.shape[0]} vs {w.shape[0]}")
    eers = [eer(s[w == u], y[w == u])[0] for u in np.unique(w) if 0 < y[w == u].sum() < (w == u).sum()]
    return float(np.mean(eers)) if eers else float("nan")


def verification_report(
    scores: Sequence[float] | np.ndarray,
    labels: Sequence[int] | np.ndarray,
    writers: Sequence[object] | np.ndarray,
    kinds: Sequence[str] | np.ndarray,
    threshold: float,
) -> dict[str, float | int]:
    """All the numbers for one evaluation, at a threshold fixed beforehand (on development writers).

    Args:
        scores: ``(N,)`` similarities of N pairs (higher = more likely genuine).
        labels: ``(N,)`` 1 genuine pair, 0 negative.
        writers: ``(N,)`` the claimed writer of each pair (for per-writer EER).
        kinds: ``(N,)`` ``"genuine"`` for label 1, ``"skilled"`` or ``"random"`` for label 0.
        threshold: accept when ``score >= threshold``.

    Returns:
        dict with
        ``eer``, ``eer_threshold``, ``auc``, ``eer_user_thresholds``: all negatives vs genuine;
        ``eer_skilled``, ``eer_skilled_threshold``, ``auc_skilled``: skilled forgeries only vs genuine
        (sigver's EER); at ``threshold``: ``frr``, ``far`` (all negatives), ``far_skilled``, ``far_random``,
        ``hter`` = (far + frr) / 2, ``hter_skilled`` = (far_skilled + frr) / 2; counts ``n_writers``,
        ``n_pos``, ``n_neg``, ``n_skilled``, ``n_random``. Rates that need absent pairs are NaN.
    """
    s, y = _arrays(scores, labels)
    k = np.asarray(kinds).astype(str).ravel()
    w = np.asarray(writers).ravel()
    if not (k.shape == w.shape == s.shape):
        raise ValueError(f"lengths differ: scores {s.shape[0]}, writers {w.shape[0]}, kinds {k.shape[0]}")
    bad = np.setdiff1d(np.unique(k), KINDS)
    if bad.size:
        raise ValueError(f"unknown kinds {bad.tolist()}; expected {KINDS}")
    if np.any(y != (k == "genuine")):
        raise ValueError('labels and kinds disagree: label 1 must be kind "genuine" and label 0 must not')
    nan = float("nan")
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    both = n_pos > 0 and n_neg > 0
    e, et = eer(s, y) if both else (nan, nan)
    sk = (k == "genuine") | (k == "skilled")
    has_sk = n_pos > 0 and bool((k == "skilled").any())
    es, est = eer(s[sk], y[sk]) if has_sk else (nan, nan)
    fr = frr(s, y, threshold)
    fa = far(s, y, threshold)
    by_kind = far_by_kind(s, k, threshold)
    return {
        "eer": e,
        "eer_threshold": et,
        "auc": auc(s, y) if both else nan,
        "eer_user_thresholds": eer_user_thresholds(s, y, w),
        "eer_skilled": es,
        "eer_skilled_threshold": est,
        "auc_skilled": auc(s[sk], y[sk]) if has_sk else nan,
        "threshold": float(threshold),
        "frr": fr,
        "far": fa,
        "far_skilled": by_kind["skilled"],
        "far_random": by_kind["random"],
        "hter": (fa + fr) / 2.0,
        "hter_skilled": (by_kind["skilled"] + fr) / 2.0,
        "n_writers": int(np.unique(w).size),
        "n_pos": n_pos,
        "n_neg": n_neg,
        "n_skilled": int((k == "skilled").sum()),
        "n_random": int((k == "random").sum()),
    }


def roc_plot(
    path: str | Path,
    scores: Sequence[float] | np.ndarray,
    labels: Sequence[int] | np.ndarray,
    kinds: Sequence[str] | np.ndarray | None = None,
    *,
    threshold: float | None = None,
    title: str = "ROC",
) -> Path:
    """Write a ROC plot (FAR vs 1 - FRR) as PNG: all negatives, and skilled / random apart when ``kinds`` is
    given; the EER point of each curve and, if given, the operating point at ``threshold`` are marked.

    Uses matplotlib's object API with the Agg canvas (no pyplot, no display, safe in worker threads).

    Returns:
        ``path`` as a Path.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    s, y = _arrays(scores, labels)
    curves = [("all negatives", np.ones_like(y))]
    if kinds is not None:
        k = np.asarray(kinds).astype(str).ravel()
        curves += [(f"{kind} forgeries", (k == "genuine") | (k == kind)) for kind in ("skilled", "random")]
    fig = Figure(figsize=(5, 5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for name, sel in curves:
        if not (y[sel].any() and (~y[sel]).any()):
            continue
        fpr, tpr, _ = roc_curve(s[sel], y[sel])
        e, et = eer(s[sel], y[sel])
        line = ax.plot(fpr, tpr, label=f"{name}: AUC {auc(s[sel], y[sel]):.3f}, EER {e:.1%}")[0]
        ax.plot([e], [1 - e], "o", color=line.get_color())
        if threshold is not None:
            ax.plot(
                [np.mean(s[sel][~y[sel]] >= threshold)],
                [np.mean(s[sel][y[sel]] >= threshold)],
                "x",
                color=line.get_color(),
                markersize=9,
            )
    ax.plot([0, 1], [1, 0], ":", color="grey", linewidth=0.8)  # FAR = FRR
    ax.set(xlim=(0, 1), ylim=(0, 1.005), xlabel="FAR", ylabel="1 - FRR", title=title)
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(p, format="png")
    return p
