"""sigpipe.metrics on hand-built score arrays with answers worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from sigpipe import metrics as M


def _pairs(pos: list[float], neg: list[float]) -> tuple[np.ndarray, np.ndarray]:
    return np.array(pos + neg), np.array([1] * len(pos) + [0] * len(neg))


def test_far_frr_hter_at_threshold_use_score_ge_threshold():
    s, y = _pairs([0.9, 0.5, 0.4], [0.5, 0.1])
    # accept iff score >= 0.5: genuine 0.4 rejected (FRR 1/3), negative 0.5 accepted (FAR 1/2).
    assert M.frr(s, y, 0.5) == pytest.approx(1 / 3)
    assert M.far(s, y, 0.5) == pytest.approx(1 / 2)
    assert M.hter(s, y, 0.5) == pytest.approx((1 / 3 + 1 / 2) / 2)
    assert M.far(s, y, 0.51) == 0.0 and M.frr(s, y, 0.4) == 0.0


def test_roc_curve_points_and_ties():
    # Tied scores move together: one operating point per distinct score.
    fpr, tpr, thr = M.roc_curve([0.5, 0.5, 0.2], [1, 0, 1])
    np.testing.assert_array_equal(thr, [np.inf, 0.5, 0.2])
    np.testing.assert_allclose(fpr, [0, 1, 1])
    np.testing.assert_allclose(tpr, [0, 0.5, 1])
    assert M.auc([0.5, 0.5, 0.2], [1, 0, 1]) == pytest.approx(0.25)  # tie counts 1/2: (0.5 + 0) / 2


def test_perfect_separation():
    s, y = _pairs([0.9, 0.8, 0.7], [0.3, 0.2, 0.1])
    e, t = M.eer(s, y)
    assert e == 0.0
    assert t == 0.7  # the lowest genuine score: every genuine accepted, every negative rejected
    assert M.far(s, y, t) == 0.0 and M.frr(s, y, t) == 0.0
    assert M.auc(s, y) == 1.0


def test_reversed_scores_are_worst_case():
    s, y = _pairs([0.1, 0.2], [0.8, 0.9])
    assert M.eer(s, y)[0] == pytest.approx(1.0)
    assert M.auc(s, y) == 0.0


def test_identical_distributions_give_half():
    x = list(np.linspace(0, 1, 101))
    s, y = _pairs(x, x)
    assert M.auc(s, y) == pytest.approx(0.5)
    assert M.eer(s, y)[0] == pytest.approx(0.5, abs=0.01)
    # All scores equal: a single operating point besides "accept nothing".
    assert M.eer([0.3] * 4, [1, 1, 0, 0]) == (pytest.approx(0.5), 0.3)
    assert M.auc([0.3] * 4, [1, 1, 0, 0]) == pytest.approx(0.5)


def test_small_case_by_hand_exact_crossing():
    # thresholds   inf  .9   .8   .7   .4   .3   .2
    # FAR          0    0    0    1/3  1/3  2/3  1
    # FRR          1    2/3  1/3  1/3  0    0    0     -> FAR = FRR = 1/3 at 0.7
    s, y = _pairs([0.9, 0.8, 0.4], [0.7, 0.3, 0.2])
    e, t = M.eer(s, y)
    assert e == pytest.approx(1 / 3)
    assert t == pytest.approx(0.7)
    assert M.auc(s, y) == pytest.approx(8 / 9)  # 8 of 9 (genuine, negative) pairs ordered right


def test_small_case_by_hand_interpolated_crossing():
    # thresholds   inf  .9   .8   .7   .6   .3
    # FAR          0    0    0    1/2  1    1
    # FRR          1    2/3  1/3  1/3  1/3  0
    # FRR - FAR goes from 1/3 at 0.8 to -1/6 at 0.7: they meet 2/3 of the way, at rate 0 + 2/3 * 1/2 = 1/3
    # (FRR stays 1/3), threshold 0.8 + 2/3 * (0.7 - 0.8).
    s, y = _pairs([0.9, 0.8, 0.3], [0.7, 0.6])
    e, t = M.eer(s, y)
    assert e == pytest.approx(1 / 3)
    assert t == pytest.approx(0.8 - 2 / 30)
    assert M.auc(s, y) == pytest.approx(4 / 6)


def test_auc_matches_pairwise_count_and_eer_balances_rates():
    rng = np.random.default_rng(0)
    pos, neg = rng.normal(1.0, 1.0, 700).round(2), rng.normal(0.0, 1.0, 900).round(2)  # rounding makes ties
    s, y = _pairs(list(pos), list(neg))
    diff = pos[:, None] - neg[None, :]
    assert M.auc(s, y) == pytest.approx(np.mean(diff > 0) + 0.5 * np.mean(diff == 0))
    e, t = M.eer(s, y)
    # Normal(1,1) vs Normal(0,1): EER = Phi(-1/2) = 0.3085; the sample's rates at t straddle it.
    assert e == pytest.approx(0.3085, abs=0.03)
    assert abs(M.far(s, y, t) - M.frr(s, y, t)) < 0.01


def test_per_writer_thresholds_beat_a_global_one():
    # Writer A's scores sit high, writer B's low: each separates perfectly with its own threshold, while
    # one global threshold misplaces half. Global: FAR = FRR = 1/2 at 0.6.
    s = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2])
    y = np.array([1, 1, 0, 0, 1, 1, 0, 0])
    w = np.array(["A"] * 4 + ["B"] * 4)
    assert M.eer(s, y)[0] == pytest.approx(0.5)
    assert M.eer_user_thresholds(s, y, w) == 0.0
    # A writer with no negatives has no EER and is left out of the average.
    s2, y2, w2 = np.append(s, 0.1), np.append(y, 1), np.append(w, "C")
    assert M.eer_user_thresholds(s2, y2, w2) == 0.0
    assert np.isnan(M.eer_user_thresholds([0.5], [1], ["C"]))


def test_far_by_kind_separates_skilled_and_random():
    s = [0.9, 0.6, 0.4, 0.2, 0.1]
    k = ["genuine", "skilled", "skilled", "random", "random"]
    assert M.far_by_kind(s, k, 0.3) == {"skilled": 1.0, "random": 0.0}
    assert M.far_by_kind(s, k, 0.5) == {"skilled": 0.5, "random": 0.0}
    assert np.isnan(M.far_by_kind([0.5], ["genuine"], 0.3)["random"])


def test_verification_report_keys_and_values():
    #        writer A                          writer B
    s = [0.9, 0.8, 0.7, 0.3, 0.2, 0.6, 0.5, 0.4, 0.55, 0.1]
    y = [1, 1, 0, 0, 0, 1, 1, 0, 0, 0]
    k = ["genuine", "genuine", "skilled", "random", "random", "genuine", "genuine", "skilled", "skilled", "random"]
    w = ["A"] * 5 + ["B"] * 5
    r = M.verification_report(s, y, w, k, threshold=0.5)
    for key in (
        "eer",
        "eer_threshold",
        "far_skilled",
        "far_random",
        "frr",
        "hter",
        "auc",
        "eer_user_thresholds",
        "n_writers",
        "n_pos",
        "n_neg",
    ):
        assert key in r
    assert (r["n_writers"], r["n_pos"], r["n_neg"], r["n_skilled"], r["n_random"]) == (2, 4, 6, 3, 3)
    assert r["frr"] == 0.0  # genuine 0.9 0.8 0.6 0.5 all >= 0.5
    assert r["far_skilled"] == pytest.approx(2 / 3)  # 0.7 and 0.55 accepted, 0.4 not
    assert r["far_random"] == 0.0
    assert r["far"] == pytest.approx(2 / 6)
    assert r["hter"] == pytest.approx((2 / 6 + 0) / 2)
    assert r["hter_skilled"] == pytest.approx((2 / 3 + 0) / 2)
    assert r["eer"] == pytest.approx(M.eer(s, y)[0])
    assert r["auc"] == pytest.approx(M.auc(s, y))
    # Per writer: A separates perfectly (0.8 > 0.7); B's genuine 0.5 sits under skilled 0.55.
    assert r["eer_user_thresholds"] == pytest.approx(np.mean([0.0, M.eer(s[5:], y[5:])[0]]))
    sk = [i for i, kind in enumerate(k) if kind != "random"]
    assert r["eer_skilled"] == pytest.approx(M.eer(np.array(s)[sk], np.array(y)[sk])[0])


def test_verification_report_checks_its_inputs():
    with pytest.raises(ValueError, match="disagree"):
        M.verification_report([0.5, 0.4], [1, 0], ["A", "A"], ["genuine", "genuine"], 0.5)
    with pytest.raises(ValueError, match="unknown kinds"):
        M.verification_report([0.5, 0.4], [1, 0], ["A", "A"], ["genuine", "forged"], 0.5)
    with pytest.raises(ValueError, match="lengths differ"):
        M.verification_report([0.5, 0.4], [1, 0], ["A"], ["genuine", "random"], 0.5)
    # No skilled forgeries (e.g. a genuine-only data set with random negatives): skilled rates are NaN.
    r = M.verification_report([0.9, 0.1], [1, 0], ["A", "A"], ["genuine", "random"], 0.5)
    assert np.isnan(r["far_skilled"]) and np.isnan(r["eer_skilled"]) and r["eer"] == 0.0


def test_roc_needs_both_classes_and_clean_inputs():
    with pytest.raises(ValueError, match="positives and negatives"):
        M.roc_curve([0.1, 0.2], [1, 1])
    with pytest.raises(ValueError, match="NaN"):
        M.eer([0.1, np.nan], [1, 0])
    with pytest.raises(ValueError, match="0 .negative. or 1"):
        M.auc([0.1, 0.2], [1, 2])
    with pytest.raises(ValueError, match="length"):
        M.far([0.1, 0.2], [1], 0.5)


def test_roc_plot_writes_a_png(tmp_path):
    rng = np.random.default_rng(1)
    s = np.r_[rng.normal(1, 1, 50), rng.normal(0, 1, 50), rng.normal(-1, 1, 50)]
    y = np.r_[np.ones(50), np.zeros(100)].astype(int)
    k = ["genuine"] * 50 + ["skilled"] * 50 + ["random"] * 50
    p = M.roc_plot(tmp_path / "sub" / "roc.png", s, y, k, threshold=0.5, title="test")
    data = p.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
