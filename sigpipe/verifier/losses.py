"""Metric-learning losses on a batch of L2-normalised embeddings and their pair masks.

All losses work on the cosine-similarity matrix ``S = E @ E.T`` ``(B, B)`` and two boolean masks built
by :func:`pair_masks` from the batch labels:

- ``pos[i, j]``: both genuine signatures of the same writer (i != j);
- ``neg[i, j]``: different claimed writers (at least one of the two genuine), or a genuine signature and a
  skilled forgery of the same writer (the hard negatives that matter). Two forgeries are neither: their
  (unknown) forgers may be the same person.

Every loss returns a scalar tensor; a batch without any valid pair or triplet gives 0 (with a graph).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["LOSSES", "CombinedLoss", "contrastive", "focal_pairs", "lsc_plus", "pair_masks", "triplet_batch_hard",
           "triplet_semi_hard", "build_loss"]

_NEG_INF = -1e4  # masked-out similarity; cosine is in [-1, 1]
_POS_INF = 1e4


def pair_masks(writers: torch.Tensor, genuine: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pair masks from labels ``writers (B,) int64`` (claimed writer) and ``genuine (B,) bool``.

    Returns ``pos, neg, skilled`` each ``(B, B) bool``; ``skilled`` is the subset of ``neg`` made of
    genuine/forgery pairs of the same writer.
    """
    same = writers[:, None] == writers[None, :]
    g_i, g_j = genuine[:, None], genuine[None, :]
    eye = torch.eye(len(writers), dtype=torch.bool, device=writers.device)
    pos = same & g_i & g_j & ~eye
    skilled = same & (g_i ^ g_j)
    neg = (~same & (g_i | g_j)) | skilled
    return pos, neg, skilled


def contrastive(sim: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor, margin: float = 0.3) -> torch.Tensor:
    """Contrastive loss on cosine similarity: ``mean_pos (1 - s)^2`` + ``mean_neg relu(s - margin)^2``.

    The two means are taken separately so the many negatives do not drown the few positives.
    """
    lp = ((1 - sim[pos]) ** 2).mean() if pos.any() else sim.sum() * 0
    ln = (F.relu(sim[neg] - margin) ** 2).mean() if neg.any() else sim.sum() * 0
    return lp + ln


