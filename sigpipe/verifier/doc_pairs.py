"""Signatures as the audit cuts them from documents, paired with the same signatures cleaned alone.

On composed real documents most genuine claims decided forgery are decided genuine or inconclusive when their
scan is scored alone (notes/verifier-experiments.md, session 12): the document (stamps over the signature,
printed text beside it, a box that cuts a stroke) moves the embedding. :func:`flows.train.verifier_pairs`
composes documents of the verifier's training writers (:mod:`sigpipe.synth.real`), runs the detect flow on them
and keeps every crop it cuts beside the scan it came from; ``sigpipe train verifier-distill --pairs`` then
teaches the student to give, for the crop, the teacher's embedding of the scan.

The file (``.npz``): ``crops`` and ``targets`` ``(N, h, w) uint8`` at the verifier's input size (the crop
cleaned as the audit cleans it; its scan cleaned alone) and ``scans`` (the scan file of each, CEDAR-relative).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["PairsConfig", "load_pairs", "match", "save"]


class PairsConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    cedar: str  # a CEDAR folder (full_org/, full_forg/)
    writers: str = "1-35"  # the verifier's training writers: never its validation or test writers
    documents: int = Field(1100, ge=1)  # per seed
    seeds: list[int] = Field(default_factory=lambda: [1000, 1001])
    scans_per_writer: int = Field(24, ge=1)  # CEDAR's: each writer's scans are used again once all are placed
    forged_fraction: float = Field(0.3, ge=0, le=1)
    min_cover: float = Field(0.5, gt=0, le=1)  # share of a signature's true box a detection must cover
    out: str  # the .npz
    work_dir: str  # composed documents and their lakes (kept: a rerun detects nothing again)
    verifier: str  # its card's cleaning
    detector: str | None = None  # None: the product's

    @field_validator("writers")
    @classmethod
    def _cedar_writers(cls, v: str) -> str:
        from sigpipe.verifier.sampler import parse_writers

        names = parse_writers(v) or set()
        if not names or not all(w.isdigit() for w in names):
            raise ValueError(f"writers {v!r}: CEDAR writer numbers, e.g. 1-35")
        return v

    def writer_numbers(self) -> list[int]:
        from sigpipe.verifier.sampler import parse_writers

        return sorted(int(w) for w in parse_writers(self.writers) or ())


def match(truth: Sequence[dict[str, Any]], scans: Sequence[str], detections: Sequence[dict[str, Any]],
          min_cover: float = 0.5) -> list[tuple[int, str]]:
    """Which scan each detection is: ``truth`` rows (``document, page, x0, y0, x1, y1`` in page pixels, as
    ``truth.csv``), ``scans`` (the scan of each truth row) and ``detections`` (``file_name, page, x0, y0, x1,
    y1``, as ``signatures`` joined with ``documents``) -> ``(detection index, scan)`` for every detection that
    covers at least ``min_cover`` of a true box on its page (the one it covers most). Detections of nothing (a
    stamp, a note) and boxes holding too little of a signature are left out."""
    if len(truth) != len(scans):
        raise ValueError(f"{len(truth)} truth rows but {len(scans)} scans")
    by_page: dict[tuple[str, int], list[tuple[tuple[float, ...], str]]] = {}
    for t, s in zip(truth, scans, strict=True):
        box = tuple(float(t[k]) for k in ("x0", "y0", "x1", "y1"))
        by_page.setdefault((str(t["document"]), int(t["page"])), []).append((box, s))
    out = []
    for i, d in enumerate(detections):
        b = tuple(float(d[k]) for k in ("x0", "y0", "x1", "y1"))
        best, cover = None, 0.0
        for tb, scan in by_page.get((str(d["file_name"]), int(d["page"])), []):
            w, h = min(b[2], tb[2]) - max(b[0], tb[0]), min(b[3], tb[3]) - max(b[1], tb[1])
            area = (tb[2] - tb[0]) * (tb[3] - tb[1])
            c = max(0.0, w) * max(0.0, h) / area if area > 0 else 0.0
            if c > cover:
                best, cover = scan, c
        if best is not None and cover >= min_cover:
            out.append((i, best))
    return out


def save(path: Path, crops: np.ndarray, targets: np.ndarray, scans: Sequence[str]) -> None:
    """Write the pairs file (atomically: a file that exists is whole)."""
    if crops.shape != targets.shape or crops.dtype != np.uint8 or targets.dtype != np.uint8 or len(scans) != len(crops):
        raise ValueError(f"crops {crops.shape} {crops.dtype}, targets {targets.shape} {targets.dtype} and "
                         f"{len(scans)} scans do not pair up")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, crops=crops, targets=targets, scans=np.asarray(list(scans), dtype=str))
    tmp.replace(path)


def load_pairs(path: str | Path, size: Sequence[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A pairs file -> ``crops``, ``targets`` ``(N, h, w) uint8`` and ``scans (N,) str``, checked against the
    verifier's input ``size``; a clear error naming the file otherwise."""
    try:
        with np.load(path) as z:
            px, pt, scans = z["crops"], z["targets"], z["scans"].astype(str)
    except (OSError, KeyError, ValueError) as e:
        raise ValueError(f"--pairs {path}: not an .npz with 'crops', 'targets' and 'scans' ({e})") from e
    if px.shape != pt.shape or px.ndim != 3 or tuple(px.shape[1:]) != tuple(size) or px.dtype != np.uint8:
        raise ValueError(f"--pairs {path}: crops {px.shape} {px.dtype} and targets {pt.shape} must both be "
                         f"(N, {size[0]}, {size[1]}) uint8")
    if len(scans) != len(px):
        raise ValueError(f"--pairs {path}: {len(scans)} scan names for {len(px)} crops")
    return px, pt, scans
