from __future__ import annotations

import pytest
from pypdf import PdfWriter

import storage
from flows.ingest import ingest, plan
from flows.params import IngestParams


def test_plan_skips_known_bad_and_duplicates():
    files = [{"path": "a", "doc_id": "1", "error": None}, {"path": "b", "doc_id": "2", "error": None},
             {"path": "c", "doc_id": "3", "error": None}, {"path": "d", "doc_id": "1", "error": None},
             {"path": "e", "doc_id": None, "error": "unreadable"}, {"path": "f", "doc_id": "4", "error": None}]
    todo, skipped, unreadable = plan(files, ingested={"2"}, known_bad={"3"})
    assert [f["path"] for f in todo] == ["a", "f"]
    assert {s["path"]: s["why"] for s in skipped} == {
        "b": "already ingested", "c": "known bad file (see failures)", "d": "duplicate of another file in this batch"}
    assert [u["path"] for u in unreadable] == ["e"]


def test_params_validate_inbox(tmp_path):
    with pytest.raises(ValueError, match="not a folder"):
        IngestParams(inbox=tmp_path / "missing", lake=tmp_path / "lake")


def _count(con, sql):
    return storage.query(con, sql).column(0)[0].as_py()


def test_ingest_batch_goes_on_past_bad_files_and_rerun_adds_nothing(prefect_harness, make_pdf, tmp_path):
    inbox, lake = tmp_path / "inbox", tmp_path / "lake"
    make_pdf("good1.pdf", [(850, 1100)], folder=inbox)
    make_pdf("good2.pdf", [(850, 1100), (1100, 850)], folder=inbox / "sub")
    (inbox / "not-a-pdf.pdf").write_text("plain text")
    (inbox / "empty.pdf").write_bytes(b"")
    with open(inbox / "zero.pdf", "wb") as f:
        PdfWriter().write(f)
    (inbox / "notes.txt").write_text("ignored: not a .pdf")

    first = ingest(IngestParams(inbox=inbox, lake=lake, dpi=100))
    assert first["ingested"] == 2 and first["pages"] == 3
    assert sorted(f["path"].split("/")[-1] for f in first["failed"]) == ["empty.pdf", "not-a-pdf.pdf", "zero.pdf"]
    con = storage.connect(lake)
    assert _count(con, "SELECT count(*) FROM documents") == 2
    assert _count(con, "SELECT count(*) FROM pages") == 3
    assert _count(con, "SELECT count(*) FROM failures") == 3
    rows = storage.query(con, "SELECT path, reason FROM failures").to_pylist()
    reasons = {r["path"].rsplit("/", 1)[-1]: r["reason"] for r in rows}
    assert "zero pages" in reasons["zero.pdf"] and "not a PDF" in reasons["not-a-pdf.pdf"]
    # page images are stored under the lake, as JPEG, readable at the recorded size
    from sigpipe.pdf import decode_page
    for row in storage.query(con, "SELECT image_path, width, height FROM pages").to_pylist():
        img = decode_page(lake / row["image_path"])
        assert img.shape == (row["height"], row["width"])

    files_before = sorted(p for p in lake.rglob("*") if p.is_file())
    second = ingest(IngestParams(inbox=inbox, lake=lake, dpi=100))
    assert second["ingested"] == 0 and second["failed"] == [] and len(second["skipped"]) == 5
    assert sorted(p for p in lake.rglob("*") if p.is_file()) == files_before  # nothing new written

    # a new file in the same inbox is picked up alone
    make_pdf("good3.pdf", [(850, 1100)], folder=inbox)
    third = ingest(IngestParams(inbox=inbox, lake=lake, dpi=100))
    assert third["ingested"] == 1
    con = storage.connect(lake)
    assert _count(con, "SELECT count(*) FROM documents") == 3
    assert _count(con, "SELECT count(*) FROM runs") == 2  # the empty rerun recorded nothing


def test_data_reaches_the_disk_before_any_commit_marker(prefect_harness, make_pdf, stand_in_models, tmp_path,
                                                        monkeypatch):
    """Page images, pages rows, crops and signatures are written without an fsync each; the one flush per task
    must come after all of them and before the first documents / detections marker, so that after a power cut
    no marker names data that is not on disk."""
    from flows.detect import detect
    from flows.params import DetectParams

    inbox, lake = tmp_path / "inbox", tmp_path / "lake"
    make_pdf("a.pdf", [(850, 1100)], folder=inbox)
    make_pdf("b.pdf", [(850, 1100), (1100, 850)], folder=inbox)
    seen = []  # at each flush: (data files, marker files) under the lake

    def files(table: str) -> int:  # rows written so far (a finished run's parts are compacted into one file)
        return storage.read_table(lake, table).num_rows if (lake / table).is_dir() else 0

    real_flush = storage.flush

    def spy(where):
        seen.append({"pages": files("pages"), "documents": files("documents"), "detections": files("detections"),
                     "images": sum(1 for _ in (lake / "blobs" / "pages").rglob("*.jpg"))})
        real_flush(where)

    monkeypatch.setattr(storage, "flush", spy)
    det, _ = stand_in_models
    res = detect(DetectParams(inbox=inbox, lake=lake, dpi=100, detector=det))
    assert res["ingest"]["ingested"] == 2
    # the first flush (ingest's chunk) sees both documents' page images and pages rows, and no marker yet
    assert seen[0] == {"pages": 3, "documents": 0, "detections": 0, "images": 3}
    # the detect task's flush comes before its detections markers (one row per page)
    assert seen[-1]["documents"] == 2 and seen[-1]["detections"] == 0
    assert files("documents") == 2 and files("detections") == 3


@pytest.mark.parametrize("fails", ["pages part", "markers"])
def test_a_chunk_that_cannot_commit_at_once_commits_file_by_file_without_duplicates(make_pdf, tmp_path, monkeypatch,
                                                                                    fails):
    """A chunk's pages rows are one part and its markers follow one flush; when that part or a marker cannot
    be written, each file is committed alone (its own pages part only when the chunk's is missing), so no page
    is listed twice."""
    import hashlib

    import tasks.ingest as ti

    inbox, lake = tmp_path / "inbox", tmp_path / "lake"
    files = []
    for name, pages in (("a.pdf", [(850, 1100)]), ("b.pdf", [(850, 1100), (1100, 850)])):
        path = make_pdf(name, pages, folder=inbox)
        files.append({"path": str(path), "doc_id": hashlib.sha256(path.read_bytes()).hexdigest()})
    real = storage.write_part
    broke = []

    def flaky(lake_, table, run_id, key, rows, durable=True):
        if not broke and ((fails == "pages part" and table == "pages" and key.startswith("chunk-"))
                          or (fails == "markers" and table == "documents")):
            broke.append((table, key))
            raise OSError("disk hiccup")
        return real(lake_, table, run_id, key, rows, durable)

    monkeypatch.setattr(storage, "write_part", flaky)
    monkeypatch.setattr(ti, "IO_RETRY_DELAY_S", 0.0)
    out = ti.ingest_documents.fn(files, str(lake), "ingest-test", 100, 10**8)
    assert broke and [r["status"] for r in out] == ["ingested", "ingested"]
    con = storage.connect(lake)
    assert _count(con, "SELECT count(*) FROM documents") == 2
    assert _count(con, "SELECT count(*) FROM pages") == 3
    assert _count(con, "SELECT count(DISTINCT page_id) FROM pages") == 3
    parts = sorted(p.name for p in (lake / "pages").rglob("*.parquet"))
    assert len(parts) == (2 if fails == "pages part" else 1), parts
