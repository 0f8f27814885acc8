"""Withdraw: references taken out of use -> ``withdrawals`` rows.

An account closed, a new signature card, a reference found to be another hand's: the signer's references (all of
them, or the ``ref_id``s named) are no longer compared with from the next audit or catalogue on, whichever verifier
version embedded them; a signer left with none is an ``unknown_signer`` to the audit. Nothing is deleted: the
``references`` rows stay for the verdicts that name them (``best_ref_id``), the ``withdrawn_references`` view lists
them with the reason, and enrolling the same image again brings the reference back. Withdrawing what is withdrawn
already adds nothing. The signers come from the command line (``--ref`` narrowing them to those references) or a
CSV file (``signer_id``, optional ``ref_id``: a night's closed accounts), or both. A signer the lake never enrolled,
a ref_id none of the named signers has, or a bad row of the file is recorded in ``failures`` and the rest goes on.
``sigpipe enroll --replace`` withdraws through :func:`take_out` too.
"""

from __future__ import annotations

from typing import Any

from prefect import flow

import storage
from flows.params import WithdrawParams
from flows.runners import take_turn
from sigpipe.manifest import read_withdraw_manifest
from tasks.common import failure_row, lake_rows, now, record_failures, record_run
from tasks.withdraw import write_withdrawals

__all__ = ["withdraw", "take_out", "references_of"]


def take_out(lake: str, run_id: str, targets: list[tuple[str, str]], reason: str, by: str | None = None) -> int:
    """Withdraw each (signer_id, ref_id) of ``targets`` for ``reason``; returns how many. (Called from a flow.)"""
    if not targets:
        return 0
    at = now()
    write_withdrawals(lake, run_id, [{"signer_id": s, "ref_id": r, "reason": reason, "withdrawn_by": by,
                                      "run_id": run_id, "withdrawn_at": at} for s, r in sorted(set(targets))])
    return len(set(targets))


def references_of(lake: str, signers: list[str], view: str = "references") -> list[dict[str, Any]]:
    """(signer_id, ref_id, model_name, model_version) of ``signers``' references in use (``view`` "references") or
    withdrawn ("withdrawn_references")."""
    if view not in {"references", "withdrawn_references"}:
        raise ValueError(f"not a references view: {view}")
    return lake_rows(lake, f'SELECT DISTINCT signer_id, ref_id, model_name, model_version FROM "{view}" '
                           "WHERE list_contains($s, signer_id)", {"s": signers})


@flow(name="withdraw", log_prints=True)
def withdraw(params: WithdrawParams) -> dict[str, Any]:
    return take_turn("withdraw", params, _withdraw)  # two withdraw runs on one lake take turns


def _withdraw(params: WithdrawParams, lake: str) -> dict[str, Any]:
    run_id, started = storage.new_run_id("withdraw"), now()
    # what is asked: (source of the ask, signer, ref_id or None for all of the signer's references)
    wanted = set(params.refs)
    asks = [("", s, r) for s in params.signers for r in (sorted(wanted) or [None])]
    failures = []
    if params.file is not None:
        rows, bad = read_withdraw_manifest(params.file)
        asks += [(f"{params.file}:{r.line}", r.signer_id, r.ref_id) for r in rows]
        failures += [failure_row(f"{params.file}:{e.line}", None, "withdraw", "manifest",
                                 f"{e.document or '(empty)'}: {e.reason}", run_id) for e in bad]
    signers = sorted({s for _, s, _ in asks})
    active = {(r["signer_id"], r["ref_id"]) for r in references_of(lake, signers)}
    known = active | {(r["signer_id"], r["ref_id"]) for r in references_of(lake, signers, "withdrawn_references")}
    by_signer: dict[str, set[str]] = {}
    for k in known:
        by_signer.setdefault(k[0], set()).add(k[1])
    targets, already = set(), set()
    for where, s, r in asks:
        refs = by_signer.get(s, set())
        hit = {(s, x) for x in (refs if r is None else refs & {r})}
        targets |= hit & active
        already |= hit - active
        if not hit and where:  # a file's row that names nothing: that row's failure
            failures.append(failure_row(where, None, "withdraw", "lookup",
                                        f"reference {r} is not enrolled for signer {s}" if r else
                                        f"no reference was ever enrolled for signer {s}", run_id))
    named = list(params.signers)  # the command line's signers: each must have had references, each --ref be one
    failures += [failure_row(f"signer {s}", None, "withdraw", "lookup",
                             f"no reference was ever enrolled for signer {s}", run_id)
                 for s in named if s not in by_signer]
    failures += [failure_row(f"reference {r}", None, "withdraw", "lookup",
                             f"reference {r} is not enrolled for {', '.join(named)}", run_id)
                 for r in sorted(wanted - {x for s in named for x in by_signer.get(s, ())})]
    n = take_out(lake, run_id, sorted(targets), params.reason, params.withdrawn_by)
    new_failures = record_failures(lake, failures)
    if n or new_failures:
        record_run(lake, run_id, "withdraw", started, params.model_dump(mode="json"), len(targets) + len(already), n,
                   len(already), len(failures))
    left: dict[str, set[str]] = {s: set() for s in signers}
    for r in references_of(lake, signers):
        left[r["signer_id"]].add(r["ref_id"])
    return {"run_id": run_id, "lake": lake, "withdrawn": n, "signers": len({s for s, _ in targets}),
            "already_withdrawn": len(already), "references_left": {s: len(v) for s, v in left.items()},
            "failed": [{"path": f["path"], "reason": f["reason"]} for f in failures]}
