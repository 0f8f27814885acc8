"""Catalogue: every signature in an archive identified against all enrolled signers (top-k in ``matches``),
and the signatures that match nobody grouped into clusters, one unknown writer each: into the groups earlier
catalogues made where they belong (their ``cluster_id`` kept), into new ones otherwise.

Scoring runs in blocks as matrix products inside ``sigpipe.identify``. Signatures already catalogued by
this verifier version are skipped, so a rerun adds nothing.
"""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.logging import get_run_logger
from prefect.task_runners import ThreadPoolTaskRunner

import storage
from flows.detect import detect_documents
from flows.ingest import ingest
from flows.params import CatalogParams
from flows.runners import subflow, take_turn
from flows.steps import carry_enrolled, embed_documents
from tasks.common import lake_rows, model_info, now, record_failures, record_run
from tasks.verify import catalog_signatures

__all__ = ["catalog"]


@flow(name="catalog", task_runner=ThreadPoolTaskRunner(max_workers=2), log_prints=True)
def catalog(params: CatalogParams) -> dict[str, Any]:
    return take_turn("catalog", params, _catalog)  # two catalog runs on one lake take turns


def _catalog(params: CatalogParams, lake: str) -> dict[str, Any]:
    log = get_run_logger()
    run_id, started = storage.new_run_id("catalog"), now()
    ing = subflow(ingest)(params.ingest_params())  # on the caller's task runner
    det_card, ver_card = model_info(str(params.detector), lake, run_id), model_info(str(params.verifier), lake, run_id)
    det = detect_documents(ing["doc_ids"], lake, run_id, str(params.detector), "catalog", det_card, params.precision)
    emb = embed_documents(ing["doc_ids"], lake, run_id, ver_card, str(params.verifier), det_card, params.embed_chunk,
                          "catalog", params.precision)
    carry_failures = carry_enrolled(lake, run_id, ver_card, str(params.verifier), "catalog", params.precision)
    todo = [r["doc_id"] for r in lake_rows(
        lake, "SELECT DISTINCT s.doc_id FROM signatures s WHERE list_contains($d, s.doc_id) AND s.detector_name = $dn "
              "AND s.detector_version = $dv AND NOT EXISTS (SELECT 1 FROM matches m WHERE m.sig_id = s.sig_id "
              "AND m.verifier_name = $n AND m.verifier_version = $v) ORDER BY 1",
        {"d": ing["doc_ids"], "dn": det_card["name"], "dv": det_card["version"], "n": ver_card["name"],
         "v": ver_card["version"]})] if ing["doc_ids"] else []
    res = {"signatures": 0, "matched": 0, "unknown": 0, "clusters": 0, "joined": 0, "not_sure": 0}
    if todo:
        res = catalog_signatures(todo, lake, run_id, str(params.verifier),
                                 {"name": det_card["name"], "version": det_card["version"]}, params.top_k,
                                 params.precision)
    failures = det["failures"] + emb["failures"] + carry_failures
    new_failures = record_failures(lake, failures)
    if res["signatures"] or new_failures:
        record_run(lake, run_id, "catalog", started, params.model_dump(mode="json"), len(ing["doc_ids"]), len(todo),
                   len(ing["doc_ids"]) - len(todo), len(failures))
    log.info("catalog %s: %s", run_id, res)
    return {"run_id": run_id, "lake": lake, "ingest": ing, "documents": len(todo), **res,
            "failed": [{"path": r["path"], "reason": r["reason"]} for r in failures]}
