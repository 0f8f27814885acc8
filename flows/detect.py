"""Detect: ingest an inbox, then every page of its documents -> signature boxes, crops, ``signatures`` and
``detections`` rows (a page with none is recorded as unsigned). Idempotent per detector version."""

from __future__ import annotations

from typing import Any

from prefect import flow, unmapped
from prefect.logging import get_run_logger
from prefect.task_runners import ThreadPoolTaskRunner

import storage
from flows.ingest import ingest
from flows.params import DetectParams
from flows.runners import subflow, take_turn
from tasks.common import failure_row, lake_rows, model_info, now, record_failure, record_run
from tasks.detect import detect_documents as detect_chunk
from tasks.progress import completed

__all__ = ["detect", "detect_documents", "PAGES_PER_TASK"]

PAGES_PER_TASK = 16  # two detector batches of 8


def detect_documents(doc_ids: list[str], lake: str, run_id: str, detector: str, flow_name: str,
                     card: dict[str, Any] | None = None, precision: str = "auto") -> dict[str, Any]:
    """Detect on every document in ``doc_ids`` not yet seen by this detector version (shared by audit).
    ``card``: the detector's, when the calling flow has read and registered it already (:func:`model_info`);
    ``precision``: the flow's (tasks.models)."""
    card = card if card is not None else model_info(detector, lake, run_id)
    seen = {r["doc_id"] for r in lake_rows(
        lake, "SELECT DISTINCT doc_id FROM detections WHERE detector_name = $n AND detector_version = $v",
        {"n": card["name"], "v": card["version"]})}
    todo = [d for d in dict.fromkeys(doc_ids) if d not in seen]
    pages = lake_rows(lake, "SELECT p.doc_id, d.path, p.page, p.width, p.height, p.dpi, p.image_path FROM pages p "
                            "JOIN documents d USING (doc_id) WHERE list_contains($ids, p.doc_id) ORDER BY 1, 3",
                      {"ids": todo}) if todo else []
    by_doc: dict[str, list[dict[str, Any]]] = {d: [] for d in todo}
    paths = {}
    for p in pages:
        paths[p["doc_id"]] = p.pop("path")
        by_doc[p.pop("doc_id")].append(p)
    # chunks of whole documents of about PAGES_PER_TASK pages: one detector batch per task, and few enough
    # tasks that orchestration stays small next to the work
    chunks: list[list[dict[str, Any]]] = [[]]
    for d in todo:
        if chunks[-1] and sum(len(x["pages"]) for x in chunks[-1]) + len(by_doc[d]) > PAGES_PER_TASK:
            chunks.append([])
        chunks[-1].append({"doc_id": d, "pages": by_doc[d]})
    chunks = [c for c in chunks if c]
    futures = detect_chunk.map(chunks, unmapped(lake), unmapped(run_id), unmapped(detector), unmapped(precision))
    by_run = {f.task_run_id: c for f, c in zip(futures, chunks, strict=True)}
    done, failures = [], []
    for fut in completed(futures, "detect"):
        res = fut.result(raise_on_failure=False)
        if isinstance(res, BaseException):
            for d in by_run[fut.task_run_id]:
                failures.append(failure_row(paths.get(d["doc_id"], d["doc_id"]), d["doc_id"], flow_name, "detect",
                                            res, run_id))
            continue
        done += res["done"]
        failures += [failure_row(paths.get(f["doc_id"], f["doc_id"]), f["doc_id"], flow_name, "detect", f["reason"],
                                 run_id) for f in res["failed"]]
    for row in failures:
        record_failure(lake, row)
    return {"detector": f"{card['name']} v{card['version']}", "detected": len(done),
            "already_detected": len(doc_ids) - len(todo), "pages": sum(r["pages"] for r in done),
            "signatures": sum(r["signatures"] for r in done), "failures": failures}


@flow(name="detect", task_runner=ThreadPoolTaskRunner(max_workers=2), log_prints=True)
def detect(params: DetectParams) -> dict[str, Any]:
    return take_turn("detect", params, _detect)  # two detect runs on one lake take turns


def _detect(params: DetectParams, lake: str) -> dict[str, Any]:
    log = get_run_logger()
    ing = subflow(ingest)(params.ingest_params())  # on the caller's task runner
    run_id, started = storage.new_run_id("detect"), now()
    res = detect_documents(ing["doc_ids"], lake, run_id, str(params.detector), "detect", precision=params.precision)
    log.info("detect: %d documents, %d pages, %d signatures (%d already detected)", res["detected"], res["pages"],
             res["signatures"], res["already_detected"])
    if res["detected"] or res["failures"]:
        record_run(lake, run_id, "detect", started, params.model_dump(mode="json"), len(ing["doc_ids"]),
                   res["detected"], res["already_detected"], len(res["failures"]))
    failed = [{"path": r["path"], "reason": r["reason"]} for r in res.pop("failures")]
    return {"run_id": run_id, "lake": lake, "ingest": ing, **res, "failed": failed}
