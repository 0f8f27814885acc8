"""Loaded models, one per (folder, process): tasks pass model folders, never model objects.

Models are not thread-safe (the ultralytics predictor keeps state), so each carries a lock; batching for
the CPU/GPU happens inside sigpipe, per document.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

__all__ = ["detector", "verifier"]

_lock = threading.Lock()
_models: dict[tuple[str, str], tuple[Any, threading.Lock]] = {}


def _get(kind: str, folder: str | Path, load) -> tuple[Any, threading.Lock]:
    key = (kind, str(Path(folder).resolve()))
    with _lock:
        if key not in _models:
            _models[key] = (load(folder), threading.Lock())
        return _models[key]


def detector(folder: str | Path) -> tuple[Any, threading.Lock]:
    """The detector in ``folder`` (sha256 checked against its card on first load) and its lock."""
    from sigpipe.detect import load_detector

    return _get("detector", folder, load_detector)


def verifier(folder: str | Path) -> tuple[Any, threading.Lock]:
    """The verifier in ``folder`` (sha256 checked against its card on first load) and its lock."""
    from sigpipe.verifier.infer import Verifier

    return _get("verifier", folder, Verifier.load)
