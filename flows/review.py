"""Review: what people found on looking at flagged claims -> ``reviews`` rows.

The fraud team exports the ``review_queue`` view (or the ``flagged`` one), writes an ``outcome`` per claim
(:data:`sigpipe.manifest.OUTCOMES`) and records the file with ``sigpipe review FILE``. A finding is keyed by its
content (``review_id``): recording the same file again adds nothing; a new finding on a claim supersedes the earlier
one in the views and both stay as history. A row naming a claim the lake has no verdict for, or a bad outcome, is
recorded in ``failures`` and the other rows go on.
"""

from __future__ import annotations

import hashlib
from typing import Any

from prefect import flow

import storage
from flows.params import ReviewParams
from flows.runners import take_turn
from sigpipe.manifest import ReviewRow, read_review_manifest
from tasks.common import failure_row, known_keys, lake_rows, now, record_failures, record_run
from tasks.review import write_reviews

__all__ = ["review", "review_id"]


def review_id(row: ReviewRow) -> str:
    """The finding's content: the same row recorded twice is one review; a changed outcome, note, reviewer or date
    is a new one."""
    when = row.reviewed_at.isoformat() if row.reviewed_at else ""
    what = "\x1f".join([row.verdict_id, row.outcome, row.reviewer or "", row.note or "", when])
    return hashlib.sha256(what.encode()).hexdigest()[:32]


@flow(name="review", log_prints=True)
def review(params: ReviewParams) -> dict[str, Any]:
    return take_turn("review", params, _review)  # two review runs on one lake take turns


def _review(params: ReviewParams, lake: str) -> dict[str, Any]:
    run_id, started = storage.new_run_id("review"), now()
    path = str(params.file)
    rows, bad = read_review_manifest(params.file, params.reviewer)
    failures = [failure_row(f"{path}:{e.line}", None, "review", "manifest", f"{e.document or '(empty)'}: {e.reason}",
                            run_id) for e in bad]
    ids = [r.verdict_id for r in rows]
    claims = {v["verdict_id"]: v for v in lake_rows(
        lake, "SELECT verdict_id, doc_id, sig_id, claimed_signer FROM verdicts WHERE list_contains($ids, verdict_id) "
              "QUALIFY row_number() OVER (PARTITION BY verdict_id ORDER BY created_at DESC) = 1", {"ids": ids})}
    seen = set(known_keys(lake, "SELECT review_id FROM reviews WHERE list_contains($ids, verdict_id)", {"ids": ids}))
    new, already, at = [], 0, now()
    for r in rows:
        v = claims.get(r.verdict_id)
        if v is None:
            failures.append(failure_row(f"{path}:{r.line}", None, "review", "verdict",
                                        f"{r.verdict_id}: no verdict with this verdict_id in the lake", run_id))
            continue
        rid = review_id(r)
        if rid in seen:
            already += 1
            continue
        new.append({"review_id": rid, "verdict_id": r.verdict_id, "doc_id": v["doc_id"], "sig_id": v["sig_id"],
                    "claimed_signer": v["claimed_signer"], "outcome": r.outcome, "reviewer": r.reviewer,
                    "note": r.note, "reviewed_at": r.reviewed_at or at, "source": f"{path}:{r.line}",
                    "run_id": run_id, "created_at": at})
    if new:
        write_reviews(lake, run_id, new)
    new_failures = record_failures(lake, failures)
    if new or new_failures:
        record_run(lake, run_id, "review", started, params.model_dump(mode="json"), len(rows) + len(bad), len(new),
                   already, len(failures))
    outcomes: dict[str, int] = {}
    for r in new:
        outcomes[r["outcome"]] = outcomes.get(r["outcome"], 0) + 1
    return {"run_id": run_id, "lake": lake, "recorded": len(new), "already_recorded": already, "outcomes": outcomes,
            "failed": [{"path": f["path"], "reason": f["reason"]} for f in failures]}
