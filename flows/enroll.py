"""Enrol: reference signatures per signer -> cleaned, embedded ``references`` rows.

Sources: a folder of ``<signer_id>/*.png|jpg|jpeg|tif|tiff|bmp`` images, or a CSV manifest (``file``,
``signer_id``) of images or PDFs relative to the manifest's folder (PDFs are ingested and detected; the most
confident signature of each becomes the reference). A manifest row may give a ``sig_id`` instead of a file: a
signature the lake already holds (an unknown writer the catalogue grouped, whom the archivist has named; a cheque's
signature the fraud team confirmed) is enrolled from its stored crop, unless a reviewer found it forged, not a
signature, or another signer's. A reference is keyed by its content (``ref_id``): one
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
from flows.runners import subflow, take_turn
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
                  "kind": "pdf" if r.path.suffix.lower() == ".pdf" else "image", "path": str(r.path)}
                 if r.path is not None else
                 {"signer_id": r.signer_id, "kind": "signature", "path": f"{src}:{r.line} ({r.sig_id})",
                  "sig_id": r.sig_id} for r in rows]
        return items, [{"path": f"{src}:{e.line} ({e.document})", "reason": e.reason} for e in errors]
    items = [{"signer_id": d.name, "source": str(p), "kind": "image", "path": str(p)}
             for d in sorted(src.iterdir()) if d.is_dir()
             for p in sorted(d.iterdir()) if p.is_file() and p.suffix.lower() in IMAGE_EXTS]
    return items, []


def _from_lake(lake: str, run_id: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Manifest rows that name a ``sig_id``: each becomes a reference cut from its stored crop (``ref_id`` = the
    sig_id, as for a reference PDF's signature; ``source`` = its document's path). Returns the failures, and
    leaves the refused items without a ``ref_id``: a sig_id the lake has no signature for; one cut from a page the
    orienter was not sure of; one whose latest review, on any claim, found it forged or not a signature (a forgery
    is in another hand than any name it bears), or genuine as another signer's. Where detectors of several versions
    cut the same sig_id, the newest detection is the one enrolled."""
    ids = sorted({it["sig_id"] for it in items})
    sigs = {r["sig_id"]: r for r in lake_rows(
        lake, "SELECT s.sig_id, s.doc_id, s.crop_path, s.dpi, s.page_turn_sure, coalesce(d.path, s.doc_id) AS source "
              "FROM signatures s LEFT JOIN (SELECT DISTINCT doc_id, path FROM documents) d USING (doc_id) "
              "WHERE list_contains($s, s.sig_id) "
              "QUALIFY row_number() OVER (PARTITION BY s.sig_id ORDER BY s.created_at DESC, d.path) = 1",
        {"s": ids})}
    found = {r["sig_id"]: r for r in lake_rows(
        lake, "SELECT sig_id, arg_max(outcome, reviewed_at) AS outcome, arg_max(claimed_signer, reviewed_at) AS claim "
              "FROM reviews WHERE NOT superseded AND list_contains($s, sig_id) AND outcome <> 'unclear' GROUP BY 1",
        {"s": ids})}
    failures = []
    for it in items:
        sig, review = sigs.get(it["sig_id"]), found.get(it["sig_id"])
        if sig is None:
            failures.append(failure_row(it["path"], None, "enroll", "lookup",
                                        f"no signature {it['sig_id']} in the lake", run_id))
        elif review is not None and review["outcome"] != "genuine":
            what = "forged" if review["outcome"] == "forgery" else "not to be a signature"
            failures.append(failure_row(it["path"], sig["doc_id"], "enroll", "lookup",
                                        f"a reviewer found this signature {what} (claimed as {review['claim']}'s); "
                                        "not enrolled", run_id))
        elif review is not None and review["claim"] != it["signer_id"]:
            failures.append(failure_row(it["path"], sig["doc_id"], "enroll", "lookup",
                                        f"a reviewer found this signature genuine as {review['claim']}'s; not "
                                        f"enrolled as {it['signer_id']}'s", run_id))
        elif sig["page_turn_sure"] is False:
            failures.append(failure_row(it["path"], sig["doc_id"], "enroll", "detect",
                                        "the page orienter was not sure which way up this signature's page lies; "
                                        "not enrolled", run_id))
        else:
            it.update(ref_id=it["sig_id"], image=sig["crop_path"], dpi=sig["dpi"], source=sig["source"])
    return failures


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
    return take_turn("enroll", params, _enroll)  # two enroll runs on one lake take turns


def _enroll(params: EnrollParams, lake: str) -> dict[str, Any]:
    log = get_run_logger()
    run_id, started = storage.new_run_id("enroll"), now()
    items, bad = list_references(str(params.source))
    failures = [failure_row(b["path"], None, "enroll", "manifest", b["reason"], run_id) for b in bad]
    card = model_info(str(params.verifier), lake, run_id)
    pdfs = [it for it in items if it["kind"] == "pdf"]
    if pdfs:  # cut the references out of the PDFs: ingest + detect, then the best box per document
        inbox = str(params.source.parent)
        ing = subflow(ingest)(IngestParams(inbox=inbox, lake=params.lake, dpi=params.dpi, max_pixels=params.max_pixels))
        doc_of = {f["path"]: f["doc_id"] for f in ing["files"]}
        det_card = model_info(str(params.detector), lake, run_id)
        det = detect_documents(list(doc_of.values()), lake, run_id, str(params.detector), "enroll", det_card,
                               params.precision)
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
    held = [it for it in items if it["kind"] == "signature"]
    if held:
        failures += _from_lake(lake, run_id, held)
    for it in items:
        if it["kind"] == "image":
            it.update(ref_id=sha256_file(it["path"]), image=it["path"], sig_id=None)
    enrolled_before = {(r["signer_id"], r["ref_id"]) for r in lake_rows(
        lake, 'SELECT signer_id, ref_id FROM "references" WHERE model_name = $n AND model_version = $v',
        {"n": card["name"], "v": card["version"]})}
    by_signer: dict[str, list[dict[str, Any]]] = {}
    for it in items:
        if "ref_id" in it and (it["signer_id"], it["ref_id"]) not in enrolled_before:
            enrolled_before.add((it["signer_id"], it["ref_id"]))  # a file or sig_id given twice is enrolled once
            by_signer.setdefault(it["signer_id"], []).append(
                {"ref_id": it["ref_id"], "source": it["source"],
                 # a signature the lake holds is a crop cut from a PDF page, as a reference PDF's is
                 "source_kind": "image" if it["kind"] == "image" else "pdf", "image": it["image"],
                 "sig_id": it["sig_id"], "dpi": it.get("dpi")})  # a PDF's crop: its page's dpi, for the stamp remover
    skipped = sum(1 for it in items if "ref_id" in it) - sum(len(v) for v in by_signer.values())
    signers = sorted(by_signer)
    futures = enroll_signer.map(signers, [by_signer[s] for s in signers], unmapped(lake), unmapped(run_id),
                                unmapped(str(params.verifier)), unmapped(params.precision))
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
