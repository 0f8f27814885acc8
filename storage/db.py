"""DuckDB over the Parquet lake: one view per table, plus analyst views, from ``storage/views/*.sql``.

Each table first gets a private source view ``_src_<table>``: ``read_parquet`` over its parts, or an
empty typed table when it has none yet (DuckDB refuses a view over a glob with no files). The SQL files
only name those source views and each other, so no path is ever formatted into user-facing SQL, and
user values are always bound as parameters (``$name``), never formatted.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from storage.schemas import SCHEMAS

__all__ = ["connect", "query", "VIEWS_DIR", "view_names", "parquet_source", "sql_literal"]

VIEWS_DIR = Path(__file__).with_name("views")


def sql_literal(path: Path) -> str:
    """A path as a quoted SQL string literal (quotes doubled), for DuckDB calls that take no parameters."""
    return "'" + str(path).replace("'", "''") + "'"


def parquet_source(lake: Path, table: str) -> str:
    """SQL reading every part of ``table`` under ``lake``: each part is cast to the table's schema when written
    (storage.lake.write_part), so DuckDB may take the schema from one file instead of reading every footer."""
    glob = sql_literal(lake / table / "run_id=*" / "*.parquet")
    return f"SELECT * FROM read_parquet({glob}, hive_partitioning = false)"


def view_names() -> list[str]:
    return sorted(p.stem for p in VIEWS_DIR.glob("*.sql"))


def connect(lake: str | Path, threads: int | None = None) -> duckdb.DuckDBPyConnection:
    """In-memory DuckDB with a view per table and the analyst views; the lake is read, never written."""
    lake = Path(lake).expanduser().resolve()
    if not lake.is_dir():
        raise FileNotFoundError(f"lake {lake} does not exist (run `sigpipe ingest INBOX --lake {lake}` first)")
    con = duckdb.connect(":memory:")
    con.execute("SET parquet_metadata_cache = true")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    for table, sch in SCHEMAS.items():
        parts = lake / table
        if any(parts.glob("run_id=*/*.parquet")):
            src = parquet_source(lake, table)
        else:
            con.register(f"_empty_{table}", pa.Table.from_batches([], schema=sch))
            src = f"SELECT * FROM _empty_{table}"
        con.execute(f'CREATE VIEW "_src_{table}" AS {src}')
    pending = {p.stem: p.read_text() for p in VIEWS_DIR.glob("*.sql")}
    # Views may name each other: create in dependency order by retrying those whose inputs are missing.
    while pending:
        progressed = False
        errors: dict[str, str] = {}
        for name, sql in sorted(pending.items()):
            try:
                con.execute(f'CREATE OR REPLACE VIEW "{name}" AS {sql}')
            except duckdb.CatalogException as e:
                errors[name] = str(e)
                continue
            except duckdb.BinderException as e:  # a column the view needs is missing from the files
                raise RuntimeError(f"view {name}: {e}. Was this lake written by an older sigpipe? "
                                   f"`sigpipe compact --lake {lake}` upgrades its files") from e
            del pending[name]
            progressed = True
        if not progressed:
            raise RuntimeError(f"cannot create views {sorted(errors)}: {errors}")
    return con


def query(con: duckdb.DuckDBPyConnection, sql: str, params: Mapping[str, Any] | None = None) -> pa.Table:
    """Run ``sql`` with named parameters bound (``$name``) and return an Arrow table."""
    try:
        return con.sql(sql, params=dict(params or {})).to_arrow_table()
    except duckdb.IOException:
        # a compaction may have swapped a partition between this query listing its files and opening them
        # (storage/maintain.py): the next listing sees the merged file, so one retry answers the same question
        return con.sql(sql, params=dict(params or {})).to_arrow_table()
