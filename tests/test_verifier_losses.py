"""Losses on tiny hand-built embeddings with values worked out by hand (see each test's comment)."""

from __future__ import annotations

import math

import pytest
import torch

from sigpipe.verifier.losses import (
    CombinedLoss,
    contrastive,
    focal_pairs,
    lsc_plus,
    pair_masks,
    triplet_batch_hard,
    triplet_semi_hard,
)

# Four unit vectors, writers [0, 0, 1, 1], all genuine. Cosines:
# s01 = 0.6, s02 = 0, s03 = -1, s12 = 0.8, s13 = -0.6, s23 = 0.
E = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0], [-1.0, 0.0]])
W = torch.tensor([0, 0, 1, 1])
G = torch.tensor([True, True, True, True])


def _sim_masks():
    pos, neg, _ = pair_masks(W, G)
    return E @ E.T, pos, neg


def test_pair_masks_with_forgeries():
    # writer 0: two genuine + one forgery; writer 1: one genuine, one forgery.
    w = torch.tensor([0, 0, 0, 1, 1])
    g = torch.tensor([True, True, False, True, False])
    pos, neg, skilled = pair_masks(w, g)
    assert pos.nonzero().tolist() == [[0, 1], [1, 0]]
    assert skilled.nonzero().tolist() == [[0, 2], [1, 2], [2, 0], [2, 1], [3, 4], [4, 3]]
    assert not neg[2, 4] and not neg[4, 2]  # two forgeries: their forgers may be one person
    assert neg[2, 3] and neg[0, 3] and neg[0, 4]  # forgery vs another writer's genuine, cross-writer genuine
    assert not (pos & neg).any() and not pos.diagonal().any() and not neg.diagonal().any()
    assert (neg == neg.T).all() and (pos == pos.T).all()


def test_contrastive_known_value():
    # positives (1 - s)^2: 0.16, 0.16, 1, 1 -> 0.58; negatives relu(s - 0.3)^2: only s12 = 0.8 -> 0.25 twice
    # out of 8 -> 0.0625.
    sim, pos, neg = _sim_masks()
    assert contrastive(sim, pos, neg, margin=0.3).item() == pytest.approx(0.58 + 0.0625)


def test_batch_hard_known_value():
    # anchors: 0 -> relu(0 - 0.6 + 0.2) = 0; 1 -> relu(0.8 - 0.6 + 0.2) = 0.4; 2 -> relu(0.8 - 0 + 0.2) = 1.0;
    # 3 -> relu(-0.6 - 0 + 0.2) = 0; mean 0.35.
    sim, pos, neg = _sim_masks()
    assert triplet_batch_hard(sim, pos, neg, margin=0.2).item() == pytest.approx(0.35)


def test_semi_hard_known_value():
    # (0,1): semi-hard neg s02 = 0 -> 0; (1,0): only s13 = -0.6 < 0.6 -> 0; (2,3): no neg below 0 -> easiest
    # s20 = 0 -> 0.2; (3,2): semi-hard s31 = -0.6 -> 0. mean 0.05.
    sim, pos, neg = _sim_masks()
    assert triplet_semi_hard(sim, pos, neg, margin=0.2).item() == pytest.approx(0.05)


def test_lsc_plus_known_value():
    # anchor 0: ordered, 0 + 0.5 * (0.8 - 0.6) = 0.1; anchor 1: inverted (0.8 > 0.6): 0.8 + 0.1 = 0.9;
    # anchor 2: inverted (0.8 > 0): 0.8 + 0.5 * 0.8 = 1.2; anchor 3: ordered, 0 + 0.5 * 0.8 = 0.4. mean 0.65.
    sim, pos, neg = _sim_masks()
    assert lsc_plus(sim, pos, neg, margin=0.2, pos_margin=0.8, pos_weight=0.5).item() == pytest.approx(0.65)


def test_lsc_plus_inverted_triplet_pushes_only_the_negative():
    # The inverted case's gradient must not pull the positive toward the anchor (that collapses the space).
    sim, pos, neg = _sim_masks()
    sim = sim.clone().requires_grad_(True)
    lsc_plus(sim, pos, neg, margin=0.2, pos_margin=-1.0, pos_weight=0.0).backward()
    # anchor 1 (inverted): gradient only on s12; its positive s10 gets none from anchor 1.
    assert sim.grad[1, 2] > 0 and sim.grad[1, 0] == 0


def test_focal_known_value():
    # p = sigmoid(10 (s - 0.5)); focal = (1 - p_t)^2 * CE; mean over positives and negatives, alpha 0.5.
    sim, pos, neg = _sim_masks()

    def fl(s: float, y: int) -> float:
        p = 1 / (1 + math.exp(-10 * (s - 0.5)))
        pt = p if y else 1 - p
        return (1 - pt) ** 2 * -math.log(pt)

    lp = (2 * fl(0.6, 1) + 2 * fl(0.0, 1)) / 4
    ln = 2 * (fl(0.0, 0) + fl(-1.0, 0) + fl(0.8, 0) + fl(-0.6, 0)) / 8
    got = focal_pairs(sim, pos, neg, scale=10.0, bias=0.5, gamma=2.0, alpha=0.5).item()
    assert got == pytest.approx(0.5 * lp + 0.5 * ln, rel=1e-5)


def test_no_valid_pairs_gives_zero_with_graph():
    e = torch.nn.functional.normalize(torch.randn(3, 4), dim=1).requires_grad_(True)
    loss, _ = CombinedLoss("lsc+,triplet,semihard,contrastive,focal")(e, torch.tensor([0, 1, 2]),
                                                                      torch.tensor([True, True, True]))
    loss.backward()  # positives absent: no crash, finite
    assert torch.isfinite(loss)


def test_combined_weights_and_unknown_name():
    sim_loss, parts = CombinedLoss("triplet:2,contrastive")(E, W, G)
    assert parts["triplet"] == pytest.approx(0.35)
    assert sim_loss.item() == pytest.approx(2 * 0.35 + parts["contrastive"])
    with pytest.raises(ValueError, match="unknown loss"):
        CombinedLoss("arcface")
