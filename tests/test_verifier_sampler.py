"""PKFM batch composition and writer-disjoint splits."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from sigpipe.verifier.sampler import PKFMSampler, parse_writers, split_writers


def _data(n_writers: int = 12, n_gen: int = 10, n_forg: int = 6, genuine_only: int = 0):
    writers, genuine = [], []
    for w in range(n_writers):
        writers += [w] * n_gen
        genuine += [True] * n_gen
        if w < n_writers - genuine_only:
            writers += [w] * n_forg
            genuine += [False] * n_forg
    return np.array(writers), np.array(genuine)


def test_pkfm_counts():
    w, g = _data()
    s = PKFMSampler(w, g, P=4, K=3, F=2, M=5, batches=20, seed=1)
    assert len(list(s)) == 20
    for b in s:
        assert len(b) == 4 * 3 + 4 * 2 + 5
        head = b[:12]
        chosen = set(w[head])
        assert len(chosen) == 4 and all(c == 3 for c in Counter(w[head]).values()) and g[head].all()
        forg = b[12:20]
        assert not g[forg].any() and set(w[forg]) == chosen
        assert all(c == 2 for c in Counter(w[forg]).values())
        others = b[20:]
        assert g[others].all() and not (set(w[others]) & chosen)


def test_pkfm_genuine_only_writers_give_no_forgeries():
    w, g = _data(n_writers=8, genuine_only=8)
    s = PKFMSampler(w, g, P=3, K=2, F=2, M=2, seed=0)
    b = s.batch()
    assert len(b) == 3 * 2 + 2 and g[b].all()


def test_pkfm_reproducible_and_needs_enough_writers():
    w, g = _data()
    a = [b.tolist() for b in PKFMSampler(w, g, P=4, K=2, F=1, M=2, batches=3, seed=5)]
    b = [b.tolist() for b in PKFMSampler(w, g, P=4, K=2, F=1, M=2, batches=3, seed=5)]
    assert a == b
    with pytest.raises(ValueError, match="at least P"):
        PKFMSampler(w, g, P=20)


def test_split_writers_disjoint_and_reproducible():
    names = [str(i) for i in range(1, 46)]
    tr, va = split_writers(names * 3, val_fraction=0.2, seed=3)
    assert not set(tr) & set(va) and set(tr) | set(va) == set(names) and len(va) == 9
    assert split_writers(names, 0.2, seed=3) == (tr, va)
    assert split_writers(names, 0.2, seed=4) != (tr, va)


def test_parse_writers():
    assert parse_writers("1-3,7") == {"1", "2", "3", "7"}
    assert parse_writers("alice, bob") == {"alice", "bob"}
    assert parse_writers(None) is None and parse_writers("") is None
    with pytest.raises(ValueError):
        parse_writers("9-3")


def test_pkfm_groups_give_same_content_negatives():
    # genuine-only "hand-name" classes: writer w wrote name w % 3; same name by other hands = hard negatives
    w = np.repeat(np.arange(9), 4)
    g = np.ones(36, bool)
    groups = np.array([f"name{x % 3}" for x in w], dtype=object)
    s = PKFMSampler(w, g, P=3, K=2, F=2, M=0, groups=groups, seed=0)
    for _ in range(10):
        b = s.batch()
        chosen = w[b[:6]][::2]
        extra = b[6:]
        assert len(extra) == 6
        for i, c in enumerate(chosen):
            neg = extra[2 * i : 2 * i + 2]
            assert (w[neg] != c).all() and (groups[neg] == groups[b[2 * i]]).all()
