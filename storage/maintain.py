"""Lake upkeep when a run finishes: per-run audit counts and compaction of the run's partitions.

Compaction rewrites the parts of one finished run's partition ``<lake>/<table>/run_id=<id>/`` (one small file
per task's chunk of documents, or per document in lakes written before sigpipe grouped them) into a single
file, ``part-~compacted.parquet``, sorted for the common look-ups with zone maps per row group and Bloom
filters on the id columns. Parquet stays the only truth.

Crash safety (a SIGKILL at any moment neither loses nor duplicates a row, and a reader never sees both the old
parts and the merged file):

1. Only partitions of finished runs are touched: a run is finished once its ``runs`` row exists, and that row is
   every flow's last write, so nobody writes into those folders any more.
2. The merged file is written (and fsynced) into a hidden staging folder ``<table>/.compact-<uuid>/``, which
   the views' glob ``run_id=*/*.parquet`` never matches.
3. One ``renameat2(RENAME_EXCHANGE)`` swaps the staging folder and ``run_id=<id>``: the partition's name points
   at the old parts or at the merged file, never at both nor at neither. The old parts end up in the hidden
   folder, which is then removed.
4. A kill before 3 leaves an unused hidden folder, after 3 a hidden folder of old parts: both invisible, and
   removed by the next compaction (which holds ``<lake>/.compact.lock``, so it never removes a live one).
A partition that already holds only the merged file (of the present layout) is skipped: compaction is idempotent.

A reader whose query listed the old parts just before the swap may find them gone: ``storage.query`` retries
such a query once.
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import uuid
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from storage.db import VIEWS_DIR, parquet_source, sql_literal
from storage.lake import _FILE_MODE, _atomic_write, part_path, write_part
from storage.locks import locked
from storage.schemas import schema

__all__ = ["COMPACTED", "LakeTooNew", "compact", "finished_runs", "write_audit_counts", "upgrade"]

# bumped with each change storage.upgrade brings old files through (2: detections.max_confidence; 3: verdicts.file_name
# and matches.file_name; 4: audit_counts.signatures counted again with the second look's boxes; 5:
# detections.page_turn and signatures.page_turn; 6: their page_turn_sure; 7: the withdrawals table)
SCHEMA_VERSION = 7
_SCHEMA_MARKER = ".schema-version"  # the version a lake's files were last brought to
COMPACTED = "part-~compacted.parquet"  # "~" is not allowed in a part key, so write_part can never overwrite it
_STAGE_PREFIX = ".compact-"
_LOCK = ".compact.lock"
_LAYOUT_KEY = b"sigpipe.compaction"  # Parquet key-value metadata: the layout a merged file was written with

_ROW_GROUP = 131_072  # rows at most per row group

# table -> (sort keys, columns with a Bloom filter, split column or None): sorted by what analysts filter on; Bloom
# filters make an equality look-up on a 64-hex id skip row groups whose min/max cannot (ids are random). A row
# group never spans two values of the split column: verdicts get one row group per decision, so "flagged"
# (forgery, inconclusive) and "signed" (genuine) skip the other decisions' row groups by their min/max. A
# partition merged under another layout is merged again (the same swap), so a change here applies to old lakes.
_LAYOUT: dict[str, tuple[list[str], list[str], str | None]] = {
    "documents": (["doc_id"], ["doc_id", "file_name"], None),
    "pages": (["doc_id", "page"], ["doc_id", "page_id"], None),
    "detections": (["doc_id", "page"], ["doc_id", "page_id"], None),
    "signatures": (["doc_id", "page", "box_index"], ["doc_id", "sig_id"], None),
    "embeddings": (["sig_id"], ["sig_id"], None),
    "references": (["signer_id", "ref_id"], ["signer_id"], None),
    "withdrawals": (["signer_id", "ref_id"], ["signer_id"], None),
    "verdicts": (["decision", "claimed_signer", "doc_id"], ["doc_id", "claimed_signer", "sig_id"], "decision"),
    "matches": (["signer_id", "doc_id"], ["doc_id", "signer_id", "sig_id"], None),
    "reviews": (["verdict_id", "reviewed_at"], ["verdict_id"], None),
    "failures": (["path"], [], None),
}  # runs and audit_counts hold one file per run already


def _layout_tag(table: str) -> bytes:
    return repr((_LAYOUT[table], _ROW_GROUP)).encode()

# The audit_summary view counts runs that have no audit_counts row with the same query (keep them alike).
_AUDIT_COUNTS_SQL = """
SELECT
    run_id,
    min(created_at) AS audited_at,
    count(DISTINCT doc_id) AS documents,
    -- a claim scored on a box not in signatures has no sig_id: the second look's, decided genuine (0.3.0), or a
    -- signature found whole once the stamps were painted (0.6.2); each is one more signature (no_signature and
    -- unknown_signer claims have no score)
    count(DISTINCT sig_id) + count(*) FILTER (WHERE sig_id IS NULL AND score IS NOT NULL) AS signatures,
    count(*) AS claims,
    count(*) FILTER (WHERE decision = 'genuine') AS genuine,
    count(*) FILTER (WHERE decision = 'forgery') AS forgery,
    count(*) FILTER (WHERE decision = 'inconclusive') AS inconclusive,
    count(*) FILTER (WHERE decision = 'no_signature') AS no_signature,
    count(*) FILTER (WHERE decision = 'unknown_signer') AS unknown_signer
