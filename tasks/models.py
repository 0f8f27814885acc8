"""Loaded models, per (folder, process): tasks pass model folders, never model objects.

Models are not thread-safe (the ultralytics predictor keeps state). The verifier is one instance with a lock
(its batched forward is fast). Detectors come from a pool: a task checks one out for its chunk of pages and
gives it back, so two task threads detect at once on two instances (ultralytics sets torch to one CPU thread
per process on a 2-core machine, so one shared instance behind a lock would leave a core idle); the pool
grows to the number of tasks detecting at the same time and is reused by later flow runs in the process.
Each is kept per folder and precision (a flow's ``precision``: "auto", "fp32" or "bf16"), so two flows in one
process that ask for different arithmetic never share a model.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["detector", "precision_used", "verifier"]

_lock = threading.Lock()
_verifiers: dict[tuple[str, str], tuple[Any, threading.Lock]] = {}
_free_detectors: dict[tuple[str, str], list[Any]] = {}


@contextmanager
def detector(folder: str | Path, precision: str = "auto") -> Iterator[Any]:
    """A detector loaded from ``folder`` (sha256 checked against its card when loaded), for this task alone
    until the ``with`` block ends."""
    from sigpipe.detect import load_detector

    key = (str(Path(folder).resolve()), precision)
    with _lock:
        free = _free_detectors.setdefault(key, [])
        det = free.pop() if free else None
    if det is None:  # outside the lock: another task may load or take one meanwhile
        det = load_detector(folder, precision=precision)
    try:
        yield det
    finally:
        with _lock:
            _free_detectors[key].append(det)


def verifier(folder: str | Path, precision: str = "auto") -> tuple[Any, threading.Lock]:
    """The verifier in ``folder`` (sha256 checked against its card on first load) and its lock."""
    from sigpipe.verifier.infer import Verifier

    key = (str(Path(folder).resolve()), precision)
    with _lock:
        if key not in _verifiers:
            _verifiers[key] = (Verifier.load(folder, precision=precision), threading.Lock())
        return _verifiers[key]


def precision_used(precision: str) -> dict[str, str]:
    """What ``precision`` means on this host, as the models loaded with it compute: the detector's arithmetic
    ("bf16" or "fp32"; its box head stays fp32) and the verifier's ("bf16", "fp16" or "fp32"). A run records it
    (``runs.params``): "auto" differs between hosts, and so, near the threshold, may a decision."""
    import torch

    from sigpipe.detect import _auto_device, _use_bf16
    from sigpipe.verifier.infer import _amp_dtype

    amp = _amp_dtype(torch.device("cuda" if torch.cuda.is_available() else "cpu"), precision)
    names = {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}
    return {"detector": "bf16" if _use_bf16(_auto_device(None), precision) else "fp32", "verifier": names[amp]}
