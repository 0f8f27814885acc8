"""The on-disk contract: table schemas, atomic partition writes, DuckDB views. The only pyarrow/duckdb importer."""

from storage.db import connect, query, view_names
from storage.lake import chunk_key, flush, lake_path, new_run_id, part_path, read_table, write_blob, write_part
from storage.locks import flow_lock
from storage.maintain import COMPACTED, SCHEMA_VERSION, LakeTooNew, compact, finished_runs, upgrade, write_audit_counts
from storage.schemas import SCHEMAS, TABLES, schema

__all__ = [
    "COMPACTED", "LakeTooNew", "SCHEMA_VERSION", "SCHEMAS", "TABLES", "chunk_key", "compact", "connect",
    "finished_runs", "flow_lock", "flush", "lake_path", "new_run_id", "part_path", "query", "read_table", "schema",
    "upgrade", "view_names", "write_audit_counts", "write_blob", "write_part",
]
