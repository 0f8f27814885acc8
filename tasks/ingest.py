"""Ingest tasks: hash the inbox, turn one PDF into stored page images and rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import task

import storage
from sigpipe import pdf
from tasks.common import failure_row, now

__all__ = ["list_inbox", "ingest_document", "page_image_relpath"]


def _is_io_error(task, task_run, state) -> bool:
    """Retry only I/O trouble; a bad PDF is a fact about the file, not a transient error."""
    try:
        state.result()
    except pdf.PDFError:
        return False
    except OSError:
        return True
    except Exception:
        return False
    return False


@task(name="list-inbox", retries=2, retry_delay_seconds=2)
def list_inbox(inbox: str) -> list[dict[str, Any]]:
    """Every ``*.pdf`` under the inbox (sorted), with its sha256, or the reason it cannot be read."""
    root = Path(inbox)
    if not root.is_dir():
        raise FileNotFoundError(f"inbox {inbox} is not a folder")
    out = []
    real_root = root.resolve()
    for path in sorted(p for p in root.rglob("*") if p.suffix.lower() == ".pdf" and p.is_file()):
        if real_root not in path.resolve().parents:  # a symlink out of the inbox, refused like a manifest's
            out.append({"path": str(path), "doc_id": None, "error": "links to a file outside the inbox (refused)"})
            continue
        try:
            out.append({"path": str(path), "doc_id": pdf.sha256_file(path), "error": None})
        except OSError as e:
            out.append({"path": str(path), "doc_id": None, "error": f"cannot read the file ({e.strerror or e})"})
    return out


def page_image_relpath(doc_id: str, page: int) -> str:
    return f"blobs/pages/{doc_id[:2]}/{doc_id}/p{page:05d}{pdf.PAGE_IMAGE_EXT}"


@task(name="ingest-document", retries=2, retry_delay_seconds=2, retry_condition_fn=_is_io_error)
def ingest_document(path: str, doc_id: str, lake: str, run_id: str, dpi: int, max_pixels: int) -> dict[str, Any]:
    """Render, store page images, then write pages and (last, the commit marker) the documents row."""
    try:
        info = pdf.inspect_pdf(path, dpi=dpi, max_pixels=max_pixels)
        rows = []
        for page in pdf.iter_pages(path, dpi=dpi, max_pixels=max_pixels, info=info):
            rel = storage.write_blob(lake, page_image_relpath(doc_id, page.page), pdf.encode_page(page.image))
            rows.append({"page_id": f"{doc_id}:{page.page}", "doc_id": doc_id, "page": page.page,
                         "width": page.width, "height": page.height, "dpi": dpi, "image_path": rel,
                         "run_id": run_id, "created_at": now()})
    except pdf.PDFError as e:
        return {"path": path, "doc_id": doc_id, "status": "failed", "failure": failure_row(
            path, doc_id, "ingest", "render", e, run_id)}
    storage.write_part(lake, "pages", run_id, doc_id, rows)
    storage.write_part(lake, "documents", run_id, doc_id, [{
        "doc_id": doc_id, "path": str(Path(path).resolve()), "file_name": Path(path).name,
        "size_bytes": info.size_bytes, "n_pages": info.n_pages, "dpi": dpi, "run_id": run_id, "ingested_at": now()}])
    return {"path": path, "doc_id": doc_id, "status": "ingested", "n_pages": info.n_pages}