FROM read_parquet({glob}, hive_partitioning = false)
GROUP BY run_id
"""


def finished_runs(lake: str | Path) -> set[str]:
    """Run ids with a ``runs`` row: the flows write it last, so nothing writes into their partitions any more."""
    return {d.name.removeprefix("run_id=") for d in (Path(lake) / "runs").glob("run_id=*")
            if any(d.glob("*.parquet"))}


def write_audit_counts(lake: str | Path, run_id: str) -> Path | None:
    """Count one audit run's verdicts into ``audit_counts`` (call it once the run wrote all of them); None when
    the run wrote no verdicts. A retry overwrites the same part."""
    part_path(lake, "verdicts", run_id, "x")  # checks the run id is a safe partition key
    folder = Path(lake) / "verdicts" / f"run_id={run_id}"
    if not any(folder.glob("*.parquet")):
        return None
    con = duckdb.connect(":memory:")
    try:
        con.execute("SET threads = 1")
        tbl = con.sql(_AUDIT_COUNTS_SQL.format(glob=sql_literal(folder / "*.parquet"))).to_arrow_table()
    finally:
        con.close()
    return write_part(lake, "audit_counts", run_id, "counts", tbl)


@contextmanager
def _lock(lake: Path) -> Iterator[None]:
    """One compaction at a time per lake (it removes other compactions' leftovers)."""
    with locked(lake / _LOCK):
        yield


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> None:
    """Atomically swap two directories (Linux ``renameat2(RENAME_EXCHANGE)``, glibc >= 2.28)."""
    libc = ctypes.CDLL(None, use_errno=True)
    fn = getattr(libc, "renameat2", None)
    if fn is None:
        raise OSError(errno.ENOSYS, "renameat2 is not available: compaction needs an atomic directory exchange")
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), str(a), None, str(b))


def _listing(folder: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.glob("*.parquet")}


def _pieces(tbl: pa.Table, split: str | None) -> list[pa.Table]:
    """``tbl`` (sorted by ``split`` first) cut where the split column changes value."""
    if split is None or tbl.num_rows == 0:
        return [tbl]
    ends = pc.run_end_encode(tbl.column(split).combine_chunks()).run_ends.to_pylist()
    return [tbl.slice(a, b - a) for a, b in zip([0, *ends[:-1]], ends, strict=True)]


def _write_layout(f: BinaryIO, tbl: pa.Table, table: str) -> None:
    """``tbl`` (already sorted by the table's layout) as a merged file: row groups, Bloom filters, layout tag."""
    _, blooms, split = _LAYOUT[table]
    tbl = tbl.replace_schema_metadata({**(tbl.schema.metadata or {}), _LAYOUT_KEY: _layout_tag(table)})
    ndv = max(1, min(tbl.num_rows, _ROW_GROUP))
    with pq.ParquetWriter(f, tbl.schema, compression="zstd", write_statistics=True,
                          bloom_filter_options={c: {"ndv": ndv, "fpp": 0.01} for c in blooms}) as w:
        for piece in _pieces(tbl, split):  # each write starts a new row group
            w.write_table(piece, row_group_size=_ROW_GROUP)


def _write_compacted(dest: Path, tbl: pa.Table, table: str) -> None:
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE)
    with os.fdopen(fd, "wb") as f:
        _write_layout(f, tbl, table)
        f.flush()
        os.fsync(f.fileno())


