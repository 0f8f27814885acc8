"""The one place that sets environment defaults so that nothing in sigpipe ever tries the network.

Every entry point (CLI, flows, benchmarks, tests) calls :func:`configure` before importing prefect,
ultralytics or timm: those libraries read their settings at import time. Values already set by the
user win (``setdefault``), so an operator can still point Prefect at a real server.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
from collections.abc import Callable
from pathlib import Path

__all__ = ["configure", "release_heap", "state_dir", "OFFLINE_ENV"]

# Repository root for an editable install; the state dir lives beside the code, out of the home dir.
_PROJECT_ROOT = Path(__file__).resolve().parents[1]


def state_dir() -> Path:
    """Project state dir: ``$SIGPIPE_HOME`` or ``<project>/.state`` (gitignored)."""
    return Path(os.environ.get("SIGPIPE_HOME", _PROJECT_ROOT / ".state")).resolve()


def OFFLINE_ENV(home: Path) -> dict[str, str]:  # noqa: N802 - reads like the constant it stands for
    """Environment defaults keyed by variable name, for a state dir ``home``."""
    return {
        # ultralytics: no downloads, no pip auto-install, settings and datasets_dir under the state dir.
        "YOLO_OFFLINE": "1",
        "YOLO_AUTOINSTALL": "false",
        "YOLO_VERBOSE": "false",
        "YOLO_CONFIG_DIR": str(home / "ultralytics"),
        # timm / huggingface: a stray hub lookup fails at once instead of after ~52 s of retries.
        "HF_HUB_OFFLINE": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TORCH_HOME": str(home / "torch"),
        # Prefect: no telemetry (it also causes "database is locked" on a cold start), state out of ~.
        "PREFECT_HOME": str(home / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_CLOUD_ENABLE_ORCHESTRATION_TELEMETRY": "false",
        "DO_NOT_TRACK": "1",
        # A cold ephemeral server takes ~13 s here; the default 20 s timeout is too tight on a busy CI box.
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "MPLBACKEND": "Agg",
    }


_configured: Path | None = None


def configure(home: Path | None = None) -> Path:
    """Set offline defaults (idempotent) and the ultralytics settings file; return the state dir."""
    global _configured
    home = (home or state_dir()).resolve()
    if _configured == home:
        return home
    for key, value in OFFLINE_ENV(home).items():
        os.environ.setdefault(key, value)
    (home / "ultralytics").mkdir(parents=True, exist_ok=True)
    (home / "prefect").mkdir(parents=True, exist_ok=True)
    _configured = home
    return home


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None where the C library has none (musl, macOS)."""
    name = ctypes.util.find_library("c")
    try:
        return getattr(ctypes.CDLL(name), "malloc_trim", None) if name else None
    except OSError:
        return None


def release_heap() -> None:
    """Give the free pages of the C heap back to the system (glibc's ``malloc_trim(0)``, all arenas; nothing where
    there is no glibc). glibc keeps what is freed for later: networks run on inputs of many shapes (the stamp remover
    sees every crop at its own size) leave freed blocks all through its heaps, and a process's memory grows with
    the crops it has seen: 1,500 crops of random sizes through the stamp remover, 400 MB more, 110 MB after a trim.
    Heavy tasks call it as they end (:func:`tasks.common.releases_heap`; 4-15 ms; not the enrolment's task of one
    signer, which is small and runs once per signer): an audit of 5,000 pages
    of ``bench/pipeline.py`` peaked at 2.00 GB with it, 2.19 GB without (``notes/verifier-experiments.md``, session
    30). Trimming more often (every 64 crops, every 16 documents) bought nothing more and cost time."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
