"""Withdrawals into the lake: one part per run, keyed by what it withdraws, so a retry overwrites it."""

from __future__ import annotations

from typing import Any

from prefect import task

import storage

__all__ = ["write_withdrawals"]


@task(name="write-withdrawals", retries=2, retry_delay_seconds=1)
def write_withdrawals(lake: str, run_id: str, rows: list[dict[str, Any]]) -> str:
    key = storage.chunk_key([f"{r['signer_id']}:{r['ref_id']}" for r in rows], prefix="withdrawals")
    return str(storage.write_part(lake, "withdrawals", run_id, key, rows))
