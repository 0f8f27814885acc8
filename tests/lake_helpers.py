"""Small look-ups the flow tests share: a query's rows over a lake's views, the lake's files (to check that a
rerun wrote nothing), and the environment of a ``sigpipe`` child process."""

from __future__ import annotations

import os
from pathlib import Path

import storage


def rows(lake: Path, sql: str, params: dict | None = None) -> list[dict]:
    """The rows of ``sql`` over ``lake``'s views, values bound as ``$name``."""
    con = storage.connect(lake)
    try:
        return storage.query(con, sql, params).to_pylist()
    finally:
        con.close()


def files(lake: Path) -> list[tuple[str, int]]:
    """Every file under ``lake`` with its size, sorted."""
    return sorted((str(p.relative_to(lake)), p.stat().st_size) for p in lake.rglob("*") if p.is_file())


def child_env() -> dict[str, str]:
    """The environment of a child ``sigpipe`` process: it talks to this test session's Prefect server (no ephemeral
    server per process) and runs torch on one thread."""
    from prefect.settings import PREFECT_API_URL

    return {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value()), "OMP_NUM_THREADS": "1"}
