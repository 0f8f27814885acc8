"""Ingest: every PDF in an inbox -> page images under the lake + ``documents`` and ``pages`` rows.

A rerun of the same inbox adds nothing: documents already in the lake (by content hash) and files already
recorded as bad are skipped and reported.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, unmapped
from prefect.logging import get_run_logger
from prefect.task_runners import ThreadPoolTaskRunner

import storage
from flows.params import IngestParams
from flows.runners import take_turn
from tasks.common import failure_row, known_keys, now, record_failures, record_run
from tasks.ingest import ingest_documents, list_inbox
from tasks.progress import completed

__all__ = ["ingest", "FILES_PER_TASK"]

FILES_PER_TASK = 8


def plan(files: list[dict[str, Any]], ingested: set[str], known_bad: set[str]) -> tuple[list, list, list]:
    """Split inbox files into (todo, skipped, unreadable); the first of identical files wins."""
    todo, skipped, unreadable, seen = [], [], [], set()
    for f in files:
        if f["doc_id"] is None:
            unreadable.append(f)
        elif f["doc_id"] in ingested:
            skipped.append({**f, "why": "already ingested"})
        elif f["doc_id"] in known_bad:
            skipped.append({**f, "why": "known bad file (see failures)"})
        elif f["doc_id"] in seen:
            skipped.append({**f, "why": "duplicate of another file in this batch"})
        else:
            seen.add(f["doc_id"])
            todo.append(f)
    return todo, skipped, unreadable


# Two workers: rendering is CPU-bound in poppler's own process, one per core on this 2-core machine.
@flow(name="ingest", task_runner=ThreadPoolTaskRunner(max_workers=2), log_prints=True)
def ingest(params: IngestParams) -> dict[str, Any]:
    return take_turn("ingest", params, _ingest)  # two ingest runs on one lake take turns


def _ingest(params: IngestParams, lake: str) -> dict[str, Any]:
    log = get_run_logger()
    run_id, started = storage.new_run_id("ingest"), now()
    files = list_inbox(str(params.inbox))
    ingested = set(known_keys(lake, "SELECT doc_id FROM documents"))
    bad = set(known_keys(lake, "SELECT DISTINCT doc_id FROM failures WHERE flow = 'ingest' AND stage = 'render'"))
    todo, skipped, unreadable = plan(files, ingested, bad)
    log.info("inbox %s: %d PDFs, %d to ingest, %d skipped", params.inbox, len(files), len(todo), len(skipped))

    # a few files per task: a scanned page costs milliseconds, so one task per file would be mostly overhead
    chunks = [todo[i:i + FILES_PER_TASK] for i in range(0, len(todo), FILES_PER_TASK)]
    futures = ingest_documents.map([[{"path": f["path"], "doc_id": f["doc_id"]} for f in c] for c in chunks],
                                   unmapped(lake), unmapped(run_id), unmapped(params.dpi),
                                   unmapped(params.max_pixels))
    by_run = {fut.task_run_id: c for fut, c in zip(futures, chunks, strict=True)}
    failures = [failure_row(f["path"], None, "ingest", "read", f["error"], run_id) for f in unreadable]
    done = []
    for fut in completed(futures, "ingest"):
        res = fut.result(raise_on_failure=False)
        if isinstance(res, BaseException):  # not the files' fault (the task itself broke): record them, go on
            failures += [failure_row(f["path"], f["doc_id"], "ingest", "ingest", res, run_id)
                         for f in by_run[fut.task_run_id]]
            continue
        for r in res:
            if r["status"] == "failed":
                failures.append(r["failure"])
            else:
                done.append(r)
    for row in failures:
        log.warning("failed: %s: %s", row["path"], row["reason"])
    # unreadable files are listed again by every run: record only failures the lake does not hold yet, so a
    # rerun over the same inbox writes nothing
    new_failures = record_failures(lake, failures)
    if done or new_failures:
        record_run(lake, run_id, "ingest", started, params.model_dump(mode="json"), len(files), len(done),
                   len(skipped), len(failures))
    ok = {f["doc_id"] for f in skipped if f["why"] == "already ingested"} | {r["doc_id"] for r in done}
    in_lake = [{"path": f["path"], "doc_id": f["doc_id"]} for f in files if f["doc_id"] in ok]
    return {"run_id": run_id, "lake": lake, "n_files": len(files), "ingested": len(done),
            "doc_ids": list(dict.fromkeys(f["doc_id"] for f in in_lake)), "files": in_lake,
            "pages": sum(r["n_pages"] for r in done),
            "skipped": [{"path": s["path"], "why": s["why"]} for s in skipped],
            "failed": [{"path": r["path"], "reason": r["reason"]} for r in failures]}
