"""Small look-ups the flow tests share: a query's rows over a lake's views, and the lake's files (to check that a
rerun wrote nothing)."""

from __future__ import annotations

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
