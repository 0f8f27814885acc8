"""Loaded models, per (folder, process): tasks pass model folders, never model objects.

Models are not thread-safe (the ultralytics predictor keeps state). The verifier is one instance with a lock
(its batched forward is fast). Detectors come from a pool: a task checks one out for its chunk of pages and
gives it back, so two task threads detect at once on two instances (ultralytics sets torch to one CPU thread
per process on a 2-core machine, so one shared instance behind a lock would leave a core idle); the pool
grows to the number of tasks detecting at the same time and is reused by later flow runs in the process.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["detector", "verifier"]

_lock = threading.Lock()
_models: dict[tuple[str, str], tuple[Any, threading.Lock]] = {}
_free_detectors: dict[str, list[Any]] = {}


def _get(kind: str, folder: str | Path, load) -> tuple[Any, threading.Lock]:
    key = (kind, str(Path(folder).resolve()))
    with _lock:
        if key not in _models:
            _models[key] = (load(folder), threading.Lock())
        return _models[key]


@contextmanager
def detector(folder: str | Path) -> Iterator[Any]:
    """A detector loaded from ``folder`` (sha256 checked against its card when loaded), for this task alone
    until the ``with`` block ends."""
    from sigpipe.detect import load_detector

    key = str(Path(folder).resolve())
    with _lock:
        free = _free_detectors.setdefault(key, [])
        det = free.pop() if free else None
    if det is None:
        det = load_detector(folder)  # outside the lock: another task may load or take one meanwhile
    try:
        yield det
    finally:
        with _lock:
            _free_detectors[key].append(det)


def verifier(folder: str | Path) -> tuple[Any, threading.Lock]:
    """The verifier in ``folder`` (sha256 checked against its card on first load) and its lock."""
    from sigpipe.verifier.infer import Verifier

    return _get("verifier", folder, Verifier.load)
