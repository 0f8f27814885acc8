"""The verification protocol: which pairs are compared, writer-independent and writer-dependent.

Writer-independent (for each writer): every genuine-genuine pair (positives), every genuine-skilled
forgery pair (skilled negatives), and each genuine signature of the writer against a fixed-seed sample of
other writers' genuine signatures (random negatives).

Writer-dependent (``references=K``): per writer, K genuine signatures (fixed-seed choice) are enrolled;
the other genuine signatures are positive queries, its forgeries skilled queries and a fixed-seed sample of
other writers' genuine signatures random queries; a query's score aggregates its similarities to the
references (:mod:`sigpipe.verify`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sigpipe import verify

__all__ = ["Pairs", "audit_rates", "evaluate_folder", "report", "wd_pairs", "wd_settings", "wi_pairs"]

KINDS = ("genuine", "skilled", "random")


@dataclass(frozen=True)
class Pairs:
    """Scored comparisons: ``scores (P,) float32``, ``labels (P,) bool`` (1 = same writer), ``writers (P,)``
    (the claimed writer), ``kinds (P,)`` in :data:`KINDS`."""

    scores: np.ndarray
    labels: np.ndarray
    writers: np.ndarray
    kinds: np.ndarray

    def subset(self, mask: np.ndarray) -> Pairs:
        return Pairs(self.scores[mask], self.labels[mask], self.writers[mask], self.kinds[mask])


def _random_others(rng: np.random.Generator, writers: np.ndarray, genuine: np.ndarray, w: str,
                   n: int | None) -> np.ndarray:
    others = np.flatnonzero(genuine & (writers != w))
    if n is None or n >= len(others):
        return others
    return np.sort(rng.choice(others, size=n, replace=False))


def wi_pairs(emb: np.ndarray, writers: np.ndarray, genuine: np.ndarray, n_random: int | None = None,
             seed: int = 0, groups: np.ndarray | None = None) -> Pairs:
    """Writer-independent pairs over ``emb (N, D)``; ``n_random`` other-writer genuine signatures per writer
    (None: as many as the writer has genuine ones; 0: none), each compared with all its genuine ones.

    ``groups (N,)``: for a writer without forgeries, the genuine signatures of other writers in its
    (non-empty) group, i.e. the same name by other hands (crossmedia), count as its skilled negatives.
    """
    rng = np.random.default_rng(seed)
    writers = np.asarray(writers).astype(str)
    genuine = np.asarray(genuine, bool)
    groups = np.full(len(writers), "", dtype=object) if groups is None else np.asarray(groups, dtype=object)
    sim = verify.cosine(emb, emb)
    out_s, out_k, out_w = [], [], []
    for w in sorted(set(writers[genuine])):
        g = np.flatnonzero((writers == w) & genuine)
        f = np.flatnonzero((writers == w) & ~genuine)
        if not len(f) and groups[g[0]]:
            f = np.flatnonzero((groups == groups[g[0]]) & (writers != w) & genuine)
        iu = np.triu_indices(len(g), k=1)
        pos = sim[np.ix_(g, g)][iu]
        skl = sim[np.ix_(g, f)].ravel()
        r = _random_others(rng, writers, genuine, w, len(g) if n_random is None else n_random)
        r = r[~np.isin(r, f)]  # a same-name signature by another hand is a skilled-like negative, not random
        rnd = sim[np.ix_(g, r)].ravel()
        for s, k in ((pos, "genuine"), (skl, "skilled"), (rnd, "random")):
            out_s.append(s)
            out_k.append(np.full(len(s), k, dtype=object))
            out_w.append(np.full(len(s), w, dtype=object))
    scores = np.concatenate(out_s).astype(np.float32)
    kinds = np.concatenate(out_k)
    return Pairs(scores, kinds == "genuine", np.concatenate(out_w), kinds)


def wd_pairs(emb: np.ndarray, writers: np.ndarray, genuine: np.ndarray, references: int, wd: dict[str, Any],
             n_random: int | None = None, seed: int = 0, per_writer: bool = True, normalise: bool = False) -> Pairs:
    """Writer-dependent queries with ``references`` enrolled per writer and the card's settings ``wd``.

    With ``per_writer`` and a ``per_writer`` block in ``wd``, writers with enough references get their own
    threshold and the scores are shifted (``s - t_w + t``) so the global threshold ``wd["threshold"]``
    applies to all; ``normalise`` also rescales each writer's shift to the population's spread
    (:func:`sigpipe.verify.writer_scores`), which leaves every decision at the threshold unchanged.
    """
    rng = np.random.default_rng(seed)
    writers = np.asarray(writers).astype(str)
    genuine = np.asarray(genuine, bool)
    settings = dict(wd)
    if not per_writer:
        settings.pop("per_writer", None)
    out_s, out_k, out_w = [], [], []
    for w in sorted(set(writers[genuine])):
        g = np.flatnonzero((writers == w) & genuine)
        if len(g) <= references:
            continue
        g = rng.permutation(g)
        f = np.flatnonzero((writers == w) & ~genuine)
        r = _random_others(rng, writers, genuine, w, (len(g) - references) if n_random is None else n_random)
        m = verify.enroll(w, emb[g[:references]], settings)
        for q, k in ((g[references:], "genuine"), (f, "skilled"), (r, "random")):
            s = (verify.writer_scores(m, emb[q], float(wd["threshold"]), normalise) if len(q)
                 else np.zeros(0, np.float32))
            out_s.append(s)
            out_k.append(np.full(len(s), k, dtype=object))
            out_w.append(np.full(len(s), w, dtype=object))
    if not out_s:
        raise ValueError(f"no writer has more than {references} genuine signatures")
    scores = np.concatenate(out_s).astype(np.float32)
    kinds = np.concatenate(out_k)
    return Pairs(scores, kinds == "genuine", np.concatenate(out_w), kinds)


def report(pairs: Pairs, threshold: float) -> dict[str, Any]:
    """:func:`sigpipe.metrics.verification_report` on the pairs at a fixed ``threshold``, plus the EER of
    genuine vs random forgeries only (``eer_random``)."""
    from sigpipe.metrics import verification_report

    rep = dict(verification_report(pairs.scores, pairs.labels, pairs.writers, pairs.kinds, threshold))
    m = pairs.kinds != "skilled"
    if (pairs.kinds[m] == "random").any() and pairs.labels.any():
        rep["eer_random"] = verify.eer_threshold(pairs.scores[m], pairs.labels[m])[0]
    return rep


def audit_rates(pairs: Pairs, threshold: float, band: tuple[float, float]) -> dict[str, float]:
    """Shares of genuine and skilled queries an audit would decide ``forgery`` / ``inconclusive`` / ``genuine``
    with the inconclusive ``band (below, above)`` around ``threshold`` (:func:`sigpipe.audit.decide`), on pooled
    scores in population units (:func:`wd_pairs` with ``normalise``)."""
    below, above = band
    forged = pairs.scores < threshold - below
    accepted = pairs.scores >= threshold + above
    out = {"audit_band": [float(below), float(above)]}
    for kind, name in (("genuine", "genuine"), ("skilled", "skilled")):
        m = pairs.kinds == kind
        if m.any():
            out[f"audit_{name}_as_forgery"] = float(forged[m].mean())
            out[f"audit_{name}_inconclusive"] = float((~forged[m] & ~accepted[m]).mean())
            out[f"audit_{name}_as_genuine"] = float(accepted[m].mean())
    return out


def wd_settings(card_wd: dict[str, Any], references: int) -> dict[str, Any]:
    """The card's writer-dependent calibration for ``references`` (the nearest calibrated K when absent)."""
    by_k = card_wd.get("by_references") or {}
    if not by_k:
        raise ValueError("the model card has no writer-dependent calibration")
    k = min(by_k, key=lambda s: (abs(int(s) - references), -int(s)))
    return {**by_k[k], "calibrated_references": int(k)}


