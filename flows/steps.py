"""Steps several flows share, composed of tasks: embed the signatures of a set of documents, carry enrolled
references to the running verifier version."""

from __future__ import annotations

from typing import Any

from prefect import unmapped

import storage
from tasks.common import failure_row, lake_rows, record_failure
from tasks.progress import completed
from tasks.verify import carry_references, embed_signatures

__all__ = ["carry_enrolled", "embed_documents", "even_chunks"]


def even_chunks(items: list[Any], most: int, split_from: int = 64) -> list[list[Any]]:
    """``items`` in order, cut into chunks of at most ``most``: an even number of chunks of equal size (within
    one), at least two from ``split_from`` items up, so that both workers of a 2-core machine finish together
    instead of one waiting for a short last chunk. No items, no chunks."""
    n = -(-len(items) // most)
    if len(items) >= split_from:
        n = max(n, 2) + max(n, 2) % 2
    size = max(1, -(-len(items) // max(n, 1)))
    return [items[i:i + size] for i in range(0, len(items), size)]


def embed_documents(doc_ids: list[str], lake: str, run_id: str, verifier: dict[str, Any], verifier_dir: str,
                    detector: dict[str, Any], chunk: int, flow_name: str, precision: str = "auto") -> dict[str, Any]:
    """Embed every detected signature of ``doc_ids`` that has no embedding for this verifier version yet,
    in chunks of ``chunk`` crops across documents (a batch per task), in the flow's ``precision`` (tasks.models).
    A signature embedded before in another precision keeps that embedding: the rows are keyed by model version."""
    todo = lake_rows(lake, "SELECT s.sig_id, s.crop_path, s.dpi FROM signatures s WHERE list_contains($d, s.doc_id) "
                           "AND s.detector_name = $dn AND s.detector_version = $dv AND NOT EXISTS ("
                           "SELECT 1 FROM embeddings e WHERE e.sig_id = s.sig_id AND e.model_name = $n "
                           "AND e.model_version = $v) ORDER BY s.sig_id",
                     {"d": doc_ids, "dn": detector["name"], "dv": detector["version"], "n": verifier["name"],
                      "v": verifier["version"]}) if doc_ids else []
    chunks = even_chunks(todo, chunk)
    # a chunk's key is the hash of its sig_ids: a retry of the same chunk overwrites its part
    keys = [storage.chunk_key((x["sig_id"] for x in c), "emb") for c in chunks]
    futures = embed_signatures.map(chunks, unmapped(lake), unmapped(run_id), unmapped(verifier_dir), keys,
                                   unmapped(precision))
    by_run = {f.task_run_id: c for f, c in zip(futures, chunks, strict=True)}
    n, failed = 0, []
    for fut in completed(futures, "embed"):
        res = fut.result(raise_on_failure=False)
        if isinstance(res, BaseException):
            c = by_run[fut.task_run_id]
            failed.append(failure_row(c[0]["crop_path"], None, flow_name, "embed", res, run_id))
        else:
            n += res
    for row in failed:
        record_failure(lake, row)
    return {"embedded": n, "failures": failed}


def carry_enrolled(lake: str, run_id: str, verifier: dict[str, Any], verifier_dir: str,
                   flow_name: str, precision: str = "auto") -> list[dict[str, Any]]:
    """References enrolled under another verifier version, embedded by this one (:func:`carry_references`);
    returns failure rows for stored crops that could not be read."""
    from prefect.logging import get_run_logger

    carried = carry_references(lake, run_id, verifier_dir, precision=precision)
    if carried["references"]:
        get_run_logger().info("embedded %d references of %d signers enrolled under another verifier version with "
                              "%s v%s", carried["references"], carried["signers"], verifier["name"],
                              verifier["version"])
    return [failure_row(f["path"], None, flow_name, "carry-references", f["reason"], run_id) for f in carried["failed"]]
