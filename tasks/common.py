"""Small pieces every task module shares: timestamps, failure and run records, lake look-ups."""

from __future__ import annotations

import functools
import json
import socket
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from prefect import task

import storage
from sigpipe import __version__
from sigpipe.runtime import release_heap

__all__ = ["now", "known_keys", "lake_rows", "model_info", "record_failure", "record_failures", "record_run",
           "failure_row", "releases_heap"]

F = TypeVar("F", bound=Callable[..., Any])


def releases_heap(fn: F) -> F:
    """``fn`` (a task's function, under ``@task``) giving the C heap's free pages back to the system as it ends,
    returning or raising (:func:`sigpipe.runtime.release_heap`): without it a long run's memory grows with the
    crops its networks have seen."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        finally:
            release_heap()

    return run  # type: ignore[return-value]


def now() -> datetime:
    return datetime.now(UTC)


def failure_row(path: str, doc_id: str | None, flow: str, stage: str, error: BaseException | str,
                run_id: str) -> dict[str, Any]:
    if isinstance(error, BaseException):
        error_type, reason = type(error).__name__, getattr(error, "reason", None) or str(error)
    else:
        error_type, reason = "Error", error
    return {"path": path, "doc_id": doc_id, "flow": flow, "stage": stage, "error_type": error_type,
            "reason": reason[:2000], "run_id": run_id, "created_at": now()}


def _part_key(row: dict[str, Any]) -> str:
    import hashlib

    what = f"{row['path']}|{row['stage']}|{row['reason']}"
    return f"{row['flow']}-{hashlib.sha256(what.encode()).hexdigest()[:24]}"


@task(name="record-failure", retries=2, retry_delay_seconds=1)
def record_failure(lake: str, row: dict[str, Any]) -> str:
    """One part per (flow, file, stage, reason): a retry of the same run overwrites it."""
    return str(storage.write_part(lake, "failures", row["run_id"], _part_key(row), [row]))


def record_failures(lake: str, rows: list[dict[str, Any]]) -> int:
    """Record failures not already in the lake for the same (flow, path, stage, reason): a rerun over the
    same bad input adds nothing. Returns how many were new. (Called from a flow: composes tasks.)"""
    if not rows:
        return 0
    seen = set(known_keys(lake, "SELECT DISTINCT flow || '|' || path || '|' || stage || '|' || reason FROM failures"))
    new = [r for r in rows if f"{r['flow']}|{r['path']}|{r['stage']}|{r['reason']}" not in seen]
    for row in new:
        record_failure(lake, row)
    return len(new)


@task(name="known-keys", retries=2, retry_delay_seconds=1)
def known_keys(lake: str, sql: str, params: dict[str, Any] | None = None) -> list[str]:
    """First column of a query over the lake's views (e.g. doc_ids already ingested)."""
    if not Path(lake).is_dir():
        return []
    con = storage.connect(lake)
    try:
        return [str(v) for v in storage.query(con, sql, params).column(0).to_pylist() if v is not None]
    finally:
        con.close()