def evaluate_folder(model: str | Path, data: str | Path, layout: str | None = None, writers: set[str] | None = None,
                    references: int | None = None, roc: str | Path | None = None, seed: int = 0,
                    n_random: int | None = None, workers: int = 1, per_writer: bool = True) -> dict[str, Any]:
    """Evaluate a model folder on a data folder; returns the report dict (see :func:`report`).

    Writer-independent by default; with ``references`` writer-dependent (aggregation and thresholds from
    the card). ``roc``: also write a ROC PNG there.
    """
    from sigpipe.verifier.data import discover, load_clean
    from sigpipe.verifier.infer import Verifier

    v = Verifier.load(model)
    sset = discover(data, layout, writers)
    kw = v.clean_kwargs
    size, canvas = kw.pop("size"), kw.pop("canvas")
    x = load_clean(sset.paths, size, canvas, workers, **kw)
    emb = v.embed_clean(x)
    w, g = sset.writers.astype(str), sset.genuine
    if references is None:
        pairs = wi_pairs(emb, w, g, n_random=n_random, seed=seed, groups=sset.groups)
        thr = float(v.threshold)
        rep = report(pairs, thr)
        rep["mode"] = "writer-independent"
    else:
        wd = wd_settings(v.writer_dependent or {}, references)
        pairs = wd_pairs(emb, w, g, references, wd, n_random=n_random, seed=seed, per_writer=per_writer)
        thr = float(wd["threshold"])
        rep = report(pairs, thr)
        pw = per_writer and "per_writer" in wd and references >= int(wd["per_writer"].get("min_references", 5))
        rep.update({"mode": "writer-dependent", "references": references, "aggregation": wd["aggregation"],
                    "calibrated_references": wd["calibrated_references"],
                    "thresholds": "per-writer (reference spread)" if pw else "global (card)"})
        if wd.get("inconclusive_band"):
            # the audit's three-way decision with the card's band (population units; the same queries, with scores
            # rescaled to the population's spread, so one band applies to all writers)
            norm = wd_pairs(emb, w, g, references, wd, n_random=n_random, seed=seed, per_writer=per_writer,
                            normalise=True)
            rep.update(audit_rates(norm, thr, tuple(wd["inconclusive_band"])))
    if roc is not None:
        from sigpipe.metrics import roc_plot

        roc_plot(roc, pairs.scores, pairs.labels, pairs.kinds, threshold=thr,
                 title=f"{Path(model).name} on {Path(data).name} ({rep['mode']})")
    rep.update({"model": str(model), "data": str(data), "n_images": len(sset)})
    return rep
