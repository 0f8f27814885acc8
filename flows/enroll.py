"""Enrol: reference signatures per signer -> cleaned, embedded ``references`` rows.

Sources: a folder of ``<signer_id>/*.png|jpg|jpeg|tif|tiff|bmp`` images, or a CSV manifest (``file``,
``signer_id``) of images or PDFs relative to the manifest's folder (PDFs are ingested and detected; the most
confident signature of each becomes the reference). A reference is keyed by its content (``ref_id``): one
already enrolled for the signer under this verifier version is skipped, so re-enrolling adds the new ones
and never duplicates; signers with fewer usable references than the card asks for are reported. With ``replace``
(``sigpipe enroll --replace``: a new signature card) each signer the source names keeps only the references it
gives, the others withdrawn (:mod:`flows.withdraw`), once at least one of the new ones is enrolled.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, task, unmapped
from prefect.logging import get_run_logger
from prefect.task_runners import ThreadPoolTaskRunner

import storage
from flows.detect import detect_documents
from flows.ingest import ingest
from flows.params import EnrollParams, IngestParams
from flows.runners import subflow
from flows.withdraw import references_of, take_out
from sigpipe.manifest import read_enroll_manifest
from sigpipe.pdf import sha256_file
from tasks.common import failure_row, lake_rows, model_info, now, record_failures, record_run
from tasks.progress import completed
from tasks.verify import enroll_signer

__all__ = ["enroll"]

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"}


@task(name="list-references")
def list_references(source: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Reference items ``{signer_id, source, kind, path}`` and bad rows, from a folder or a CSV manifest."""
    src = Path(source)
    if src.is_file():
        rows, errors = read_enroll_manifest(src)
        items = [{"signer_id": r.signer_id, "source": str(r.path),
                  "kind": "pdf" if r.path.suffix.lower() == ".pdf" else "image", "path": str(r.path)} for r in rows]
        return items, [{"path": f"{src}:{e.line} ({e.document})", "reason": e.reason} for e in errors]
    items = [{"signer_id": d.name, "source": str(p), "kind": "image", "path": str(p)}
             for d in sorted(src.iterdir()) if d.is_dir()
             for p in sorted(d.iterdir()) if p.is_file() and p.suffix.lower() in IMAGE_EXTS]
    return items, []


def _replace(lake: str, run_id: str, items: list[dict[str, Any]], card: dict[str, Any], source: str,
             failures: list[dict[str, Any]]) -> tuple[int, list[str]]:
    """``--replace``: each signer ``items`` name keeps only the references they give that are now enrolled under
    this verifier version; the signer's other references, under any version, are withdrawn. A signer none of whose
    given references could be enrolled keeps the old ones (a failure says so): replacing a signature card with
    unreadable scans must not leave the account with no references. Returns (withdrawn, signers not replaced)."""
    named = sorted({it["signer_id"] for it in items})
    given: dict[str, set[str]] = {s: set() for s in named}
    for it in items:
        if "ref_id" in it:
            given[it["signer_id"]].add(it["ref_id"])
    in_use: dict[str, set[str]] = {s: set() for s in named}  # any verifier version
    kept: dict[str, set[str]] = {s: set() for s in named}    # given, and enrolled under this one
    for r in references_of(lake, named):
        in_use[r["signer_id"]].add(r["ref_id"])
        if r["ref_id"] in given[r["signer_id"]] and (r["model_name"], r["model_version"]) == (
                card["name"], str(card["version"])):
            kept[r["signer_id"]].add(r["ref_id"])
    targets, not_replaced = [], []
    for s in named:
        old = in_use[s] - kept[s]
        if not kept[s]:
            if old:
                not_replaced.append(s)
                failures.append(failure_row(source, None, "enroll", "replace",
                                            f"signer {s}: none of the references given could be enrolled; the "
                                            f"{len(old)} enrolled before are kept", run_id))
            continue
        targets += [(s, r) for r in sorted(old)]
    reason = f"replaced by the references enrolled from {source} (enroll --replace, run {run_id})"
    return take_out(lake, run_id, targets, reason), not_replaced


