"""Atomic, idempotent partition writes: ``<lake>/<table>/run_id=<id>/part-<key>.parquet``.

A part is written to a hidden temporary name in the same folder and renamed into place, so a crash
never leaves a half file and a retry of the same (table, run, key) overwrites instead of duplicating.
Files are owner-only (0600, folders 0700): signatures are biometric data.
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from storage.schemas import schema

__all__ = ["part_path", "chunk_key", "write_part", "write_blob", "flush", "read_table", "new_run_id", "lake_path"]

_KEY = re.compile(r"^[A-Za-z0-9_.:=-]{1,128}$")
_FILE_MODE = 0o600
_DIR_MODE = 0o700


def new_run_id(flow: str) -> str:
    """Sortable, unique run id: ``<flow>-<UTC timestamp>-<8 hex>``."""
    from datetime import UTC, datetime

    return f"{flow}-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"


def lake_path(lake: str | Path) -> Path:
    lake = Path(lake).expanduser().resolve()
    _mkdirs(lake)
    return lake


def _mkdirs(path: Path) -> None:
    if not path.is_dir():
        old = os.umask(0o077)
        try:
            path.mkdir(parents=True, exist_ok=True)
        finally:
            os.umask(old)


def _check_key(name: str, value: str) -> None:
    if not _KEY.match(value) or value in {".", ".."}:
        raise ValueError(f"{name} {value!r} is not a safe partition key (letters, digits, _.:=- only)")


def chunk_key(ids: Iterable[str], prefix: str = "chunk") -> str:
    """The part key of a task's chunk (its documents, or signatures, in the task's order): the same chunk gets
    the same key, so a retried task overwrites its part instead of adding a second one."""
    return f"{prefix}-" + hashlib.sha256("\n".join(ids).encode()).hexdigest()[:24]


def part_path(lake: str | Path, table: str, run_id: str, key: str) -> Path:
    schema(table)  # unknown table -> KeyError naming the tables
    _check_key("run_id", run_id)
    _check_key("part key", key)
    return Path(lake) / table / f"run_id={run_id}" / f"part-{key.replace(':', '_')}.parquet"


def _atomic_write(dest: Path, write, durable: bool = True) -> Path:
    """Write through a hidden temporary file renamed into place: readers and a killed writer never see half a
    file. ``durable``: the bytes reach the disk (fsync) before the rename, so a power cut cannot leave the new
    name on an empty file; writers of many files pass False and call :func:`flush` once before their commit
    marker instead (one journal commit instead of one per file)."""
    _mkdirs(dest.parent)
    tmp = dest.parent / f".{dest.name}.{uuid.uuid4().hex}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE)
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def write_part(lake: str | Path, table: str, run_id: str, key: str,
               rows: Sequence[Mapping[str, Any]] | pa.Table, durable: bool = True) -> Path:
    """Write rows (dicts or an Arrow table) as one part of ``table``; validated against its schema.

    ``durable=False`` skips the part's own fsync: for parts a later commit marker covers, written after
    :func:`flush`."""
    sch = schema(table)
    if isinstance(rows, pa.Table):
        data = rows.select(sch.names).cast(sch)
    else:
        missing = {n for r in rows for n in sch.names if n not in r and not sch.field(n).nullable}
        if missing:
            raise ValueError(f"{table}: rows lack required columns {sorted(missing)}")
        extra = {k for r in rows for k in r} - set(sch.names)
        if extra:
            raise ValueError(f"{table}: unknown columns {sorted(extra)}")
        data = pa.Table.from_pylist(list(rows), schema=sch)
    bad = [r for r in data.column("run_id").unique().to_pylist() if r != run_id]
    if bad:
        raise ValueError(f"{table}: rows carry run_id {bad[0]!r} but the partition is {run_id!r}")
    dest = part_path(lake, table, run_id, key)
    return _atomic_write(dest, lambda f: pq.write_table(data, f, compression="zstd"), durable)


def write_blob(lake: str | Path, relpath: str, data: bytes, durable: bool = True) -> str:
    """Write bytes (a page image, a crop, an evidence PNG) under the lake; returns the lake-relative path.
    ``durable=False``: as for :func:`write_part`."""
    rel = Path(relpath)
    if rel.is_absolute() or ".." in rel.parts:
        raise ValueError(f"blob path {relpath!r} must be relative and stay inside the lake")
    _atomic_write(Path(lake) / rel, lambda f: f.write(data), durable)
    return rel.as_posix()


_libc = None


def flush(lake: str | Path) -> None:
    """Make every file written under ``lake`` so far durable, names included: ``syncfs`` on the lake's file
    system (one journal commit), or ``sync`` where there is no ``syncfs``. Called between a task's data files
    (written with ``durable=False``) and the commit markers that make them visible, so after a power cut a
    marker never points at data that did not reach the disk."""
    global _libc
    fd = os.open(lake, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        if _libc is None:
            import ctypes
            import ctypes.util

            _libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        syncfs = getattr(_libc, "syncfs", None)
        if syncfs is None or syncfs(fd) != 0:
            os.sync()
    finally:
        os.close(fd)


def read_table(lake: str | Path, table: str) -> pa.Table:
    """All raw parts of a table (no view logic) as one Arrow table; empty and typed when none exist."""
    sch = schema(table)
    files = sorted((Path(lake) / table).glob("run_id=*/*.parquet"))
    if not files:
        return sch.empty_table()
    return pa.concat_tables([pq.read_table(f, schema=sch) for f in files])