def _is_current(path: Path, table: str) -> bool:
    """Whether a merged file was written with the table's present layout."""
    return (pq.read_schema(path).metadata or {}).get(_LAYOUT_KEY) == _layout_tag(table)


def _compact_partition(table: str, folder: Path) -> dict[str, int] | None:
    """Merge one finished run's partition into one sorted file; None when there is nothing to do."""
    before = _listing(folder)
    if not before or (list(before) == [COMPACTED] and _is_current(folder / COMPACTED, table)):
        return None
    sch = schema(table)
    keys = _LAYOUT[table][0]
    parts = sorted(before)
    # one dataset scan reads the small parts on Arrow's threads, in order (a Python loop of
    # read_table calls took twice as long)
    tbl = ds.dataset([str(folder / p) for p in parts], schema=sch, format="parquet").to_table()
    if keys:
        tbl = tbl.sort_by([(k, "ascending") for k in keys])
    stage = folder.parent / f"{_STAGE_PREFIX}{uuid.uuid4().hex}"
    os.mkdir(stage, 0o700)
    try:
        os.chmod(stage, 0o700)  # becomes the partition folder: owner-only whatever the umask
        _write_compacted(stage / COMPACTED, tbl, table)
        if pq.ParquetFile(stage / COMPACTED).metadata.num_rows != tbl.num_rows:
            raise OSError(f"compacted {folder} does not read back whole")
        _fsync_dir(stage)
        if _listing(folder) != before:  # someone wrote meanwhile (an unfinished run after all): leave it
            return None
        _exchange(stage, folder)  # the partition is now the merged file; `stage` holds the old parts
        _fsync_dir(folder.parent)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return {"parts": len(parts), "rows": tbl.num_rows}


def _remove_leftovers(lake: Path) -> int:
    """Hidden folders of compactions that were killed: never visible to the views (call under the lock)."""
    n = 0
    for table_dir in lake.iterdir():
        if table_dir.is_dir():
            for stage in table_dir.glob(f"{_STAGE_PREFIX}*"):
                shutil.rmtree(stage, ignore_errors=True)
                n += 1
    return n


def compact(lake: str | Path, runs: Iterable[str] | None = None, tables: Iterable[str] | None = None) -> dict:
    """Compact every finished run's partitions (or only ``runs``, of ``tables``), and write the audit counts of
    finished runs that lack them (lakes from before audit_counts, or a run killed right after its runs row).
    Returns what was done: ``{"partitions", "parts", "rows", "audit_counts", "leftovers"}``."""
    lake = Path(lake).expanduser().resolve()
    if not lake.is_dir():
        raise FileNotFoundError(f"lake {lake} does not exist")
    wanted = set(runs) if runs is not None else None
    todo = [t for t in (_LAYOUT if tables is None else tables) if t in _LAYOUT]
    done = {"partitions": 0, "parts": 0, "rows": 0, "audit_counts": 0, "leftovers": 0}
    with _lock(lake):
        done["leftovers"] = _remove_leftovers(lake)
        finished = finished_runs(lake)
        if wanted is not None:
            finished &= wanted
        counted = {d.name.removeprefix("run_id=") for d in (lake / "audit_counts").glob("run_id=*")
                   if any(d.glob("*.parquet"))}
        for run_id in sorted(finished - counted):
            if write_audit_counts(lake, run_id) is not None:
                done["audit_counts"] += 1
        jobs = []
        for table in todo:
            if wanted is not None:  # a flow finishing its own run: look at its folders only
                folders = [f for f in (lake / table / f"run_id={r}" for r in sorted(finished)) if f.is_dir()]
            else:
                folders = sorted((lake / table).glob("run_id=*"))
            jobs += [(table, f) for f in folders if f.name.removeprefix("run_id=") in finished]
        # partitions are independent folders; Arrow's reads, sorts and writes release the GIL
        with ThreadPoolExecutor(max_workers=2) as pool:
            for res in pool.map(lambda job: _compact_partition(*job), jobs):
                if res:
                    done["partitions"] += 1
                    done["parts"] += res["parts"]
                    done["rows"] += res["rows"]
    return done


# (table, column) each upgrade added, oldest first: a file of ``table`` without ``column`` predates it
_ADDED = [("detections", "max_confidence"), ("verdicts", "file_name"), ("matches", "file_name"),
          ("detections", "page_turn"), ("signatures", "page_turn"), ("detections", "page_turn_sure"),
          ("signatures", "page_turn_sure")]


