"""Identification and grouping at archive scale: top-k enrolled signers per query, clusters of unknowns.

Scoring runs in blocks as matrix products, ``(q, D) @ (D, r)``, so 10k queries against 1M references
never hold more than one ``(q, r)`` block of similarities; a signer's score is its best reference's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["TopK", "topk_signers", "cluster"]


@dataclass(frozen=True)
class TopK:
    signers: np.ndarray  # (Q, k) int32 signer codes (index into the caller's signer list), -1 when fewer
    scores: np.ndarray   # (Q, k) float32, best first; -inf where signers is -1


def topk_signers(queries: np.ndarray, refs: np.ndarray, ref_signer: np.ndarray, k: int = 10,
                 query_block: int = 4096, ref_block: int = 32768, device: str | None = None) -> TopK:
    """Top-``k`` signers for each query by max cosine similarity over each signer's references.

    ``queries (Q, D)`` and ``refs (R, D)`` float32 with unit rows, ``ref_signer (R,)`` int codes. Each
    ``(query_block, ref_block)`` block is a matrix product (torch: BLAS on the CPU, CUDA when present)
    followed by a top-m over references, m large enough to hold ``k`` distinct signers; the candidates are
    merged into a running top-k per query. Memory is ``O(query_block * ref_block)`` whatever R is, and
    the result is exact (equals brute force).
    """
    import torch

    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    queries = np.ascontiguousarray(queries, np.float32)
    ref_signer = np.asarray(ref_signer, np.int32)
    q_n = len(queries)
    # k signers are certain to be among the k * (most references of one signer) best references
    per_signer = int(np.bincount(ref_signer[ref_signer >= 0]).max()) if len(ref_signer) else 1
    best_s = np.full((q_n, k), -np.inf, np.float32)
    best_w = np.full((q_n, k), -1, np.int32)
    if q_n == 0 or len(refs) == 0:
        return TopK(best_w, best_s)
    ref_t = torch.from_numpy(np.ascontiguousarray(refs, np.float32)).to(dev)
    with torch.inference_mode():
        for q0 in range(0, q_n, query_block):
            q = torch.from_numpy(queries[q0:q0 + query_block]).to(dev)
            run_s, run_w = best_s[q0:q0 + len(q)], best_w[q0:q0 + len(q)]
            for r0 in range(0, len(ref_t), ref_block):
                sims = q @ ref_t[r0:r0 + ref_block].T  # (q, r)
                m = min(sims.shape[1], k * per_signer)
                cand_s, idx = torch.topk(sims, m, dim=1, sorted=False)
                cand_w = ref_signer[r0:r0 + ref_block][idx.cpu().numpy()]
                run_s, run_w = _merge(np.concatenate([run_s, cand_s.cpu().numpy()], 1),
                                      np.concatenate([run_w, cand_w], 1), k)
            best_s[q0:q0 + len(q)], best_w[q0:q0 + len(q)] = run_s, run_w
    return TopK(best_w, best_s)


def _merge(scores: np.ndarray, signers: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the ``k`` best distinct signers of ``(q, m)`` candidates -> ``(q, k)`` each."""
    order = np.argsort(-scores, axis=1, kind="stable")
    s = np.take_along_axis(scores, order, 1)
    w = np.take_along_axis(signers, order, 1)
    out_s = np.full((len(s), k), -np.inf, np.float32)
    out_w = np.full((len(s), k), -1, np.int32)
    # first occurrence of each signer in the sorted row: sort by (signer, position), keep the first per signer
    pos = np.broadcast_to(np.arange(s.shape[1]), s.shape)
    key = np.where(w >= 0, w, np.iinfo(np.int32).max).astype(np.int64) * s.shape[1] + pos
    by_signer = np.sort(key, axis=1)
    sig_sorted = by_signer // s.shape[1]
    first = np.ones_like(sig_sorted, bool)
    first[:, 1:] = sig_sorted[:, 1:] != sig_sorted[:, :-1]
    first &= sig_sorted != np.iinfo(np.int32).max
    keep_pos = np.where(first, by_signer % s.shape[1], s.shape[1])
    keep_pos = np.sort(keep_pos, axis=1)[:, :k]  # positions in score order, best first
    valid = keep_pos < s.shape[1]
    kp = np.minimum(keep_pos, s.shape[1] - 1)
    out_s[:, : kp.shape[1]] = np.where(valid, np.take_along_axis(s, kp, 1), -np.inf)
    out_w[:, : kp.shape[1]] = np.where(valid, np.take_along_axis(w, kp, 1), -1)
    return out_s, out_w


def cluster(emb: np.ndarray, threshold: float, iterations: int = 3) -> np.ndarray:
    """Group ``emb (N, D)`` (unit rows) into writers: ``(N,) int32`` cluster labels, 0..C-1, by first appearance.

    Leader clustering (a signature joins the most similar cluster centroid when the similarity reaches
    ``threshold``, else starts a new cluster) followed by a few centroid-refinement passes. Deterministic,
    ``O(N * C)``; ``threshold`` is the verifier's pair threshold from its card.
    """
    emb = np.asarray(emb, np.float32)
    n = len(emb)
    if n == 0:
        return np.zeros(0, np.int32)
    labels = np.full(n, -1, np.int32)
    cents: list[np.ndarray] = []
    for i in range(n):
        if cents:
            sims = np.stack(cents) @ emb[i]
            j = int(np.argmax(sims))
            if sims[j] >= threshold:
                labels[i] = j
                continue
        labels[i] = len(cents)
        cents.append(emb[i].copy())
    for _ in range(iterations):
        c = np.zeros((labels.max() + 1, emb.shape[1]), np.float32)
        np.add.at(c, labels, emb)
        c /= np.maximum(np.linalg.norm(c, axis=1, keepdims=True), 1e-12)
        sims = emb @ c.T
        new = np.argmax(sims, axis=1).astype(np.int32)
        new = np.where(sims[np.arange(n), new] >= threshold, new, labels)
        if np.array_equal(new, labels):
            break
        labels = new
    _, first = np.unique(labels, return_index=True)
    remap = np.empty(labels.max() + 1, np.int32)
    remap[labels[np.sort(first)]] = np.arange(len(first), dtype=np.int32)
    return remap[labels]