def _hardest(sim: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Per anchor: least similar positive ``(B,)``, most similar negative ``(B,)``, and the valid-anchor mask."""
    s_ap = sim.masked_fill(~pos, _POS_INF).min(dim=1).values
    s_an = sim.masked_fill(~neg, _NEG_INF).max(dim=1).values
    valid = pos.any(dim=1) & neg.any(dim=1)
    return s_ap, s_an, valid


def triplet_batch_hard(sim: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor, margin: float = 0.2) -> torch.Tensor:
    """Batch-hard triplet (Hermans et al. 2017) on similarity: ``mean_a relu(s_an_max - s_ap_min + margin)``."""
    s_ap, s_an, valid = _hardest(sim, pos, neg)
    if not valid.any():
        return sim.sum() * 0
    return F.relu(s_an - s_ap + margin)[valid].mean()


def triplet_semi_hard(sim: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor, margin: float = 0.2) -> torch.Tensor:
    """Semi-hard triplet (FaceNet) averaged over positive pairs (a, p).

    For each (a, p) the negative is the most similar one that is still less similar than p
    (``s_an < s_ap``); when there is none, the least similar negative (the "easy" fallback of FaceNet's
    reference implementation), so the hardest negatives never collapse the embedding early on.
    """
    a_idx, p_idx = pos.nonzero(as_tuple=True)
    if len(a_idx) == 0 or not neg.any():
        return sim.sum() * 0
    s_ap = sim[a_idx, p_idx][:, None]  # (T, 1)
    s_an = sim[a_idx]  # (T, B)
    n_mask = neg[a_idx]  # (T, B)
    semi = n_mask & (s_an < s_ap)
    s_semi = s_an.masked_fill(~semi, _NEG_INF).max(dim=1).values
    s_easy = s_an.masked_fill(~n_mask, _POS_INF).min(dim=1).values
    s_neg = torch.where(semi.any(dim=1), s_semi, s_easy)
    has_neg = n_mask.any(dim=1)
    if not has_neg.any():
        return sim.sum() * 0
    return F.relu(s_neg - s_ap[:, 0] + margin)[has_neg].mean()


def lsc_plus(sim: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor, margin: float = 0.2, pos_margin: float = 0.8,
             pos_weight: float = 0.5) -> torch.Tensor:
    """LSC+: selectively contrastive batch-hard triplet (Xuan et al. 2020) + a positive pull that stops.

    Per anchor with hardest positive ``s_ap`` and hardest negative ``s_an``:
    if ``s_an > s_ap`` (the triplet is inverted, whose gradient would pull the positive toward a
    negative and collapse the space) the loss is ``s_an`` alone: push the negative away only;
    otherwise the usual ``relu(s_an - s_ap + margin)``. Plus ``pos_weight * relu(pos_margin - s_ap)``,
    which pulls same-writer genuine pairs together until their cosine reaches ``pos_margin`` and no further
    (genuine signatures vary; forcing them onto one point overfits).
    """
    s_ap, s_an, valid = _hardest(sim, pos, neg)
    if not valid.any():
        return sim.sum() * 0
    inverted = s_an > s_ap
    trip = torch.where(inverted, s_an, F.relu(s_an - s_ap + margin))
    pull = F.relu(pos_margin - s_ap)
    return (trip + pos_weight * pull)[valid].mean()


class FocalPairLoss(nn.Module):
    """Focal loss (Lin et al. 2017) on pair classification ``p = sigmoid(scale * (s - bias))``.

    ``scale`` and ``bias`` are learned with the network. Every valid pair of the batch counts; ``alpha``
    weighs positives (pairs are mostly negatives); ``gamma`` down-weights pairs already right.
    """

    def __init__(self, gamma: float = 2.0, alpha: float = 0.5, scale: float = 10.0, bias: float = 0.5) -> None:
        super().__init__()
        self.gamma, self.alpha = gamma, alpha
        self.scale = nn.Parameter(torch.tensor(float(scale)))
        self.bias = nn.Parameter(torch.tensor(float(bias)))

    def forward(self, sim: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
        return focal_pairs(sim, pos, neg, self.scale, self.bias, self.gamma, self.alpha)


def focal_pairs(sim: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor, scale: torch.Tensor | float = 10.0,
                bias: torch.Tensor | float = 0.5, gamma: float = 2.0, alpha: float = 0.5) -> torch.Tensor:
    """Functional focal pair loss; mean over positives and over negatives, weighted ``alpha`` / ``1 - alpha``."""
    logits = scale * (sim - bias)
    target = pos.float()
    p = torch.sigmoid(logits)
    ce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    p_t = p * target + (1 - p) * (1 - target)
    fl = (1 - p_t) ** gamma * ce
    lp = fl[pos].mean() if pos.any() else sim.sum() * 0
    ln = fl[neg].mean() if neg.any() else sim.sum() * 0
    return alpha * lp + (1 - alpha) * ln


class _Functional(nn.Module):
    def __init__(self, fn, **kwargs) -> None:  # noqa: ANN001
        super().__init__()
        self.fn, self.kwargs = fn, kwargs

    def forward(self, sim: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
        return self.fn(sim, pos, neg, **self.kwargs)


LOSSES: dict[str, object] = {
    "contrastive": contrastive,
    "triplet": triplet_batch_hard,  # "triplet" = batch-hard
    "semihard": triplet_semi_hard,
    "lsc+": lsc_plus,
    "focal": FocalPairLoss,
}


class CombinedLoss(nn.Module):
    """Weighted sum of named losses; parameters (focal's scale/bias) are trained with the net.

    ``spec`` is ``"lsc+"`` or ``"lsc+,focal:0.5"`` (``name[:weight]``, comma separated); ``kwargs`` maps a
    loss name to its keyword arguments (margins).
    """

    def __init__(self, spec: str, kwargs: dict[str, dict] | None = None) -> None:
        super().__init__()
        kwargs = kwargs or {}
        self.names: list[str] = []
        self.weights: list[float] = []
        mods = []
        for part in spec.split(","):
            name, _, w = part.strip().partition(":")
            if name not in LOSSES:
                raise ValueError(f"unknown loss {name!r}; known: {sorted(LOSSES)}")
            fn = LOSSES[name]
            mods.append(fn(**kwargs.get(name, {})) if isinstance(fn, type) else _Functional(fn, **kwargs.get(name, {})))
            self.names.append(name)
            self.weights.append(float(w) if w else 1.0)
        self.parts = nn.ModuleList(mods)

    def forward(self, emb: torch.Tensor, writers: torch.Tensor, genuine: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """``emb (B, D)`` unit rows -> (total loss, {name: value})."""
        sim = emb.float() @ emb.float().T
        pos, neg, _ = pair_masks(writers, genuine)
        total = emb.sum() * 0
        parts = {}
        for name, w, mod in zip(self.names, self.weights, self.parts, strict=True):
            v = mod(sim, pos, neg)
            parts[name] = float(v.detach())
            total = total + w * v
        return total, parts


def build_loss(spec: str, kwargs: dict[str, dict] | None = None) -> CombinedLoss:
    return CombinedLoss(spec, kwargs)