@task(name="lake-rows", retries=2, retry_delay_seconds=1)
def lake_rows(lake: str, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Rows of a query over the lake's views, as plain dicts (small results: ids, paths, sizes)."""
    if not Path(lake).is_dir():
        return []
    con = storage.connect(lake)
    try:
        return storage.query(con, sql, params).to_pylist()
    finally:
        con.close()


@task(name="model-info")
def model_info(folder: str, lake: str, run_id: str) -> dict[str, Any]:
    """A model folder's card (sha256 checked), for names and versions in rows; the model is registered in the
    lake's ``models`` table the first time a run uses it (:func:`register_model`)."""
    from sigpipe.weights import load_card

    card = dict(load_card(folder).data)
    register_model(lake, run_id, card, folder)
    return card


# the networks a model's rows depend on: its own weights, and those its card names beside them (a verifier's stamp
# remover, a detector's page orienter; sigpipe.weights.companion_weights) -> how errors name them
_WEIGHTS = {"weights": "weights", "destamp": "stamp remover", "orienter": "page orienter"}


def _weights_of(card: dict[str, Any]) -> dict[str, str]:
    """The sha256 of each network in ``card`` (:data:`_WEIGHTS`)."""
    return {"weights": card["sha256"], **{k: card[k]["sha256"] for k in _WEIGHTS
                                          if isinstance(card.get(k), dict) and card[k].get("sha256")}}


def register_model(lake: str, run_id: str, card: dict[str, Any], folder: str) -> None:
    """Record ``card``'s model in ``lake`` unless it is there already; raise
    :class:`sigpipe.weights.ModelVersionConflict` if the lake knows other weights under its name and version (its
    own network's, or a stamp remover's or page orienter's its card names).

    Embeddings, detections and verdicts are keyed by a model's name and version, and a flow skips work its model
    version has done. Weights retrained into a folder under the same version would otherwise be silently mixed
    with the old ones' rows (references embedded by one network, queries by another)."""
    from sigpipe.weights import ModelVersionConflict

    known = lake_rows.fn(lake, "SELECT sha256, folder, run_id, card FROM models WHERE kind = $k AND name = $n AND "
                               "version = $v", {"k": card["kind"], "n": card["name"], "v": str(card["version"])})
    if known:
        k = known[0]
        old, new = _weights_of({**json.loads(k["card"]), "sha256": k["sha256"]}), _weights_of(card)
        differ = [n for n in _WEIGHTS if old.get(n) != new.get(n)]
        if differ:
            what = _WEIGHTS[differ[0]]
            raise ModelVersionConflict(
                f"{folder}: {card['kind']} {card['name']} version {card['version']} has {what} sha256 "
                f"{(new.get(differ[0]) or 'none')[:12]}..., but this lake's rows from {card['name']} version "
                f"{card['version']} were made with {what} {(old.get(differ[0]) or 'none')[:12]}... (from "
                f"{k['folder']}, first used by run {k['run_id']}). Give the new weights a new version (training's "
                "--model-version, or \"version\" in their card.json), or use another lake")
    if known:
        return
    row = {"kind": card["kind"], "name": card["name"], "version": str(card["version"]), "sha256": card["sha256"],
           "folder": str(Path(folder).resolve()), "card": json.dumps(card, default=str), "run_id": run_id,
           "registered_at": now()}
    storage.write_part(lake, "models", run_id, f"{card['kind']}-{card['sha256'][:16]}", [row])


@task(name="record-run", retries=2, retry_delay_seconds=1)
def record_run(lake: str, run_id: str, flow: str, started_at: datetime, params: dict[str, Any],
               n_inputs: int, n_processed: int, n_skipped: int, n_failed: int) -> str:
    """The run's last write: its audit counts (when it wrote verdicts), then the ``runs`` row that marks it finished,
    then compaction of its partitions into one file each (storage/maintain.py: crash-safe and idempotent; a
    failed compaction leaves the lake as it was, for ``sigpipe compact`` to redo). Params that name a
    ``precision`` are recorded with ``precision_used``: what it meant on this host (tasks.models.precision_used)."""
    if "precision" in params:
        from tasks.models import precision_used

        params = {**params, "precision_used": precision_used(params["precision"])}
    storage.write_audit_counts(lake, run_id)
    row = {"run_id": run_id, "flow": flow, "started_at": started_at, "finished_at": now(),
           "status": "partial" if n_failed else "completed", "params": json.dumps(params, default=str),
           "n_inputs": n_inputs, "n_processed": n_processed, "n_skipped": n_skipped, "n_failed": n_failed,
           "sigpipe_version": __version__, "host": socket.gethostname()}
    path = str(storage.write_part(lake, "runs", run_id, "run", [row]))
    try:
        storage.compact(lake, runs=[run_id])
    except Exception as e:  # noqa: BLE001 - the run's data is committed; compaction is an optimisation
        from prefect.logging import get_run_logger

        get_run_logger().warning("compaction of run %s failed (%s); `sigpipe compact` can redo it", run_id, e)
    return path
