"""Embedding networks for writer-independent verification, built by name from :data:`ARCHS`.

Every embedder takes cleaned crops ``(B, 1, h, w) float32`` in [0, 1] (ink high, background 0) and
exposes ``forward_features`` -> feature map ``(B, C, h', w')``, ``forward_head`` -> L2-normalised
embedding ``(B, D)`` and ``forward`` = head(features). Variants are argument dicts stored in the card,
never copied classes.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ARCHS", "Ensemble", "SigNet", "TimmEmbedder", "build_model"]


def _conv_bn(cin: int, cout: int, k: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, padding=k // 2, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


class GeM(nn.Module):
    """Generalised-mean pooling ``(B, C, h, w) -> (B, C)``; p=1 is average, p->inf max (learned)."""

    def __init__(self, p: float = 3.0, eps: float = 1e-6) -> None:
        super().__init__()
        self.p = nn.Parameter(torch.tensor(p))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.adaptive_avg_pool2d(x.clamp(min=self.eps).pow(self.p), 1).pow(1.0 / self.p).flatten(1)


class _Head(nn.Module):
    """Pool a feature map and project it to a unit-length ``(B, dim)`` embedding.

    ``pool="flatten"`` keeps the coarse spatial layout (SigNet's FC on the 3x5 map: where strokes are
    matters for signatures); ``"gem"``/``"avg"`` are translation invariant and size agnostic.
    """

    def __init__(self, channels: int, dim: int, pool: str, grid: tuple[int, int], hidden: int, dropout: float):
        super().__init__()
        self.pool_kind = pool
        if pool == "flatten":
            self.pool: nn.Module = nn.Sequential(nn.AdaptiveAvgPool2d(grid), nn.Flatten(1))
            n_in = channels * grid[0] * grid[1]
        elif pool == "gem":
            self.pool = GeM()
            n_in = channels
        elif pool == "avg":
            self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1))
            n_in = channels
        else:
            raise ValueError(f"unknown pool {pool!r} (flatten|gem|avg)")
        layers: list[nn.Module] = [nn.Dropout(dropout)] if dropout > 0 else []
        if hidden > 0:
            layers += [nn.Linear(n_in, hidden, bias=False), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True)]
            n_in = hidden
        layers += [nn.Linear(n_in, dim)]
        self.proj = nn.Sequential(*layers)

    def forward(self, fmap: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.proj(self.pool(fmap)), dim=1)  # (B, dim)


class SigNet(nn.Module):
    """Compact SigNet-style CNN (Hafemann et al. 2017) with BatchNorm, a width multiplier and a pooled head.

    Args:
        width: channel multiplier on SigNet's (96, 256, 384, 384, 256); 0.5 is the "half-width" net.
        dim: embedding size.
        pool: "flatten" (SigNet-like, keeps layout), "gem" or "avg".
        grid: pooled map size for "flatten".
        hidden: width of the hidden FC layer before the projection (0 = none).
        dropout: dropout before the head's first linear layer.
    """

    def __init__(self, width: float = 0.5, dim: int = 256, pool: str = "flatten", grid: tuple[int, int] = (3, 5),
                 hidden: int = 512, dropout: float = 0.0) -> None:
        super().__init__()
        c = [max(8, int(round(ch * width))) for ch in (96, 256, 384, 384, 256)]
        self.features = nn.Sequential(
            _conv_bn(1, c[0], 11, stride=4), nn.MaxPool2d(3, 2),
            _conv_bn(c[0], c[1], 5), nn.MaxPool2d(3, 2),
            _conv_bn(c[1], c[2], 3), _conv_bn(c[2], c[3], 3), _conv_bn(c[3], c[4], 3), nn.MaxPool2d(3, 2),
        )
        self.num_features = c[4]
        self.head = _Head(c[4], dim, pool, tuple(grid), hidden, dropout)
        self.dim = dim

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)  # (B, C, h/32-ish, w/32-ish)

    def forward_head(self, fmap: torch.Tensor) -> torch.Tensor:
        return self.head(fmap)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


class TimmEmbedder(nn.Module):
    """A timm backbone (``pretrained=False, in_chans=1, num_classes=0``) + pooled projection head.

    Args:
        backbone: timm model name, e.g. "mobilenetv3_small_100", "resnet18".
        dim, pool, grid, hidden, dropout: as for :class:`SigNet`.
        backbone_args: extra keyword arguments for ``timm.create_model``.
    """

    def __init__(self, backbone: str = "mobilenetv3_small_100", dim: int = 256, pool: str = "gem",
                 grid: tuple[int, int] = (3, 5), hidden: int = 0, dropout: float = 0.0,
                 backbone_args: dict[str, Any] | None = None) -> None:
        super().__init__()
        import timm  # the caller ran sigpipe.runtime.configure() (offline hub settings)

        self.backbone = timm.create_model(backbone, pretrained=False, in_chans=1, num_classes=0, global_pool="",
                                          **(backbone_args or {}))
        # mobilenetv3 puts a conv_head after global_pool; forward_features stops before it.
        self.num_features = self.backbone.num_features
        with torch.no_grad():
            n_ch = self.backbone.forward_features(torch.zeros(1, 1, 64, 64)).shape[1]
        self.head = _Head(n_ch, dim, pool, tuple(grid), hidden, dropout)
        self.dim = dim

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone.forward_features(x)  # (B, C, h', w')

    def forward_head(self, fmap: torch.Tensor) -> torch.Tensor:
        return self.head(fmap)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


class Ensemble(nn.Module):
    """Embedders of one architecture trained apart (other seeds), used as one: the embedding is the members' unit
    embeddings side by side, scaled to unit length, so the cosine of two embeddings is the mean of the members'
    cosines. Members trained on 35 writers disagree in where they go wrong; their mean errs less.

    With ``dim`` the joined embedding is projected to ``dim`` dimensions (``proj``: its principal directions on
    the training writers, fitted by :func:`sigpipe.verifier.ensemble.combine`) and re-normalised, so an ensemble
    costs the catalogue's matrix products and the lake's storage no more than one member.

    Args:
        arch, arch_args: the members' architecture, as for :func:`build_model`.
        n: number of members.
        dim: projected embedding size (None: the members' embeddings side by side).
    """

    def __init__(self, arch: str = "signet", arch_args: dict[str, Any] | None = None, n: int = 3,
                 dim: int | None = None) -> None:
        super().__init__()
        if arch == "ensemble" or n < 1:
            raise ValueError(f"an ensemble needs n >= 1 members of a plain architecture, got {n} x {arch!r}")
        self.members = nn.ModuleList(build_model(arch, arch_args) for _ in range(n))
        joined = sum(int(m.dim) for m in self.members)
        if dim is not None and not 1 <= dim <= joined:
            raise ValueError(f"projected dim must be in 1..{joined}, got {dim}")
        self.proj = nn.Linear(joined, dim) if dim is not None else None
        self.dim = dim or joined

    def joined(self, x: torch.Tensor) -> torch.Tensor:
        """The members' unit embeddings side by side, scaled to unit length ``(B, n * D)``."""
        e = torch.cat([F.normalize(m(x), dim=1) for m in self.members], dim=1)
        return e / math.sqrt(len(self.members))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e = self.joined(x)
        return e if self.proj is None else F.normalize(self.proj(e), dim=1)


ARCHS: dict[str, type[nn.Module]] = {"signet": SigNet, "timm": TimmEmbedder, "ensemble": Ensemble}


def build_model(arch: str, args: dict[str, Any] | None = None) -> nn.Module:
    """Build an embedder by name: ``build_model("signet", {"width": 0.5})``; args are stored in the card."""
    if arch not in ARCHS:
        raise ValueError(f"unknown verifier arch {arch!r}; known: {sorted(ARCHS)}")
    return ARCHS[arch](**(args or {}))
