"""Scores, thresholds and decisions on verifier embeddings; writer-dependent enrolment and calibration.

Embeddings are L2-normalised ``(N, D) float32`` rows, so a score is a cosine similarity in [-1, 1]; a
pair is accepted as "same writer" when ``score >= threshold``. The writer-independent threshold comes
from the model card (fixed on validation writers, never on test writers).

Writer-dependent mode: a writer enrolled with K genuine references is scored by aggregating a query's
similarities to the references (``max``, ``mean``, ``centroid`` or ``top2``). With enough references the
writer gets its own threshold from the spread of its leave-one-out reference scores
(``t_w = mu_w - z * sigma_w``, sigma shrunk toward the population value), with ``z`` calibrated on
validation writers (:func:`calibrate_writer_dependent`). Such a writer's scores are in units of its own spread:
``WriterModel.scale = max(1, sigma_w / sigma_pop)`` converts a margin fixed at the population's spread (the
audit's inconclusive band) into the writer's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["AGGREGATIONS", "WriterModel", "aggregate", "calibrate_writer_dependent", "cosine", "decide",
           "enroll", "eer_threshold", "pair_scores", "wd_scores", "writer_scores"]

AGGREGATIONS = ("max", "mean", "centroid", "top2")


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """All-pairs cosine similarity ``(N, D), (M, D) -> (N, M) float32`` (rows re-normalised defensively)."""
    a = np.asarray(a, np.float32)
    b = np.asarray(b, np.float32)
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return a @ b.T


def pair_scores(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of two aligned ``(N, D)`` arrays -> ``(N,)``."""
    a = np.asarray(a, np.float32)
    b = np.asarray(b, np.float32)
    num = (a * b).sum(1)
    return num / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)


def decide(scores: np.ndarray | float, threshold: float) -> np.ndarray:
    """True ("same writer") where ``score >= threshold``."""
    return np.asarray(scores) >= threshold


