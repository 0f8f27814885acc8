"""Scores, thresholds, decisions and writer-dependent calibration (sigpipe.verify)."""

from __future__ import annotations

import numpy as np
import pytest

from sigpipe import verify


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def test_cosine_and_pair_scores():
    a = np.array([[1, 0], [0, 2]], np.float32)
    b = np.array([[3, 0], [1, 1]], np.float32)
    np.testing.assert_allclose(verify.cosine(a, b), [[1, 0.70710677], [0, 0.70710677]], rtol=1e-6)
    np.testing.assert_allclose(verify.pair_scores(a, b), [1, 0.70710677], rtol=1e-6)


def test_decide_is_inclusive():
    assert verify.decide(np.array([0.49, 0.5, 0.51]), 0.5).tolist() == [False, True, True]


def test_eer_threshold_separable_and_overlapping():
    s = np.array([0.9, 0.8, 0.7, 0.3, 0.2, 0.1])
    y = np.array([1, 1, 1, 0, 0, 0])
    e, t = verify.eer_threshold(s, y)
    assert e == 0 and 0.3 < t <= 0.7
    s2 = np.array([0.9, 0.8, 0.25, 0.3, 0.2, 0.1])  # one positive below one negative
    e2, _ = verify.eer_threshold(s2, y)
    assert 0 < e2 < 0.5
    with pytest.raises(ValueError):
        verify.eer_threshold(s, np.ones(6))


def test_aggregations():
    sims = np.array([[0.1, 0.5, 0.9], [0.2, 0.2, 0.8]])
    assert verify.aggregate(sims, "max").tolist() == [0.9, 0.8]
    np.testing.assert_allclose(verify.aggregate(sims, "mean"), [0.5, 0.4])
    np.testing.assert_allclose(verify.aggregate(sims, "top2"), [0.7, 0.5])
    with pytest.raises(ValueError):
        verify.aggregate(sims, "median")
    refs = _unit(np.array([[1, 0], [0, 1]], np.float32))
    q = _unit(np.array([[1, 1]], np.float32))
    assert verify.wd_scores(q, refs, "centroid")[0] == pytest.approx(1.0)


def test_enroll_global_and_per_writer_thresholds():
    rng = np.random.default_rng(0)
    centre = _unit(rng.normal(size=(1, 16)))
    tight = _unit(centre + 0.05 * rng.normal(size=(8, 16)))
    loose = _unit(centre + 0.6 * rng.normal(size=(8, 16)))
    wd = {"aggregation": "mean", "threshold": 0.5}
    m = verify.enroll("a", tight, wd)
    assert not m.per_writer and m.threshold == 0.5 and m.centroid.shape == (16,)
    pw = {"z": 2.0, "sigma_pop": 0.05, "kappa": 4.0, "min_references": 5}
    mt = verify.enroll("a", tight, {**wd, "per_writer": pw})
    ml = verify.enroll("b", loose, {**wd, "per_writer": pw})
    assert mt.per_writer and ml.per_writer
    assert mt.threshold > ml.threshold  # a consistent writer gets a stricter threshold
    assert verify.enroll("c", tight[:3], {**wd, "per_writer": pw}).threshold == 0.5  # too few references
    s, ok = mt.verify(tight[:2])
    assert ok.all() and (s > mt.threshold).all()
    # score normalisation: the global threshold applied to shifted scores gives the per-writer decision
    q = _unit(centre + 0.3 * rng.normal(size=(20, 16)))
    shifted = verify.writer_scores(mt, q, 0.5)
    assert (verify.decide(shifted, 0.5) == mt.verify(q)[1]).all()
    # rescaled to the population's spread: same decisions, distances from the threshold divided by the scale
    assert ml.scale > 1.0 and mt.scale == 1.0  # a consistent writer is never given narrower margins
    norm = verify.writer_scores(ml, q, 0.5, normalise=True)
    assert (verify.decide(norm, 0.5) == ml.verify(q)[1]).all()
    assert norm - 0.5 == pytest.approx((ml.score(q) - ml.threshold) / ml.scale, abs=1e-6)
    assert m.scale == 1.0


def test_calibrate_writer_dependent_on_separable_clusters():
    rng = np.random.default_rng(1)
    emb, writers, genuine = [], [], []
    for w in range(6):
        c = _unit(rng.normal(size=(1, 32)))
        emb += [_unit(c + 0.05 * rng.normal(size=(12, 32))), _unit(c + 0.05 * rng.normal(size=(12, 32)) + 0.8 *
                                                                    _unit(rng.normal(size=(1, 32))))]
        writers += [str(w)] * 24
        genuine += [True] * 12 + [False] * 12
    emb = np.concatenate(emb)
    out = verify.calibrate_writer_dependent(emb, np.array(writers), np.array(genuine), references=5)
    assert out["aggregation"] == "mean" and out["references"] == 5
    assert out["validation_eer"] < 0.1 and -1 <= out["threshold"] <= 1
    assert out["per_writer"]["validation_hter"] < 0.15 and out["per_writer"]["sigma_pop"] > 0
