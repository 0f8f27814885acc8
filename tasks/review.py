"""Review findings into the lake: one part per run, keyed by its findings, so a retry overwrites it."""

from __future__ import annotations

from typing import Any

from prefect import task

import storage

__all__ = ["write_reviews"]


@task(name="write-reviews", retries=2, retry_delay_seconds=1)
def write_reviews(lake: str, run_id: str, rows: list[dict[str, Any]]) -> str:
    key = storage.chunk_key([r["review_id"] for r in rows], prefix="reviews")
    return str(storage.write_part(lake, "reviews", run_id, key, rows))