def eer_threshold(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Equal error rate and the threshold where it occurs, ``scores (N,)``, ``labels (N,)`` (1 = same writer).

    The definition is :func:`sigpipe.metrics.eer` (ROC interpolated); this is the calibration entry point
    used to fix thresholds on validation writers.
    """
    from sigpipe.metrics import eer

    labels = np.asarray(labels).astype(bool)
    if labels.all() or not labels.any():
        raise ValueError("eer_threshold needs both positive and negative scores")
    return eer(scores, labels.astype(np.int8))


def aggregate(sims: np.ndarray, how: str) -> np.ndarray:
    """Combine query-to-reference similarities ``(Q, K) -> (Q,)``; ``centroid`` is handled by :func:`wd_scores`."""
    if how == "max":
        return sims.max(axis=1)
    if how == "mean":
        return sims.mean(axis=1)
    if how == "top2":
        k = min(2, sims.shape[1])
        return np.sort(sims, axis=1)[:, -k:].mean(axis=1)
    raise ValueError(f"unknown aggregation {how!r}; known: {AGGREGATIONS}")


def wd_scores(queries: np.ndarray, refs: np.ndarray, how: str) -> np.ndarray:
    """Writer-dependent scores of ``queries (Q, D)`` against one writer's ``refs (K, D)`` -> ``(Q,)``."""
    if how == "centroid":
        c = refs.mean(axis=0, keepdims=True)
        return cosine(queries, c)[:, 0]
    return aggregate(cosine(queries, refs), how)


def _loo_scores(refs: np.ndarray, how: str) -> np.ndarray:
    """Leave-one-out scores of each reference against the others ``(K,)``: the writer's own genuine spread."""
    k = len(refs)
    return np.array([wd_scores(refs[i : i + 1], np.delete(refs, i, axis=0), how)[0] for i in range(k)], np.float32)


@dataclass(frozen=True)
class WriterModel:
    """An enrolled writer: references ``(K, D)``, centroid ``(D,)``, aggregation and decision threshold."""

    writer: str
    refs: np.ndarray
    centroid: np.ndarray
    aggregation: str
    threshold: float
    per_writer: bool  # True when the threshold came from this writer's own reference spread
    stats: dict[str, float] = field(default_factory=dict)

    @property
    def scale(self) -> float:
        """How much wider this writer's score margins are than the population's: ``sigma_w / sigma_pop``, at
        least 1 (1 with the global threshold). A margin fixed on validation writers is worth ``margin * scale``
        for this writer. Never below 1: K references show how the writer varies, not how much the document
        channel (scan, stamps, the detector's box) adds to it, which is no smaller for a consistent writer."""
        if not self.per_writer or not self.stats.get("sigma_pop"):
            return 1.0
        return max(1.0, self.stats["sigma"] / self.stats["sigma_pop"])

    def score(self, queries: np.ndarray) -> np.ndarray:
        """``(Q, D) -> (Q,)`` aggregated similarity to the references."""
        return wd_scores(np.atleast_2d(queries), self.refs, self.aggregation)

    def verify(self, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(Q, D) -> (scores (Q,), accepted (Q,) bool)``."""
        s = self.score(queries)
        return s, decide(s, self.threshold)


def enroll(writer: str, refs: np.ndarray, wd: dict[str, Any]) -> WriterModel:
    """Enrol ``refs (K, D)`` with the card's writer-dependent settings ``wd``.

    ``wd`` keys: ``aggregation``, ``threshold`` (global writer-dependent threshold), and optionally
    ``per_writer`` = ``{"z", "sigma_pop", "kappa", "min_references"}``: with at least ``min_references``
    references the threshold becomes ``mu_w - z * sigma_w``, where mu_w/sigma_w are the mean/std of the
    leave-one-out reference scores and ``sigma_w^2 = (K s^2 + kappa sigma_pop^2) / (K + kappa)``.
    """
    refs = np.asarray(refs, np.float32)
    if refs.ndim != 2 or len(refs) == 0:
        raise ValueError("enroll needs refs of shape (K, D) with K >= 1")
    how = wd.get("aggregation", "mean")
    thr = float(wd["threshold"])
    pw = wd.get("per_writer")
    stats: dict[str, float] = {}
    per_writer = False
    if pw and len(refs) >= max(2, int(pw.get("min_references", 5))):
        loo = _loo_scores(refs, how)
        k = len(loo)
        sigma = float(np.sqrt((k * loo.var() + pw["kappa"] * pw["sigma_pop"] ** 2) / (k + pw["kappa"])))
        mu = float(loo.mean())
        thr = mu - float(pw["z"]) * sigma
        stats = {"mu": mu, "sigma": sigma, "sigma_pop": float(pw["sigma_pop"])}
        per_writer = True
    c = refs.mean(axis=0)
    c = c / max(float(np.linalg.norm(c)), 1e-12)
    return WriterModel(writer, refs, c, how, thr, per_writer, stats)


def writer_scores(model: WriterModel, queries: np.ndarray, global_threshold: float,
                  normalise: bool = False) -> np.ndarray:
    """Scores shifted so that ``global_threshold`` applies to every writer: ``s - t_w + t_global`` ``(Q,)``.

    Lets per-writer thresholds be pooled into one ROC/EER (writer-specific score normalisation). With
    ``normalise`` the shift is also rescaled to the population's spread, ``(s - t_w) / scale + t_global``
    (:attr:`WriterModel.scale`), so that margins measured on pooled scores are in population units.
    """
    d = model.score(queries) - model.threshold
    return (d / model.scale if normalise else d) + global_threshold


def calibrate_writer_dependent(emb: np.ndarray, writers: np.ndarray, genuine: np.ndarray, references: int,
                               aggregation: str = "mean", seed: int = 0, kappa: float = 4.0,
                               z_grid: np.ndarray | None = None) -> dict[str, Any]:
    """Fix writer-dependent settings on validation writers: the global WD threshold (EER point, skilled)
    and the per-writer ``z`` minimising the pooled HTER (FRR and skilled FAR) at per-writer thresholds.

    ``emb (N, D)``, ``writers (N,)``, ``genuine (N,) bool``. Returns the card's ``writer_dependent`` dict.
    """
    rng = np.random.default_rng(seed)
    rows = []  # (writer, references, genuine queries, skilled queries)
    for w in np.unique(writers):
        g = np.flatnonzero((writers == w) & genuine)
        f = np.flatnonzero((writers == w) & ~genuine)
        if len(g) <= references or len(f) == 0:
            continue
        g = rng.permutation(g)
        refs, q_pos = emb[g[:references]], emb[g[references:]]
        rows.append((w, refs, q_pos, emb[f]))
    if not rows:
        raise ValueError("no validation writer has more genuine signatures than references, plus forgeries")
    return calibrate_rows(rows, references, aggregation, kappa, z_grid)


def calibrate_rows(rows: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]], references: int,
                   aggregation: str = "mean", kappa: float = 4.0, z_grid: np.ndarray | None = None) -> dict[str, Any]:
    """:func:`calibrate_writer_dependent` on writers already split: ``rows`` of ``(writer, refs (K, D), genuine
    queries (P, D), skilled queries (F, D))``. The queries need not be the references' kind of image: documents'
    crops against enrolled scans calibrate what an audit scores (:mod:`sigpipe.verifier.recalibrate`)."""
    if not rows:
        raise ValueError("no writer to calibrate on")
    s_all, y_all = [], []
    loo_all, loo_std = [], []
    for _, refs, q_pos, q_neg in rows:
        s_all += [wd_scores(q_pos, refs, aggregation), wd_scores(q_neg, refs, aggregation)]
        y_all += [np.ones(len(q_pos), bool), np.zeros(len(q_neg), bool)]
        if len(refs) >= 2:
            loo = _loo_scores(refs, aggregation)
            loo_all.append(loo)
            loo_std.append(loo.std())
    eer, thr = eer_threshold(np.concatenate(s_all), np.concatenate(y_all))
    out: dict[str, Any] = {"aggregation": aggregation, "references": references, "threshold": thr,
                           "threshold_method": "EER point (genuine vs skilled) on validation writers",
                           "validation_eer": eer}
    if loo_all:
        sigma_pop = float(np.sqrt(np.mean(np.square(loo_std))))
        z_grid = np.linspace(-1.0, 6.0, 71) if z_grid is None else z_grid
        best = None
        for z in z_grid:
            pw = {"z": float(z), "sigma_pop": sigma_pop, "kappa": kappa, "min_references": 2}
            frr_n = far_n = n_pos = n_neg = 0
            for w, refs, q_pos, q_neg in rows:
                m = enroll(str(w), refs, {"aggregation": aggregation, "threshold": thr, "per_writer": pw})
                frr_n += int((~m.verify(q_pos)[1]).sum())
                far_n += int(m.verify(q_neg)[1].sum())
                n_pos, n_neg = n_pos + len(q_pos), n_neg + len(q_neg)
            hter = (frr_n / n_pos + far_n / n_neg) / 2
            if best is None or hter < best[0] - 1e-9:
                best = (hter, float(z))
        out["per_writer"] = {"z": best[1], "sigma_pop": sigma_pop, "kappa": kappa, "min_references": 5,
                             "validation_hter": best[0]}
    return out
