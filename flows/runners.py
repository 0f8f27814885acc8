"""Task-runner selection: the same flow maps its documents on local threads or on a Dask cluster.

Without an address a flow keeps the runner its ``@flow`` decorator names (a two-thread
``ThreadPoolTaskRunner``: one per core on the 2-core machines it was sized for). With ``--dask ADDRESS``
the CLI swaps in ``DaskTaskRunner(address=ADDRESS)`` through ``flow.with_options``, so the flows stay
unchanged and the runner is chosen at the edge.

Whole runs: :func:`take_turn` makes runs of one flow on one lake run one after the other (``storage.flow_lock``).

Worker set-up. On connecting, the runner registers a worker plugin that, on every worker (and every worker
that joins later), configures the offline runtime and imports the project's ``storage`` package. The latter
matters: a Dask worker puts its scratch folder first on ``sys.path``, and that folder holds a ``storage/``
spill directory, which with an editable install (a meta-path finder, consulted after ``sys.path``) shadows
our ``storage`` as an empty namespace package (tasks then fail with ``module 'storage' has no attribute
'write_part'``). A worker started by hand can also preload this module::

    dask worker tcp://SCHEDULER:8786 --nthreads 1 --preload flows.runners

Models are loaded once per worker process (``tasks/models.py``); tasks pass model folders, never models, so
the folders must be readable at the same paths on every worker (a shared file system), like the lake.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from prefect import Flow
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from sigpipe.runtime import configure as _configure

_configure()

__all__ = ["DEFAULT_WORKERS", "task_runner", "with_runner", "subflow", "take_turn", "dask_setup", "worker_setup"]

F = TypeVar("F", bound=Flow)
R = TypeVar("R")

# Local threads when no cluster is named: rendering runs in poppler's own process and the models release the
# GIL, so one thread per core keeps a 2-core machine busy without oversubscribing it.
DEFAULT_WORKERS = 2


def task_runner(dask: str | None = None, max_workers: int = DEFAULT_WORKERS) -> TaskRunner:
    """``DaskTaskRunner(address=dask)`` when an address is given, else ``ThreadPoolTaskRunner(max_workers)``."""
    if dask:
        return _dask_runner_class()(address=dask)
    return ThreadPoolTaskRunner(max_workers=max_workers)


def with_runner(flow_fn: F, dask: str | None = None) -> F:
    """``flow_fn`` with its document-level maps on the Dask cluster at ``dask``; unchanged when ``dask`` is None
    (the decorator's thread pool)."""
    if not dask:
        return flow_fn
    return flow_fn.with_options(task_runner=task_runner(dask))


def subflow(flow_fn: F) -> F:
    """``flow_fn`` to be called from inside another flow, running on a copy of the caller's task runner.

    Prefect gives a subflow the runner of its own decorator, so without this the ingest step of ``detect``
    or ``audit`` would map on local threads even when the parent runs on Dask. Outside a flow run (or when
    the caller's runner is a thread pool) the flow is returned unchanged.
    """
    from prefect.context import FlowRunContext

    ctx = FlowRunContext.get()
    runner = getattr(ctx, "task_runner", None) if ctx else None
    if runner is None or isinstance(runner, ThreadPoolTaskRunner):
        return flow_fn
    return flow_fn.with_options(task_runner=runner.duplicate())


def take_turn(flow_name: str, params: Any, body: Callable[[Any, str], R]) -> R:
    """``body(params, lake)`` as the one run of flow ``flow_name`` writing ``params.lake`` at a time
    (``storage.flow_lock``; a second run logs whom it waits for, waits, then finds the work done). The lake is
    brought to the present schema first, so a lake a newer sigpipe marked is refused before a lock file is made."""
    from prefect.logging import get_run_logger

    import storage  # here, not at the top: a Dask worker imports storage only once its path is cleaned (below)

    lake = str(storage.lake_path(params.lake))
    storage.upgrade(lake)
    with storage.flow_lock(lake, flow_name, get_run_logger().warning):
        return body(params, lake)


def _import_real_storage() -> None:
    """Import the project's ``storage`` package with namespace-only ``storage/`` folders (Dask's spill
    directory) off ``sys.path``; later imports, including cloudpickle's, then find it in ``sys.modules``."""
    mod = sys.modules.get("storage")
    if mod is not None and getattr(mod, "__file__", None):
        return
    sys.modules.pop("storage", None)
    saved = list(sys.path)

    def shadow(entry: str) -> bool:
        folder = Path(entry or ".") / "storage"
        return folder.is_dir() and not (folder / "__init__.py").is_file()

    sys.path[:] = [p for p in saved if not shadow(p)]
    try:
        importlib.import_module("storage")
    finally:
        sys.path[:] = saved


def worker_setup() -> None:
    """What every Dask worker needs before its first task: the offline runtime and the real ``storage``."""
    _configure()
    _import_real_storage()
    importlib.import_module("tasks")


def dask_setup(worker: Any = None) -> None:
    """Dask ``--preload flows.runners`` hook (idempotent)."""
    worker_setup()


_RUNNER_CLASS: type | None = None


def _dask_runner_class() -> type:
    """``DaskTaskRunner`` that registers :class:`_WorkerSetup` on the cluster when it starts (built lazily so
    that importing this module does not import dask)."""
    global _RUNNER_CLASS
    if _RUNNER_CLASS is not None:
        return _RUNNER_CLASS
    from distributed.diagnostics.plugin import WorkerPlugin
    from prefect_dask import DaskTaskRunner

    class _WorkerSetup(WorkerPlugin):
        name = "sigpipe-worker-setup"

        def setup(self, worker: Any) -> None:
            worker_setup()

    class SigpipeDaskTaskRunner(DaskTaskRunner):
        """``DaskTaskRunner`` whose workers get :func:`worker_setup` before any task runs."""

        def __enter__(self) -> SigpipeDaskTaskRunner:
            super().__enter__()
            self.client.register_plugin(_WorkerSetup(), name=_WorkerSetup.name)
            return self

    _RUNNER_CLASS = SigpipeDaskTaskRunner
    return _RUNNER_CLASS
