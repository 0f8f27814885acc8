"""Load a verifier model folder and embed signatures, with the card's preprocessing.

The card carries the contract: ``arch`` + ``arch_args`` build the network, ``preprocessing`` holds the
keyword arguments of :func:`sigpipe.clean.clean` (size, canvas, ...) and the input scaling; callers never
restate them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sigpipe.verifier.nets import build_model
from sigpipe.weights import ModelCard, load_card

__all__ = ["CLEAN_ARGS", "Verifier", "to_input"]


CLEAN_ARGS = ("median", "speck_frac", "min_contrast", "oversample")  # card preprocessing keys clean() takes

def to_input(batch: np.ndarray, device: torch.device | str = "cpu", channels_last: bool = True,
             ink_norm: float | None = None) -> torch.Tensor:
    """Cleaned crops ``(B, h, w) uint8`` -> network input ``(B, 1, h, w) float32`` in [0, 1] (ink high).

    ``ink_norm``: scale each crop so the mean of its ink pixels is this value, so that ink darkness (pen,
    scanner; in CEDAR it even differs between genuine and forged scans) carries no information; relative
    pressure within a signature is kept.
    """
    x = torch.from_numpy(np.ascontiguousarray(batch)).to(device)[:, None].float().div_(255.0)
    if ink_norm:
        ink = (x > 0).sum(dim=(1, 2, 3), keepdim=True).clamp(min=1)
        mean = x.sum(dim=(1, 2, 3), keepdim=True) / ink
        x = (x * (ink_norm / mean.clamp(min=1e-3))).clamp_(0, 1)
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


def _amp_dtype(device: torch.device, precision: str) -> torch.dtype | None:
    """Autocast dtype: "fp32" none; "auto" fp16 on CUDA, bf16 on CPUs with native bf16 (AVX512-BF16/AMX:
    2x the crops/s of fp32 here, embeddings within cosine 0.997 of fp32), else none; "bf16"/"fp16" forced."""
    if precision == "fp32":
        return None
    if precision in ("bf16", "fp16"):
        return torch.bfloat16 if precision == "bf16" else torch.float16
    if precision != "auto":
        raise ValueError(f"unknown precision {precision!r} (auto|fp32|bf16|fp16)")
    if device.type == "cuda":
        return torch.float16
    return torch.bfloat16 if device.type == "cpu" and torch.ops.mkldnn._is_mkldnn_bf16_supported() else None


class Verifier:
    """An embedder from a model folder: ``Verifier.load("models/verifier-signet")``.

    ``embed_clean((N, h, w) uint8) -> (N, D) float32`` and ``embed_images`` for raw crops; ``threshold``
    is the card's writer-independent decision threshold; ``writer_dependent`` the card's enrolment settings.
    """

    def __init__(self, model: torch.nn.Module, card: ModelCard | None, preprocessing: dict[str, Any],
                 threshold: float | None = None, device: str | torch.device | None = None,
                 precision: str = "auto") -> None:
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.amp_dtype = _amp_dtype(self.device, precision)
        self.model = model.to(self.device).eval().to(memory_format=torch.channels_last)
        self.card = card
        self.preprocessing = dict(preprocessing)
        self.size: tuple[int, int] = tuple(self.preprocessing["size"])  # type: ignore[assignment]
        self.threshold = threshold
        self.destamp: Any = None  # the card's stamp remover for crops cut from pages (sigpipe.destamp), if it names one

    @classmethod
    def load(cls, folder: str | Path, device: str | torch.device | None = None, precision: str = "auto") -> Verifier:
        card = load_card(folder)
        if card.get("kind") != "verifier":
            raise ValueError(f"{folder}: card kind is {card.get('kind')!r}, not 'verifier'")
        model = build_model(card["arch"], card["arch_args"])
        state = torch.load(card.weights_path, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
        thr = card.get("threshold", {}).get("value")
        v = cls(model, card, card["preprocessing"], thr, device, precision)
        if card.get("destamp"):
            from sigpipe.destamp import StampRemover

            v.destamp = StampRemover.from_card(folder, card["destamp"])
        return v

    @property
    def writer_dependent(self) -> dict[str, Any] | None:
        return self.card.get("writer_dependent") if self.card is not None else None

    @property
    def clean_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for :func:`sigpipe.clean.clean` / ``clean_batch`` from the card."""
        p = self.preprocessing
        kw = {k: p[k] for k in CLEAN_ARGS if k in p}
        return {"size": tuple(p["size"]), "canvas": tuple(p["canvas"]) if p.get("canvas") else None, **kw}

    @torch.inference_mode()
    def embed_clean(self, crops: np.ndarray, batch_size: int = 64, tta: bool | None = None) -> np.ndarray:
        """Cleaned crops ``(N, h, w) uint8`` -> embeddings ``(N, D) float32`` (unit rows).

        ``tta`` (default: the card's ``tta`` flag) averages the embedding of the crop and its one-pixel
        shifts before re-normalising.
        """
        crops = np.asarray(crops)
        if crops.ndim != 3 or tuple(crops.shape[1:]) != self.size:
            raise ValueError(f"expected cleaned crops (N, {self.size[0]}, {self.size[1]}), got {crops.shape}")
        tta = bool(self.preprocessing.get("tta", False)) if tta is None else tta
        out = []
        for i in range(0, len(crops), batch_size):
            x = to_input(crops[i : i + batch_size], self.device, ink_norm=self.preprocessing.get("ink_norm"))
            with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None):
                e = self.model(x).float()
                if tta:
                    for dy, dx in ((0, 2), (0, -2), (2, 0), (-2, 0)):
                        e = e + self.model(torch.roll(x, shifts=(dy, dx), dims=(2, 3))).float()
                    e = torch.nn.functional.normalize(e, dim=1)
            out.append(e.cpu().numpy())
        if not out:
            return np.zeros((0, getattr(self.model, "dim", 0)), np.float32)
        return np.concatenate(out).astype(np.float32)

    def clean(self, images: Sequence[np.ndarray | str | Path], workers: int = 1) -> np.ndarray:
        """Raw crops or paths -> cleaned ``(N, h, w) uint8`` with the card's preprocessing."""
        from sigpipe.clean import clean_batch

        kw = self.clean_kwargs
        return clean_batch(list(images), kw.pop("size"), kw.pop("canvas"), workers=workers, **kw)

    def embed_images(self, images: Sequence[np.ndarray | str | Path], batch_size: int = 64,
                     workers: int = 1) -> np.ndarray:
        """Raw crops ``(H_i, W_i)`` (or paths) -> ``(N, D) float32`` embeddings."""
        return self.embed_clean(self.clean(images, workers), batch_size)
