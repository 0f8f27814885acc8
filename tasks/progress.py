"""Progress for mapped work: a rich bar when the CLI asked for one, Prefect log lines otherwise."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

from prefect.futures import PrefectFuture, as_completed
from prefect.logging import get_run_logger

__all__ = ["enable_bar", "completed"]

T = TypeVar("T")
_bar_enabled = False  # set by the CLI process only; a worker running a deployment logs instead


def enable_bar(on: bool = True) -> None:
    global _bar_enabled
    _bar_enabled = on


def completed(futures: Iterable[PrefectFuture[T]], label: str) -> Iterator[PrefectFuture[T]]:
    """Yield futures as they finish, advancing a bar (CLI) or logging every ~10% (flows)."""
    futures = list(futures)
    total = len(futures)
    logger = get_run_logger()
    if _bar_enabled and total:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      transient=False) as bar:
            tid = bar.add_task(label, total=total)
            for fut in as_completed(futures):
                bar.advance(tid)
                yield fut
        return
    step = max(1, total // 10)
    for i, fut in enumerate(as_completed(futures), 1):
        if i % step == 0 or i == total:
            logger.info("%s: %d/%d", label, i, total)
        yield fut