# columns whose value in files from before them is known (version 5: no detector turned pages before)
_DEFAULTS = {"detections": {"page_turn": 0}, "signatures": {"page_turn": 0}}


class LakeTooNew(RuntimeError):
    """The lake was written by a newer sigpipe than this one (its ``.schema-version`` is higher)."""


def upgrade(lake: str | Path) -> int:
    """Bring Parquet files written by an older sigpipe to the present schema, file by file (each replaced
    atomically, in the same row order; a merged file of the present layout keeps its row groups and Bloom
    filters); idempotent. Returns how many files were rewritten. Every flow calls it first, and so does
    ``sigpipe compact``: once a lake is at the present version (``<lake>/.schema-version``) that is one small
    read, otherwise one footer read per detections, verdicts and matches file.

    The changes so far:
    - 2: ``detections.max_confidence`` (the page's best box confidence, NULL when unsigned), taken for old files
      from the signatures their run wrote;
    - 3: ``verdicts.file_name`` and ``matches.file_name``, the name the ``documents`` view gives the row's
      doc_id (NULL when the lake holds no such document);
    - 4: ``audit_counts.signatures`` also counts the boxes the second look decided genuine (verdicts without a
      sig_id): stored counts of runs with such verdicts are counted again;
    - 5: ``detections.page_turn`` and ``signatures.page_turn`` (the quarter turn that stood the page upright
      before detection), 0 for old files: no detector turned pages before;
    - 6: ``detections.page_turn_sure`` and ``signatures.page_turn_sure`` (whether the page orienter was sure of
      the turn), NULL for old files: what the orienter made of their pages was not kept;
    - 7: the ``withdrawals`` table (no file rewritten). Marked so that this sigpipe refuses the lake once a newer
      one has written it: an older sigpipe would not know what a newer table hides (0.6.4 and before do not check,
      and would use withdrawn references).

    A lake marked with a version newer than this sigpipe's raises :class:`LakeTooNew` and is left as it is.
    """
    lake = Path(lake)
    marker = lake / _SCHEMA_MARKER
    was = marker.read_text().strip() if marker.is_file() else ""
    if was == str(SCHEMA_VERSION):
        return 0  # upgraded (or created) by this version already: every file written since has the present schema
    if was.isdigit() and int(was) > SCHEMA_VERSION:
        raise LakeTooNew(f"lake {lake} was written by a newer sigpipe (lake schema version {was}; this sigpipe "
                         f"knows versions up to {SCHEMA_VERSION}): upgrade sigpipe to use it")
    old = {(t, c): [f for f in sorted((lake / t).glob("run_id=*/*.parquet")) if not _has_column(f, c)]
           for t, c in _ADDED}
    n = 0
    if any(old.values()):
        with _lock(lake):
            n += _add_max_confidence(lake, old[("detections", "max_confidence")])
            files = {t: [f for f in old[(t, "file_name")] if not _has_column(f, "file_name")]
                     for t in ("verdicts", "matches")}
            names = _document_names(lake) if any(files.values()) else {}
            for table, fs in files.items():
                for f in fs:
                    _add_file_name(f, table, names)
                    n += 1
            for table in ("detections", "signatures"):
                for f in sorted(set(old[(table, "page_turn")]) | set(old[(table, "page_turn_sure")])):
                    n += _add_page_turn(f, table)
    if not (was.isdigit() and int(was) >= 4):
        with _lock(lake):
            n += _recount_second_looks(lake)
    _atomic_write(marker, lambda out: out.write(f"{SCHEMA_VERSION}\n".encode()))
    return n


def _recount_second_looks(lake: Path) -> int:
    """Version 4: the stored ``audit_counts`` of runs with a verdict the second look decided (genuine, no sig_id)
    are counted again, ``signatures`` now counting those boxes (call under the lock). Returns the parts rewritten."""
    counted = {d.name.removeprefix("run_id=") for d in (lake / "audit_counts").glob("run_id=*")
               if any(d.glob("*.parquet"))}
    files = sorted((lake / "verdicts").glob("run_id=*/*.parquet"))
    if not counted or not files:
        return 0
    con = duckdb.connect(":memory:")
    try:
        con.execute("SET threads = 1")
        runs = {r[0] for r in con.sql(
            f"SELECT DISTINCT run_id FROM read_parquet([{', '.join(sql_literal(f) for f in files)}], "
            "hive_partitioning = false, union_by_name = true) "
            "WHERE sig_id IS NULL AND decision = 'genuine'").fetchall()}
    finally:
        con.close()
    for run_id in sorted(runs & counted):
        write_audit_counts(lake, run_id)
    return len(runs & counted)