@flow(name="enroll", task_runner=ThreadPoolTaskRunner(max_workers=2), log_prints=True)
def enroll(params: EnrollParams) -> dict[str, Any]:
    log = get_run_logger()
    lake, run_id, started = str(storage.lake_path(params.lake)), storage.new_run_id("enroll"), now()
    storage.upgrade(lake)  # files an older sigpipe wrote, brought to the present schema
    items, bad = list_references(str(params.source))
    failures = [failure_row(b["path"], None, "enroll", "manifest", b["reason"], run_id) for b in bad]
    card = model_info(str(params.verifier), lake, run_id)
    pdfs = [it for it in items if it["kind"] == "pdf"]
    if pdfs:  # cut the references out of the PDFs: ingest + detect, then the best box per document
        inbox = str(params.source.parent)
        ing = subflow(ingest)(IngestParams(inbox=inbox, lake=params.lake, dpi=params.dpi, max_pixels=params.max_pixels))
        doc_of = {f["path"]: f["doc_id"] for f in ing["files"]}
        det_card = model_info(str(params.detector), lake, run_id)
        det = detect_documents(list(doc_of.values()), lake, run_id, str(params.detector), "enroll", det_card)
        failures += det["failures"]
        best = {r["doc_id"]: r for r in lake_rows(
            lake, "SELECT doc_id, sig_id, crop_path, dpi, page_turn_sure FROM signatures "
                  "WHERE list_contains($d, doc_id) "
                  "AND detector_name = $n AND detector_version = $v "
                  "QUALIFY row_number() OVER (PARTITION BY doc_id ORDER BY confidence DESC) = 1",
            {"d": list(doc_of.values()), "n": det_card["name"], "v": det_card["version"]})}
        for it in pdfs:
            sig = best.get(doc_of.get(it["path"], ""))
            if sig is None:
                failures.append(failure_row(it["path"], doc_of.get(it["path"]), "enroll", "detect",
                                            "no signature found in the reference PDF", run_id))
                continue
            if sig["page_turn_sure"] is False:  # a reference cut from a page that may lie turned would be a turned one
                failures.append(failure_row(it["path"], doc_of.get(it["path"]), "enroll", "detect",
                                            "the page orienter was not sure which way up the reference page lies; "
                                            "not enrolled (scan it upright)", run_id))
                continue
            it.update(ref_id=sig["sig_id"], image=sig["crop_path"], sig_id=sig["sig_id"], dpi=sig["dpi"])
    for it in items:
        if it["kind"] == "image":
            it.update(ref_id=sha256_file(it["path"]), image=it["path"], sig_id=None)
    enrolled_before = {(r["signer_id"], r["ref_id"]) for r in lake_rows(
        lake, 'SELECT signer_id, ref_id FROM "references" WHERE model_name = $n AND model_version = $v',
        {"n": card["name"], "v": card["version"]})}
    by_signer: dict[str, list[dict[str, Any]]] = {}
    for it in items:
        if "ref_id" in it and (it["signer_id"], it["ref_id"]) not in enrolled_before:
            by_signer.setdefault(it["signer_id"], []).append(
                {"ref_id": it["ref_id"], "source": it["source"], "source_kind": it["kind"], "image": it["image"],
                 "sig_id": it["sig_id"], "dpi": it.get("dpi")})  # a PDF's crop: its page's dpi, for the stamp remover
    skipped = sum(1 for it in items if "ref_id" in it) - sum(len(v) for v in by_signer.values())
    signers = sorted(by_signer)
    futures = enroll_signer.map(signers, [by_signer[s] for s in signers], unmapped(lake), unmapped(run_id),
                                unmapped(str(params.verifier)))
    by_run = {f.task_run_id: s for f, s in zip(futures, signers, strict=True)}
    results = []
    for fut in completed(futures, "enroll"):
        res = fut.result(raise_on_failure=False)
        if isinstance(res, BaseException):
            failures.append(failure_row(by_run[fut.task_run_id], None, "enroll", "embed", res, run_id))
            continue
        results.append(res)
        for u in res["unusable"]:
            failures.append(failure_row(u["source"], None, "enroll", "clean", u["reason"], run_id))
    withdrawn, kept_old = (_replace(lake, run_id, items, card, str(params.source), failures) if params.replace
                           else (0, []))
    by_k = (card.get("writer_dependent") or {}).get("by_references") or {}
    min_refs = min((int((v.get("per_writer") or {}).get("min_references", 1)) for v in by_k.values()), default=1)
    totals = {r["signer_id"]: r["n"] for r in lake_rows(
        lake, 'SELECT signer_id, count(*) AS n FROM "references" WHERE model_name = $n AND model_version = $v '
              "GROUP BY 1", {"n": card["name"], "v": card["version"]})}
    named = sorted({it["signer_id"] for it in items})
    too_few = sorted(s for s in named if totals.get(s, 0) < min_refs)
    for s in too_few:
        log.warning("signer %s has %d usable references; %d are needed for a writer-specific threshold "
                    "(the global threshold applies)", s, totals.get(s, 0), min_refs)
    new_failures = record_failures(lake, failures)
    n_enrolled = sum(r["enrolled"] for r in results)
    if n_enrolled or withdrawn or new_failures:
        record_run(lake, run_id, "enroll", started, params.model_dump(mode="json"), len(items), n_enrolled, skipped,
                   len(failures))
    return {"run_id": run_id, "lake": lake, "signers": len(signers), "references": n_enrolled,
            "already_enrolled": skipped, "withdrawn": withdrawn, "not_replaced": kept_old,
            "too_few_references": [{"signer_id": s, "references": totals.get(s, 0), "needed": min_refs}
                                   for s in too_few],
            "failed": [{"path": r["path"], "reason": r["reason"]} for r in failures]}
