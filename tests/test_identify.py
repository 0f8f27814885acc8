from __future__ import annotations

import numpy as np

from sigpipe.identify import cluster, topk_signers


def _unit(x):
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def test_topk_equals_brute_force_across_blocks():
    rng = np.random.default_rng(1)
    refs = _unit(rng.normal(size=(600, 12)))
    signer = rng.integers(0, 50, size=600).astype(np.int32)  # uneven reference counts per signer
    q = _unit(refs[::9] + 0.05 * rng.normal(size=(67, 12)))
    got = topk_signers(q, refs, signer, k=7, query_block=16, ref_block=97)
    sims = q @ refs.T
    best = np.full((len(q), 50), -np.inf)
    for w in range(50):
        if (signer == w).any():
            best[:, w] = sims[:, signer == w].max(axis=1)
    order = np.argsort(-best, axis=1, kind="stable")[:, :7]
    assert np.array_equal(got.signers, order)
    assert np.allclose(got.scores, np.take_along_axis(best, order, 1), atol=1e-6)


def test_topk_fewer_signers_than_k():
    refs = _unit(np.eye(3, 4))
    got = topk_signers(refs[:1], refs, np.array([0, 1, 1]), k=5)
    assert got.signers[0].tolist() == [0, 1, -1, -1, -1]
    assert np.isneginf(got.scores[0, 2:]).all()


def test_cluster_groups_writers():
    rng = np.random.default_rng(2)
    centres = _unit(rng.normal(size=(4, 16)))
    labels_true = np.repeat(np.arange(4), 5)
    emb = _unit(centres[labels_true] + 0.05 * rng.normal(size=(20, 16)))
    perm = rng.permutation(20)
    got = cluster(emb[perm], threshold=0.8)
    truth = labels_true[perm]
    # same partition up to renaming
    assert len(set(got.tolist())) == 4
    for c in set(got.tolist()):
        assert len(set(truth[got == c].tolist())) == 1
    assert got[0] == 0  # labels numbered by first appearance
    assert cluster(np.zeros((0, 16)), 0.8).shape == (0,)


def test_cluster_seeds_keep_earlier_groups_and_their_numbers():
    """An earlier catalogue's unknown writers (as sums of their members' embeddings) are groups a new signature can
    join; they keep their numbers 0..K-1, new writers are numbered from K, and a seed nobody joins stays unused."""
    rng = np.random.default_rng(3)
    centres = _unit(rng.normal(size=(4, 16)))
    noisy = lambda w, n: _unit(centres[w] + 0.05 * rng.normal(size=(n, 16)))  # noqa: E731
    seeds = np.stack([noisy(1, 3).sum(0), noisy(3, 2).sum(0), noisy(2, 4).sum(0)])  # writers 1, 3, 2 seen before
    who = np.array([0, 3, 0, 1, 3, 0])  # writer 0 is new; 1 and 3 were seen; 2 does not come back
    got = cluster(np.concatenate([noisy(w, 1) for w in who]), threshold=0.8, seeds=seeds)
    assert got.tolist() == [3, 1, 3, 0, 1, 3]
    # the same signatures without seeds: numbered by first appearance
    assert cluster(np.concatenate([noisy(w, 1) for w in who]), threshold=0.8).tolist() == [0, 1, 0, 2, 1, 0]


def test_cluster_without_seeds_is_cluster_with_none():
    rng = np.random.default_rng(4)
    emb = _unit(rng.normal(size=(50, 8)))
    assert np.array_equal(cluster(emb, 0.3), cluster(emb, 0.3, seeds=np.zeros((0, 8), np.float32)))
