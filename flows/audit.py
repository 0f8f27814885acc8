"""Audit: a night's PDFs + a manifest of claimed signers -> verdicts in the lake, evidence, an HTML report.

PDFs -> pages -> signatures -> cleaned crops -> embeddings (batched across documents) -> each claim scored
against the claimed signer's references -> ``verdicts``. Claims already decided by these model versions
are skipped, so a rerun of the same inbox and manifest adds nothing.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, task, unmapped
from prefect.logging import get_run_logger
from prefect.task_runners import ThreadPoolTaskRunner

import storage
from flows.detect import detect_documents
from flows.ingest import ingest
from flows.params import AuditParams
from flows.runners import subflow, take_turn
from flows.steps import carry_enrolled, embed_documents, even_chunks
from sigpipe.manifest import read_audit_manifest
from tasks.common import failure_row, lake_rows, model_info, now, record_failures, record_run
from tasks.progress import completed
from tasks.verify import audit_documents, write_audit_report

__all__ = ["audit"]


@task(name="read-audit-manifest")
def read_manifest(manifest: str, inbox: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rows, errors = read_audit_manifest(manifest, inbox)
    return ([{"document": r.document, "path": str(r.path), "signer_id": r.signer_id, "page": r.page, "line": r.line}
             for r in rows],
            [{"document": e.document, "line": e.line, "reason": e.reason} for e in errors])


def _split(items: list[Any], pred: Any) -> tuple[list[Any], list[Any]]:
    """``items`` -> (those ``pred`` holds for, the others), each in order."""
    yes, no = [], []
    for it in items:
        (yes if pred(it) else no).append(it)
    return yes, no


@flow(name="audit", task_runner=ThreadPoolTaskRunner(max_workers=2), log_prints=True)
def audit(params: AuditParams) -> dict[str, Any]:
    return take_turn("audit", params, _audit)  # two audit runs on one lake take turns


def _audit(params: AuditParams, lake: str) -> dict[str, Any]:
    log = get_run_logger()
    run_id, started = storage.new_run_id("audit"), now()
    claims, bad_rows = read_manifest(str(params.manifest), str(params.inbox))
    failures = [failure_row(f"{params.manifest}:{e['line']} ({e['document']})", None, "audit", "manifest",
                            e["reason"], run_id) for e in bad_rows]
    ing = subflow(ingest)(params.ingest_params())  # on the caller's task runner
    doc_of = {f["path"]: f["doc_id"] for f in ing["files"]}
    claims = [{**c, "doc_id": doc_of[c["path"]]} for c in claims if c["path"] in doc_of]  # bad PDFs: in failures
    # a claimed page the document does not have is the manifest's error, not an unsigned page
    paged = sorted({c["doc_id"] for c in claims if c["page"] is not None})
    n_pages = {r["doc_id"]: r["n_pages"] for r in lake_rows(
        lake, "SELECT doc_id, n_pages FROM documents WHERE list_contains($d, doc_id)", {"d": paged})} if paged else {}
    beyond, claims = _split(claims, lambda c: c["page"] is not None and c["page"] > n_pages.get(c["doc_id"], c["page"]))
    failures += [failure_row(f"{params.manifest}:{c['line']} ({c['document']})", c["doc_id"], "audit", "manifest",
                             f"page {c['page']} is beyond the document's {n_pages[c['doc_id']]} page(s)", run_id)
                 for c in beyond]
    bad_rows += beyond
    doc_ids = list(dict.fromkeys(c["doc_id"] for c in claims))

    det_card, ver_card = model_info(str(params.detector), lake, run_id), model_info(str(params.verifier), lake, run_id)
    det = detect_documents(doc_ids, lake, run_id, str(params.detector), "audit", det_card, params.precision)
    emb = embed_documents(doc_ids, lake, run_id, ver_card, str(params.verifier), det_card, params.embed_chunk, "audit",
                          params.precision)
    failures += carry_enrolled(lake, run_id, ver_card, str(params.verifier), "audit", params.precision)

    # a claim once decided by these model versions is not decided again, except `unknown_signer` once the signer
    # has been enrolled since: the claim is then checked against the new references
    decided = {(r["doc_id"], r["claimed_signer"]) for r in lake_rows(
        lake, "SELECT DISTINCT doc_id, claimed_signer FROM verdicts v WHERE verifier_name = $n "
              "AND verifier_version = $v AND detector_name = $dn AND detector_version = $dv "
              "AND (decision <> 'unknown_signer' OR NOT EXISTS (SELECT 1 FROM \"references\" r "
              "WHERE r.signer_id = v.claimed_signer AND r.model_name = $n AND r.model_version = $v))",
        {"n": ver_card["name"], "v": ver_card["version"], "dn": det_card["name"], "dv": det_card["version"]})}
    failed_docs = {f["doc_id"] for f in det["failures"]}
    todo = [c for c in claims if (c["doc_id"], c["signer_id"]) not in decided and c["doc_id"] not in failed_docs]
    todo_docs = list(dict.fromkeys(c["doc_id"] for c in todo))
    chunks = even_chunks(todo_docs, params.audit_chunk)  # both workers end together: no lone last chunk
    chunk_claims = [[c for c in todo if c["doc_id"] in set(ch)] for ch in chunks]
    futures = audit_documents.map(chunk_claims, unmapped(lake), unmapped(run_id), unmapped(str(params.verifier)),
                                  unmapped({"name": det_card["name"], "version": det_card["version"]}),
                                  unmapped(str(params.detector)), unmapped(params.precision))
    by_run = {f.task_run_id: ch for f, ch in zip(futures, chunk_claims, strict=True)}
    decisions: dict[str, int] = {}
    for fut in completed(futures, "audit"):
        res = fut.result(raise_on_failure=False)
        if isinstance(res, BaseException):
            for c in by_run[fut.task_run_id]:
                failures.append(failure_row(c["path"], c["doc_id"], "audit", "verify", res, run_id))
            continue
        for k, v in res["decisions"].items():
            decisions[k] = decisions.get(k, 0) + v
        failures += res["failures"]
    failures += det["failures"] + emb["failures"]
    new_failures = record_failures(lake, failures)
    report = write_audit_report(lake, run_id, params.precision) if decisions else None
    if decisions or new_failures:
        record_run(lake, run_id, "audit", started, params.model_dump(mode="json"), len(claims) + len(bad_rows),
                   sum(decisions.values()), len(claims) - len(todo), len(failures))
    log.info("audit %s: %s; %d claims already decided; report %s", run_id, decisions, len(claims) - len(todo), report)
    return {"run_id": run_id, "lake": lake, "ingest": ing, "claims": len(claims) + len(bad_rows),
            "decided": sum(decisions.values()), "already_decided": len(claims) - len(todo), "decisions": decisions,
            "signatures_found": det["signatures"], "embedded": emb["embedded"], "report": report,
            "failed": [{"path": r["path"], "reason": r["reason"]} for r in failures]}
