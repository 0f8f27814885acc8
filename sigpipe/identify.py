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


def _rows_for(m: int, cells: int = 1 << 22) -> int:
    """How many rows to score at once against ``m`` columns: at most ``cells`` similarities (16 MB), 16 to 1024."""
    return int(min(1024, max(16, cells // max(m, 1))))


def cluster(emb: np.ndarray, threshold: float, iterations: int = 3, seeds: np.ndarray | None = None) -> np.ndarray:
    """Group ``emb (N, D)`` (unit rows) into writers: ``(N,) int32`` cluster labels.

    Leader clustering (a signature joins the most similar cluster centroid when the similarity reaches
    ``threshold``, else starts a new cluster) followed by a few centroid-refinement passes. Deterministic,
    ``O(N * C)``; ``threshold`` is the verifier's pair threshold from its card.

    ``seeds (K, D)``: groups found before (an earlier catalogue's unknown writers), each the sum of its members'
    unit embeddings. A signature may join them as any group; labels ``0..K-1`` are the seeds, whose numbers stay,
    and the new groups are ``K..`` by first appearance. Without seeds the labels are ``0..C-1`` by first appearance.
    """
    emb = np.asarray(emb, np.float32)
    n = len(emb)
    if n == 0:
        return np.zeros(0, np.int32)
    d = emb.shape[1]
    base = np.zeros((0, d), np.float32) if seeds is None else np.asarray(seeds, np.float32).reshape(-1, d)
    k0 = len(base)

    def unit(x: np.ndarray) -> np.ndarray:
        return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)

    cents = np.empty((k0 + n, d), np.float32)  # leaders: a seed's centroid, a new group's first member
    cents[:k0] = unit(base)
    m = k0
    labels = np.full(n, -1, np.int32)
    # Leaders never move during this pass, so a block of signatures is scored against the leaders made before it
    # in one matrix product, and only against the few made inside the block one by one: the sequential result,
    # at matrix-product speed when earlier catalogues left tens of thousands of groups.
    s1 = 0
    while s1 < n:
        s0, s1, before = s1, min(n, s1 + _rows_for(m)), m
        first = emb[s0:s1] @ cents[:before].T if before else None  # (b, before)
        for r, i in enumerate(range(s0, s1)):
            j, best = -1, -np.inf
            if before:
                j = int(np.argmax(first[r]))
                best = first[r, j]
            if m > before:
                inside = cents[before:m] @ emb[i]
                j2 = int(np.argmax(inside))
                if inside[j2] > best:  # ties go to the older leader, as one argmax over all would
                    j, best = before + j2, inside[j2]
            if best >= threshold:
                labels[i] = j
            else:
                labels[i] = m
                cents[m] = emb[i]
                m += 1
    for _ in range(iterations):
        c = np.zeros((m, d), np.float32)
        c[:k0] = base
        np.add.at(c, labels, emb)
        c = unit(c)
        new = np.empty(n, np.int32)
        step = _rows_for(m)
        for s0 in range(0, n, step):  # (b, m) similarities at a time, not (n, m)
            s1 = min(n, s0 + step)
            sims = emb[s0:s1] @ c.T
            j = np.argmax(sims, axis=1)
            new[s0:s1] = np.where(sims[np.arange(s1 - s0), j] >= threshold, j, labels[s0:s1])
        if np.array_equal(new, labels):
            break
        labels = new
    # new groups renumbered K.. by first appearance (some may have lost every member to refinement)
    fresh = labels >= k0
    _, first = np.unique(labels[fresh], return_index=True)
    remap = np.arange(m, dtype=np.int32)
    remap[labels[fresh][np.sort(first)]] = np.arange(k0, k0 + len(first), dtype=np.int32)
    return remap[labels]
