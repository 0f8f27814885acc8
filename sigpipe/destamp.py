"""Rubber stamps off a crop cut from a scanned page, before the verifier's cleaning.

A stamp printed over or beside a signature is ink the writer did not make, and on real signatures composed into
documents it causes more than half of the genuine documents called forgery (README, "Real signatures in the same
documents"). :class:`StampRemover` is a small U-Net (0.12 M parameters) that marks the pixels a stamp darkened;
those are painted with the crop's paper grey, and pen under a stamp is left. Trained on pairs of the same crop
with and without its stamp (``notes/destamp-experiment/``): documents of CEDAR writers 1-35 and of synthetic
signers, and crossmedia's paper, tablet and phone signatures of 80 writers with another stamp generator's stamps
and without any, so that it learns to leave pens it has not seen alone.

A guard keeps it from touching a crop it is not sure holds a stamp: it acts only when the pixels it would erase are
at least ``min_share`` of the crop's dark (Otsu) pixels. It runs at the resolution it was trained at (``dpi``, the
pages' render resolution): a crop from a page rendered at another dpi is scaled to it for the mask, and the mask
scaled back. It is meant for crops cut from pages, not for reference scans (a 300-dpi scan's thick strokes are not
what it was trained on).

The verifier's card names it (``destamp``: weights, sha256, arch and its arguments, threshold, min_share, dpi), so
a verifier version fixes whether and how its queries were destamped.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from sigpipe.clean import median_u8
from sigpipe.weights import WeightsError, companion_weights

__all__ = ["ARCHS", "TILE", "TILE_MARGIN", "StampRemover", "UNet", "attach"]


def _block(i: int, o: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU(inplace=True),
                         nn.Conv2d(o, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU(inplace=True))


class UNet(nn.Module):
    """Grey crop ``(B, 1, H, W)`` in [0, 1], H and W multiples of 2**(levels-1) -> stamp logits ``(B, 1, H, W)``."""

    def __init__(self, channels: Sequence[int] = (8, 16, 32, 64)):
        super().__init__()
        c = list(channels)
        self.enc = nn.ModuleList([_block(1, c[0])] + [_block(c[i], c[i + 1]) for i in range(len(c) - 1)])
        self.dec = nn.ModuleList([_block(c[i + 1] + c[i], c[i]) for i in reversed(range(len(c) - 1))])
        self.head = nn.Conv2d(c[0], 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, e in enumerate(self.enc):
            x = e(x if i == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        for d, s in zip(self.dec, reversed(skips[:-1]), strict=True):
            x = d(torch.cat([F.interpolate(x, size=s.shape[-2:], mode="bilinear", align_corners=False), s], 1))
        return self.head(x)


ARCHS = {"unet": UNet}
# StampRemover.mask runs larger images in tiles of TILE px with TILE_MARGIN px of context (multiples of 8)
TILE = 640
TILE_MARGIN = 64


class StampRemover:
    """``remover(crop, dpi) -> (crop without the stamp, acted)`` on ``(H, W) uint8`` grey crops."""

    def __init__(self, net: nn.Module, threshold: float, min_share: float, dpi: int):
        from torch.fx.experimental.optimization import fuse

        self.threshold, self.min_share, self.dpi = float(threshold), float(min_share), int(dpi)
        self._multiple = 2 ** (len(getattr(net, "enc", [None] * 4)) - 1)
        # batch norms folded into their convolutions, channels-last: 3x faster on this CPU (50 -> 17 ms for a
        # 180 x 470 crop; bench/destamp.py times it), the same masks on 80 held-out crops (notes, session 22)
        self.net = fuse(net.eval()).to(memory_format=torch.channels_last)

    @classmethod
    def from_card(cls, folder: str | Path, spec: dict[str, Any]) -> StampRemover:
        """The remover a verifier card's ``destamp`` section names, its weights checked against the sha256 there."""
        path = companion_weights(folder, spec, "stamp remover", "destamp")
        arch = spec.get("arch", "unet")
        if arch not in ARCHS:
            raise WeightsError(f"{folder}: unknown stamp remover arch {arch!r}; known: {', '.join(ARCHS)}")
        net = ARCHS[arch](**spec.get("args", {}))
        net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        return cls(net, spec["threshold"], spec["min_share"], spec["dpi"])

    @torch.no_grad()
    def mask(self, grey: np.ndarray) -> np.ndarray:
        """``(H, W) uint8`` at the remover's dpi -> ``(H, W) bool``: pixels a stamp darkened.

        An image over :data:`TILE` + 2 :data:`TILE_MARGIN` px a side goes through the network in tiles of
        :data:`TILE` px, each with :data:`TILE_MARGIN` px of the image around it as context: the network's memory
        grows with the pixels it sees at once (a whole 200-dpi A4 page, as a second look's painting region can
        be, took 740 MB more, and 295 MB in tiles; one 768 x 768 input 163 MB), and a pixel's logit depends on the
        pixels within ~42 px of it only (``notes/verifier-experiments.md``, session 30), so the tiles give the
        mask the whole image gives."""
        h, w = grey.shape
        m = self._multiple
        H, W = -(-h // m) * m, -(-w // m) * m
        p = cv2.copyMakeBorder(grey, 0, H - h, 0, W - w, cv2.BORDER_REPLICATE)
        span = TILE + 2 * TILE_MARGIN
        if H <= span and W <= span:
            return self._sure(p)[:h, :w]
        out = np.empty((H, W), bool)
        for y in range(0, H, TILE):  # tile corners and margins are multiples of 8: the network's pooling grid
            for x in range(0, W, TILE):
                y0, x0 = max(0, y - TILE_MARGIN), max(0, x - TILE_MARGIN)
                y1, x1 = min(H, y + TILE + TILE_MARGIN), min(W, x + TILE + TILE_MARGIN)
                out[y:y + TILE, x:x + TILE] = self._sure(p[y0:y1, x0:x1])[y - y0:y - y0 + TILE, x - x0:x - x0 + TILE]
        return out[:h, :w]

    @torch.no_grad()
    def _sure(self, p: np.ndarray) -> np.ndarray:
        """``(H, W) uint8`` (multiples of the network's stride) -> ``(H, W) bool``: probability over the threshold."""
        x = (torch.from_numpy(p).float()[None, None] / 255.0).contiguous(memory_format=torch.channels_last)
        return torch.sigmoid(self.net(x))[0, 0].numpy() > self.threshold

    def mask_at(self, grey: np.ndarray, dpi: int | None = None) -> np.ndarray:
        """:meth:`mask` of ``(H, W) uint8`` at ``dpi`` (None: the remover's own): scaled to the remover's dpi for
        the network, the mask scaled back."""
        h, w = grey.shape
        f = self.dpi / dpi if dpi else 1.0
        if abs(f - 1.0) <= 0.05:
            return self.mask(grey)
        small = cv2.resize(grey, (max(8, round(w * f)), max(8, round(h * f))), interpolation=cv2.INTER_AREA)
        return cv2.resize(self.mask(small).astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).astype(bool)

    def paint_regions(self, page: np.ndarray, boxes: Sequence[Sequence[float]], dpi: int | None = None,
                      grow: float = 0.5) -> tuple[np.ndarray, int]:
        """A page ``(H, W) uint8`` with the stamp pixels painted with its paper grey inside the regions around
        ``boxes`` (x0, y0, x1, y1 page pixels), each grown by ``grow`` times its width and height on every side
        -> (painted page, pixels painted). For the audit's second look (a stamp over a signature hides it from the
        detector; what it finds then is cut from the painted page), with no guard: a region of a page has no one ink
        share to test. Painting the whole page costs ~15 times as much (2.1 s against 0.13 s a 200-dpi A4 page
        around 8 boxes, on 2 cores: notes/verifier-experiments.md, sessions 23-25)."""
        h, w = page.shape
        m = np.zeros((h, w), bool)
        for b in boxes:
            x0, y0, x1, y1 = (float(v) for v in b[:4])
            gx, gy = (x1 - x0) * grow, (y1 - y0) * grow
            X0, Y0, X1, Y1 = int(max(0, x0 - gx)), int(max(0, y0 - gy)), int(min(w, x1 + gx)), int(min(h, y1 + gy))
            if min(X1 - X0, Y1 - Y0) >= 8:
                m[Y0:Y1, X0:X1] |= self.mask_at(page[Y0:Y1, X0:X1], dpi)
        n = int(m.sum())
        if not n:
            return page, 0
        out = page.copy()
        out[m] = np.uint8(median_u8(page, ~m, empty=255))
        return out, n

    def __call__(self, grey: np.ndarray, dpi: int | None = None) -> tuple[np.ndarray, bool]:
        h, w = grey.shape
        if min(h, w) < 8:
            return grey, False
        m = self.mask_at(grey, dpi)
        if not m.any():
            return grey, False
        t, _ = cv2.threshold(grey, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        dark = grey <= t
        if (m & dark).sum() < self.min_share * max(1, int(dark.sum())):
            return grey, False  # the guard: too little it would call a stamp to be sure there is one
        out = grey.copy()
        out[m] = np.uint8(median_u8(grey, ~m, above=int(t), empty=255))  # the paper the mask leaves (Otsu: t whole)
        return out, True


def attach(source: str | Path, weights: str | Path, out: str | Path, threshold: float = 0.8, min_share: float = 0.1,
           dpi: int = 200, arch: str = "unet", args: dict[str, Any] | None = None, version: str | None = None,
           about: dict[str, Any] | None = None, command: str = "") -> dict[str, Any]:
    """``source``'s verifier with the stamp remover ``weights`` named in its card (``destamp``) and written to
    ``out`` (which may be ``source``: the card is replaced, the network kept). The version changes (default: the
    source's major version + 1), because the embeddings of page crops change: a lake must not mix them. ``about``:
    ``{"training": {"how", "commands"}, "measured": [...]}``, copied into the card (how the remover was made, what
    was measured with it and by which command)."""
    from sigpipe.verifier.train import _write_readme
    from sigpipe.weights import attach_companion

    if arch not in ARCHS:
        raise ValueError(f"unknown stamp remover arch {arch!r}; known: {', '.join(ARCHS)}")
    args = dict(args or {"channels": [8, 16, 32, 64]})
    net = ARCHS[arch](**args)
    net.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))  # refuse weights that do not fit
    card = dict(attach_companion(source, weights, out, "destamp", "destamp.pt", {
        "arch": arch, "args": args, "threshold": threshold, "min_share": min_share, "dpi": dpi,
        "applies_to": "crops cut from pages (audit and catalogue queries, second-look boxes, references cut from "
                      "PDFs); not reference images enrolled from files",
        "how": "pixels with p > threshold are painted with the crop's paper grey, only when they cover at least "
               "min_share of the crop's dark (Otsu) pixels; crops from pages rendered at another dpi are scaled to "
               "dpi for the mask (sigpipe.destamp)",
        "training": (about or {}).get("training", {}), "measured": (about or {}).get("measured", [])},
        version=version, command=command).data)
    if card.get("training"):  # a trained verifier's card: its README says what it is, the remover included
        _write_readme(Path(out), card)
    return card
