from __future__ import annotations

import numpy as np
import pytest

from sigpipe import audit
from sigpipe.verify import enroll


def test_decide_with_band():
    assert audit.decide(0.80, 0.6) == "genuine"
    assert audit.decide(0.60, 0.6) == "genuine"
    assert audit.decide(0.59, 0.6) == "forgery"
    band = (0.05, 0.1)
    assert audit.decide(0.71, 0.6, band) == "genuine"
    assert audit.decide(0.65, 0.6, band) == "inconclusive"
    assert audit.decide(0.56, 0.6, band) == "inconclusive"
    assert audit.decide(0.54, 0.6, band) == "forgery"


def test_inconclusive_band_halves_both_errors():
    pos = np.linspace(0.4, 1.0, 601)  # genuine pairs
    neg = np.linspace(0.0, 0.6, 601)  # forgeries
    scores = np.concatenate([pos, neg])
    labels = np.r_[np.ones(601), np.zeros(601)]
    below, above = audit.inconclusive_band(scores, labels, threshold=0.5)
    frr_t = (pos < 0.5).mean()
    far_t = (neg >= 0.5).mean()
    assert (pos < 0.5 - below).mean() == pytest.approx(frr_t / 2, abs=0.01)
    assert (neg >= 0.5 + above).mean() == pytest.approx(far_t / 2, abs=0.01)
    with pytest.raises(ValueError):
        audit.inconclusive_band(pos, np.ones(601), 0.5)


def test_assign_is_one_to_one_best_first():
    scores = np.array([[0.9, 0.8], [0.95, 0.1]], np.float32)
    allowed = np.ones_like(scores, bool)
    # claim 1 takes signature 0 (0.95), claim 0 falls back to signature 1
    assert audit.assign(scores, allowed) == [1, 0]
    # more claims than signatures: the weakest claim gets none
    assert audit.assign(np.array([[0.9], [0.5]]), np.ones((2, 1), bool)) == [0, None]
    # a claim restricted to a page with no signature gets none
    assert audit.assign(np.array([[0.9, 0.8]]), np.array([[False, False]])) == [None]
    assert audit.assign(np.zeros((0, 3)), np.zeros((0, 3), bool)) == []


def _unit(v):
    v = np.asarray(v, np.float32)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def test_audit_document_decisions():
    rng = np.random.default_rng(0)
    a, b = _unit(rng.normal(size=8)), _unit(rng.normal(size=8))
    refs_a = _unit(a + 0.05 * rng.normal(size=(6, 8)))
    refs_b = _unit(b + 0.05 * rng.normal(size=(6, 8)))
    wd = {"aggregation": "mean", "threshold": 0.8}
    writers = {"A": (enroll("A", refs_a, wd), (0.0, 0.0)), "B": (enroll("B", refs_b, wd), (0.0, 0.0))}
    sigs = np.stack([_unit(b + 0.05 * rng.normal(size=8)), _unit(a + 0.05 * rng.normal(size=8)),
                     _unit(rng.normal(size=8))])
    pages = [1, 1, 2]
    claims = [audit.Claim("A"), audit.Claim("B", page=1), audit.Claim("C"), audit.Claim("A", page=3)]
    out = audit.audit_document(claims, pages, sigs, writers)
    assert [v.decision for v in out] == ["genuine", "genuine", "unknown_signer", "no_signature"]
    assert out[0].signature == 1 and out[1].signature == 0  # each signer got the signature written by them
    assert out[0].threshold_kind == "global" and out[0].threshold == pytest.approx(0.8)
    assert 0 <= out[0].best_ref < 6
    # a forged signature claimed for A: only the stranger's signature on the page
    forged = audit.audit_document([audit.Claim("A")], [1], sigs[2:], writers)
    assert forged[0].decision == "forgery" and forged[0].score < 0.8
    # no signature at all in the document
    assert audit.audit_document([audit.Claim("A")], [], np.zeros((0, 8)), writers)[0].decision == "no_signature"


def test_writer_model_uses_the_card_calibration_for_k_references():
    rng = np.random.default_rng(3)
    refs = _unit(rng.normal(size=(4, 8)))
    card = {"writer_dependent": {"aggregation": "mean", "by_references": {
        "3": {"aggregation": "mean", "threshold": 0.3, "inconclusive_band": [0.01, 0.02]},
        "10": {"aggregation": "max", "threshold": 0.7}}}}
    w, band = audit.writer_model(card, "A", refs)  # 4 references: the K=3 calibration is nearest
    assert w.threshold == pytest.approx(0.3) and w.aggregation == "mean" and band == (0.01, 0.02)
    w, band = audit.writer_model(card, "A", _unit(rng.normal(size=(9, 8))))
    assert w.threshold == pytest.approx(0.7) and w.aggregation == "max" and band == (0.0, 0.0)
