from __future__ import annotations

import stat
from datetime import UTC, datetime

import pyarrow as pa
import pytest

import storage

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _doc(doc_id: str, run_id: str) -> dict:
    return {"doc_id": doc_id, "path": f"/in/{doc_id}.pdf", "file_name": f"{doc_id}.pdf", "size_bytes": 10,
            "n_pages": 1, "dpi": 200, "run_id": run_id, "ingested_at": T0}


def _page(doc_id: str, page: int, run_id: str) -> dict:
    return {"page_id": f"{doc_id}:{page}", "doc_id": doc_id, "page": page, "width": 100, "height": 200, "dpi": 200,
            "image_path": f"blobs/{doc_id}/{page}.jpg", "run_id": run_id, "created_at": T0}


def test_every_table_has_a_schema_with_run_id():
    for name in ("documents", "pages", "signatures", "embeddings", "references", "verdicts", "matches", "failures",
                 "runs", "detections"):
        assert "run_id" in storage.schema(name).names
    with pytest.raises(KeyError, match="unknown table"):
        storage.schema("nope")


def test_write_part_layout_atomic_and_owner_only(tmp_path):
    p = storage.write_part(tmp_path, "documents", "r1", "d1", [_doc("d1", "r1")])
    assert p == tmp_path / "documents" / "run_id=r1" / "part-d1.parquet"
    assert stat.S_IMODE(p.stat().st_mode) == 0o600
    assert stat.S_IMODE(p.parent.stat().st_mode) == 0o700
    assert [f.name for f in p.parent.iterdir()] == ["part-d1.parquet"]  # no temporary left behind


def test_retry_overwrites_instead_of_duplicating(tmp_path):
    storage.write_part(tmp_path, "documents", "r1", "d1", [_doc("d1", "r1")])
    storage.write_part(tmp_path, "documents", "r1", "d1", [_doc("d1", "r1")])
    assert storage.read_table(tmp_path, "documents").num_rows == 1


def test_write_part_validates(tmp_path):
    with pytest.raises(ValueError, match="required columns"):
        storage.write_part(tmp_path, "documents", "r1", "d1", [{"doc_id": "d1", "run_id": "r1"}])
    with pytest.raises(ValueError, match="unknown columns"):
        storage.write_part(tmp_path, "documents", "r1", "d1", [{**_doc("d1", "r1"), "oops": 1}])
    with pytest.raises(ValueError, match="partition is 'r2'"):
        storage.write_part(tmp_path, "documents", "r2", "d1", [_doc("d1", "r1")])
    with pytest.raises(ValueError, match="safe partition key"):
        storage.write_part(tmp_path, "documents", "../evil", "d1", [_doc("d1", "../evil")])


def test_write_blob_stays_inside_the_lake(tmp_path):
    rel = storage.write_blob(tmp_path, "blobs/a/b.jpg", b"xyz")
    assert (tmp_path / rel).read_bytes() == b"xyz"
    assert stat.S_IMODE((tmp_path / rel).stat().st_mode) == 0o600
    with pytest.raises(ValueError, match="inside the lake"):
        storage.write_blob(tmp_path, "../outside.jpg", b"x")


def test_deferred_writes_skip_fsync_until_one_flush(tmp_path, monkeypatch):
    """Data files written with durable=False are as atomic and owner-only as the others, but cost no fsync each:
    a task flushes the lake once before its commit markers."""
    import os

    fsyncs = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (fsyncs.append(fd), real_fsync(fd))[1])
    rel = storage.write_blob(tmp_path, "blobs/a/c.jpg", b"abc", durable=False)
    p = storage.write_part(tmp_path, "pages", "r1", "d1", [_page("d1", 1, "r1")], durable=False)
    assert fsyncs == []
    assert (tmp_path / rel).read_bytes() == b"abc" and storage.read_table(tmp_path, "pages").num_rows == 1
    assert stat.S_IMODE(p.stat().st_mode) == 0o600 and stat.S_IMODE((tmp_path / rel).stat().st_mode) == 0o600
    assert sorted(f.name for f in p.parent.iterdir()) == ["part-d1.parquet"]
    storage.flush(tmp_path)
    storage.write_part(tmp_path, "documents", "r1", "d1", [_doc("d1", "r1")])  # the marker: durable by default
    assert len(fsyncs) == 1
    with pytest.raises(FileNotFoundError):
        storage.flush(tmp_path / "missing")


def test_empty_lake_has_every_view(tmp_path):
    con = storage.connect(tmp_path)
    for view in storage.view_names():
        tbl = storage.query(con, f'SELECT * FROM "{view}"')
        assert tbl.num_rows == 0, view
    # typed even when empty: the documents view has the schema's columns
    assert storage.query(con, "SELECT * FROM documents").schema.names == storage.schema("documents").names


def test_views_hide_rows_of_uncommitted_documents(tmp_path):
    # run r1 committed d1; it crashed after writing d2's pages but before d2's documents row
    storage.write_part(tmp_path, "pages", "r1", "d1", [_page("d1", 1, "r1"), _page("d1", 2, "r1")])
    storage.write_part(tmp_path, "documents", "r1", "d1", [_doc("d1", "r1")])
    storage.write_part(tmp_path, "pages", "r1", "d2", [_page("d2", 1, "r1")])
    con = storage.connect(tmp_path)
    assert storage.query(con, "SELECT count(*) FROM pages").column(0)[0].as_py() == 2
    # rerun r2 redoes d2 completely: d2 appears once
    storage.write_part(tmp_path, "pages", "r2", "d2", [_page("d2", 1, "r2")])
    storage.write_part(tmp_path, "documents", "r2", "d2", [_doc("d2", "r2")])
    con = storage.connect(tmp_path)
    rows = storage.query(con, "SELECT doc_id, count(*) AS n FROM pages GROUP BY doc_id ORDER BY doc_id").to_pylist()
    assert rows == [{"doc_id": "d1", "n": 2}, {"doc_id": "d2", "n": 1}]
    summary = storage.query(con, "SELECT file_name, n_pages, pages_stored FROM document_summary").to_pylist()
    assert summary == [{"file_name": "d1.pdf", "n_pages": 1, "pages_stored": 2},
                       {"file_name": "d2.pdf", "n_pages": 1, "pages_stored": 1}]


def test_query_binds_parameters_never_formats(tmp_path):
    storage.write_part(tmp_path, "documents", "r1", "d1", [_doc("d1", "r1")])
    con = storage.connect(tmp_path)
    hit = storage.query(con, "SELECT doc_id FROM documents WHERE doc_id = $d", {"d": "d1"})
    assert hit.column(0).to_pylist() == ["d1"]
    evil = storage.query(con, "SELECT doc_id FROM documents WHERE doc_id = $d", {"d": "x' OR '1'='1"})
    assert evil.num_rows == 0


def test_arrow_table_write_and_read(tmp_path):
    tbl = pa.Table.from_pylist([_doc("d1", "r1"), _doc("d2", "r1")], schema=storage.schema("documents"))
    storage.write_part(tmp_path, "documents", "r1", "batch-0", tbl)
    assert sorted(storage.read_table(tmp_path, "documents").column("doc_id").to_pylist()) == ["d1", "d2"]


def test_connect_missing_lake_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        storage.connect(tmp_path / "nope")
