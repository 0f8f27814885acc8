"""Runs of one flow take turns on a lake.

Every flow that writes decides what is left to do by reading the lake, then writes. Two runs of the same flow
on the same lake at once (last night's audit still running when tonight's starts, or an operator rerunning a
batch the nightly deployment is working on) would both find a claim undecided and both decide it: two
``verdicts`` rows for one claim, two ``matches`` rankings, a failure recorded twice. So each flow holds
``<lake>/.<flow>.lock`` while it runs, and a second run of that flow waits for the first, then finds its
work done and adds nothing. Runs of different flows do not wait for each other: the tables they both write
(documents, pages, detections, signatures, embeddings, references carried to a new verifier version) are
read through views that keep the first row of a key written twice.

The lock is the kernel's (``flock``): a run that is killed releases it with its process, so nothing stale is
left to clear by hand. The lock file stays empty, so a rerun that finds nothing to do leaves every file of
the lake as it was.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from storage.lake import _FILE_MODE, lake_path

__all__ = ["flow_lock", "holders", "locked"]


@contextmanager
def locked(path: Path, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created empty if missing) for the block.

    ``on_wait`` is called once, before blocking, when another open file holds the lock. The lock belongs to
    this open file: another ``locked`` on the same path waits even in the same process (so never nest two).
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT, _FILE_MODE)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait()
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def holders(path: Path) -> list[int]:
    """Process ids on this host holding a ``flock`` on ``path`` (from ``/proc/locks``); empty where that file
    does not exist, or when the holder runs on another host of a shared file system."""
    try:
        st = os.stat(path)
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return []
    ino = str(st.st_ino)
    pids = []
    for line in lines:
        f = line.split()
        # "1: FLOCK  ADVISORY  WRITE 4242 08:01:1234567 0 EOF"; a waiter's line has "->" after the number
        if "->" in f:
            continue
        if len(f) >= 6 and f[1] == "FLOCK" and f[5].rsplit(":", 1)[-1] == ino and f[4].isdigit():
            pids.append(int(f[4]))
    return sorted(set(pids))


@contextmanager
def flow_lock(lake: str | Path, flow: str, on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
    """One run of ``flow`` at a time writes ``lake``: hold ``<lake>/.<flow>.lock`` for the block.

    ``on_wait(message)`` is called once when another run holds it, before waiting for that run to finish; the
    message names the lock file and, where this host can see it, the other run's process id.
    """
    path = lake_path(lake) / f".{flow}.lock"

    def waiting() -> None:
        if on_wait is None:
            return
        pids = [p for p in holders(path) if p != os.getpid()]
        who = f"process {', '.join(map(str, pids))}" if pids else "a process on another host or one that just ended"
        on_wait(f"another {flow} run is writing {path.parent} ({who} holds {path.name}); waiting for it to finish")

    with locked(path, waiting):
        yield