def _rewrite(path: Path, table: str, tbl: pa.Table) -> None:
    """Replace ``path`` atomically by ``tbl`` (same rows, same order, the present schema): a merged file of the
    present layout stays one (row groups, Bloom filters, tag), so the next compaction need not merge it again."""
    for col, value in _DEFAULTS.get(table, {}).items():  # a file older than a column with a value for old rows
        if col not in tbl.column_names:
            tbl = tbl.append_column(col, pa.array([value] * tbl.num_rows, schema(table).field(col).type))
    for f in schema(table):  # a file older than a column without one: NULL
        if f.name not in tbl.column_names and f.nullable:
            tbl = tbl.append_column(f.name, pa.nulls(tbl.num_rows, f.type))
    tbl = tbl.select(schema(table).names).cast(schema(table))
    if path.name == COMPACTED and table in _LAYOUT and _is_current(path, table):
        _atomic_write(path, lambda out: _write_layout(out, tbl, table))
    else:
        _atomic_write(path, lambda out: pq.write_table(tbl, out, compression="zstd"))


def _add_max_confidence(lake: Path, files: list[Path]) -> int:
    """Version 2: detections files get ``max_confidence`` from the signatures their run wrote (call under the lock)."""
    key = ["doc_id", "page", "detector_name", "detector_version"]
    n = 0
    for f in files:
        if _has_column(f, "max_confidence"):  # compacted away or upgraded meanwhile
            continue
        tbl = pq.read_table(f)
        sig_files = sorted((lake / "signatures" / f.parent.name).glob("*.parquet"))
        best: dict[tuple, float] = {}
        for sf in sig_files:
            for r in pq.read_table(sf, columns=[*key, "confidence"]).to_pylist():
                k = tuple(r[c] for c in key)
                best[k] = max(best.get(k, float("-inf")), r["confidence"])
        conf = [best.get(tuple(r[c] for c in key)) if r["n_signatures"] else None
                for r in tbl.select([*key, "n_signatures"]).to_pylist()]
        _rewrite(f, "detections", tbl.append_column("max_confidence", pa.array(conf, pa.float32())))
        n += 1
    return n


def _document_names(lake: Path) -> dict[str, str]:
    """doc_id -> file_name as the ``documents`` view (storage/views/documents.sql) chooses it for a doc_id."""
    if not any((lake / "documents").glob("run_id=*/*.parquet")):
        return {}
    con = duckdb.connect(":memory:")
    try:
        con.execute("SET threads = 1")
        con.execute(f"CREATE VIEW _src_documents AS {parquet_source(lake, 'documents')}")
        con.execute(f"CREATE VIEW documents AS {(VIEWS_DIR / 'documents.sql').read_text()}")
        tbl = con.sql("SELECT doc_id, file_name FROM documents").to_arrow_table()
    finally:
        con.close()
    return dict(zip(tbl.column("doc_id").to_pylist(), tbl.column("file_name").to_pylist(), strict=True))


def _add_file_name(path: Path, table: str, names: dict[str, str]) -> None:
    """Version 3: a verdicts or matches file gets ``file_name`` from ``names`` (doc_id -> name; call under the
    lock)."""
    tbl = pq.read_table(path)
    fn = pa.array([names.get(d) for d in tbl.column("doc_id").to_pylist()], pa.string())
    _rewrite(path, table, tbl.append_column("file_name", fn))


def _add_page_turn(path: Path, table: str) -> int:
    """Versions 5 and 6: a detections or signatures file gets ``page_turn`` 0 and ``page_turn_sure`` NULL, those
    it lacks (call under the lock); returns 1 when it was rewritten, 0 when it had both by now (upgraded or merged
    meanwhile)."""
    if _has_column(path, "page_turn") and _has_column(path, "page_turn_sure"):
        return 0
    _rewrite(path, table, pq.read_table(path))  # _rewrite adds the column
    return 1


def _has_column(path: Path, column: str) -> bool:
    """Whether a Parquet file has ``column``; a file gone meanwhile (merged by a compaction) counts as having it."""
    try:
        return column in pq.read_schema(path).names
    except FileNotFoundError:
        return True
