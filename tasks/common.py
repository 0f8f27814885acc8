"""Small pieces every task module shares: timestamps, failure and run records, lake look-ups."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prefect import task

import storage
from sigpipe import __version__

__all__ = ["now", "known_keys", "record_failure", "record_run", "failure_row"]


def now() -> datetime:
    return datetime.now(UTC)


def failure_row(path: str, doc_id: str | None, flow: str, stage: str, error: BaseException | str,
                run_id: str) -> dict[str, Any]:
    if isinstance(error, BaseException):
        error_type, reason = type(error).__name__, getattr(error, "reason", None) or str(error)
    else:
        error_type, reason = "Error", error
    return {"path": path, "doc_id": doc_id, "flow": flow, "stage": stage, "error_type": error_type,
            "reason": reason[:2000], "run_id": run_id, "created_at": now()}


def _part_key(flow: str, path: str, doc_id: str | None) -> str:
    import hashlib

    return f"{flow}-{doc_id[:16] if doc_id else hashlib.sha256(path.encode()).hexdigest()[:16]}"


@task(name="record-failure", retries=2, retry_delay_seconds=1)
def record_failure(lake: str, row: dict[str, Any]) -> str:
    """One part per (flow, file): a retry of the same run overwrites it."""
    return str(storage.write_part(lake, "failures", row["run_id"], _part_key(row["flow"], row["path"], row["doc_id"]),
                                  [row]))


@task(name="known-keys", retries=2, retry_delay_seconds=1)
def known_keys(lake: str, sql: str, params: dict[str, Any] | None = None) -> list[str]:
    """First column of a query over the lake's views (e.g. doc_ids already ingested)."""
    if not Path(lake).is_dir():
        return []
    con = storage.connect(lake)
    try:
        return [str(v) for v in storage.query(con, sql, params).column(0).to_pylist() if v is not None]
    finally:
        con.close()


@task(name="record-run", retries=2, retry_delay_seconds=1)
def record_run(lake: str, run_id: str, flow: str, started_at: datetime, params: dict[str, Any],
               n_inputs: int, n_processed: int, n_skipped: int, n_failed: int) -> str:
    row = {"run_id": run_id, "flow": flow, "started_at": started_at, "finished_at": now(),
           "status": "partial" if n_failed else "completed", "params": json.dumps(params, default=str),
           "n_inputs": n_inputs, "n_processed": n_processed, "n_skipped": n_skipped, "n_failed": n_failed,
           "sigpipe_version": __version__, "host": socket.gethostname()}
    return str(storage.write_part(lake, "runs", run_id, "run", [row]))
