"""Ingest tasks: hash the inbox, turn PDFs into stored page images and rows, a chunk of files per task."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from prefect import task

import storage
from sigpipe import pdf
from tasks.common import failure_row, now

__all__ = ["list_inbox", "ingest_documents", "ingest_one", "commit_markers", "page_image_relpath"]


@task(name="list-inbox", retries=2, retry_delay_seconds=2)
def list_inbox(inbox: str) -> list[dict[str, Any]]:
    """Every ``*.pdf`` under the inbox (sorted), with its sha256, or the reason it cannot be read."""
    root = Path(inbox)
    if not root.is_dir():
        raise FileNotFoundError(f"inbox {inbox} is not a folder")
    real_root = root.resolve()

    def one(path: Path) -> dict[str, Any]:
        if real_root not in path.resolve().parents:  # a symlink out of the inbox, refused like a manifest's
            return {"path": str(path), "doc_id": None, "error": "links to a file outside the inbox (refused)"}
        try:
            return {"path": str(path), "doc_id": pdf.sha256_file(path), "error": None}
        except OSError as e:
            return {"path": str(path), "doc_id": None, "error": f"cannot read the file ({e.strerror or e})"}

    paths = sorted(p for p in root.rglob("*") if p.suffix.lower() == ".pdf" and p.is_file())
    # hashlib lets go of the GIL while it hashes: two threads halve the time before any file is ingested
    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(one, paths))


def page_image_relpath(doc_id: str, page: int) -> str:
    return f"blobs/pages/{doc_id[:2]}/{doc_id}/p{page:05d}{pdf.PAGE_IMAGE_EXT}"


def ingest_one(path: str, doc_id: str, lake: str, run_id: str, dpi: int, max_pixels: int,
               commit: bool = True) -> dict[str, Any]:
    """Store one PDF's page images, then write its pages and (last, the commit marker) its documents row.

    A bad PDF comes back as ``status: failed`` with its failures row; I/O errors raise. ``commit=False`` writes
    neither rows nor marker and returns them under ``pages`` and ``marker``: a caller storing several files
    writes their pages rows as one part, flushes the lake once and then writes the markers
    (:func:`commit_markers`)."""
    try:
        info, own = pdf.inspect_pages(path, dpi=dpi, max_pixels=max_pixels, sha256=doc_id)
        rows = []
        # a scanned page's own JPEG is stored as it is; anything else is rendered by poppler
        for page in pdf.iter_page_blobs(path, dpi=dpi, max_pixels=max_pixels, info=info, own=own):
            rel = storage.write_blob(lake, page_image_relpath(doc_id, page.page), page.data, durable=False)
            rows.append({"page_id": f"{doc_id}:{page.page}", "doc_id": doc_id, "page": page.page,
                         "width": page.width, "height": page.height, "dpi": dpi, "image_path": rel,
                         "run_id": run_id, "created_at": now()})
    except pdf.PDFError as e:
        return {"path": path, "doc_id": doc_id, "status": "failed", "failure": failure_row(
            path, doc_id, "ingest", "render", e, run_id)}
    marker = {"doc_id": doc_id, "path": str(Path(path).resolve()), "file_name": Path(path).name,
              "size_bytes": info.size_bytes, "n_pages": info.n_pages, "dpi": dpi, "run_id": run_id,
              "ingested_at": now()}
    done = {"path": path, "doc_id": doc_id, "status": "ingested", "n_pages": info.n_pages}
    if not commit:
        return {**done, "marker": marker, "pages": rows}
    storage.write_part(lake, "pages", run_id, doc_id, rows, durable=False)
    commit_markers(lake, run_id, [marker])
    return done


def commit_markers(lake: str, run_id: str, markers: list[dict[str, Any]], key: str | None = None) -> None:
    """Make the documents' page images and pages rows durable (one flush of the lake), then write their
    documents rows, the commit markers that make them count as ingested: one part under ``key`` (the chunk's
    documents commit together), or without a key each its own part."""
    if not markers:
        return
    storage.flush(lake)
    if key is not None:
        storage.write_part(lake, "documents", run_id, key, markers)
        return
    for m in markers:
        storage.write_part(lake, "documents", run_id, m["doc_id"], [m])


IO_RETRIES, IO_RETRY_DELAY_S = 2, 2.0


@task(name="ingest-documents")
def ingest_documents(files: list[dict[str, str]], lake: str, run_id: str, dpi: int,
                     max_pixels: int) -> list[dict[str, Any]]:
    """``files``: ``{path, doc_id}`` for a chunk of PDFs -> one result per file, as :func:`ingest_one`.

    One file's trouble never costs the others: an I/O error is retried (a file share hiccup), then recorded
    like any unexpected error as that file's failure (``stage: ingest``); a bad PDF is a ``render`` failure.
    The chunk's pages rows are one part and its documents rows another, both keyed by the chunk's files (a file
    per document cost ~2 ms to write and more to read back): page images and pages rows are flushed to disk
    once, then the documents rows commit the chunk's files together. The pages view shows only the rows of
    committed documents.
    """
    out = []
    for f in files:
        out.append(_with_retries(f, run_id, lambda f=f: ingest_one(f["path"], f["doc_id"], lake, run_id, dpi,
                                                                       max_pixels, commit=False)))
    staged = [r for r in out if "marker" in r]
    rows = [row for r in staged for row in r["pages"]]
    key = storage.chunk_key(f["doc_id"] for f in files)
    try:
        if rows:
            storage.write_part(lake, "pages", run_id, key, rows, durable=False)
    except Exception:  # noqa: BLE001 - no pages part: each file's pages and marker alone, with retries
        for r in staged:
            _commit_alone(r, lake, run_id, pages=True)
    else:
        try:
            commit_markers(lake, run_id, [r["marker"] for r in staged], key)
        except Exception:  # noqa: BLE001 - the flush or a marker failed: each file's marker alone, with retries
            for r in staged:
                _commit_alone(r, lake, run_id, pages=False)
    for r in out:
        r.pop("marker", None)
        r.pop("pages", None)
    return out


def _commit_alone(r: dict[str, Any], lake: str, run_id: str, pages: bool) -> None:
    """One staged file's commit (its own pages part first when ``pages``), retried; on the last failure ``r``
    becomes the file's failure."""
    def commit() -> None:
        if pages:
            storage.write_part(lake, "pages", run_id, r["doc_id"], r["pages"], durable=False)
        commit_markers(lake, run_id, [r["marker"]])

    failure = _with_retries(r, run_id, commit)
    if failure is not None:
        r.clear()
        r.update(failure)


def _with_retries(f: dict[str, Any], run_id: str, call) -> Any:
    """``call()`` retried on I/O errors; its result, or the file's failure row after the last try."""
    for attempt in range(IO_RETRIES + 1):
        try:
            return call()
        except OSError as e:
            if attempt < IO_RETRIES:
                time.sleep(IO_RETRY_DELAY_S)
                continue
            return _failed(f, e, run_id)
        except Exception as e:  # noqa: BLE001 - recorded against the file, the batch goes on
            return _failed(f, e, run_id)
    raise AssertionError("unreachable")


def _failed(f: dict[str, str], error: BaseException, run_id: str) -> dict[str, Any]:
    return {"path": f["path"], "doc_id": f["doc_id"], "status": "failed",
            "failure": failure_row(f["path"], f["doc_id"], "ingest", "ingest", error, run_id)}
