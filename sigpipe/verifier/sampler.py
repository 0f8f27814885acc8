"""Writer-disjoint splits and the PKFM batch sampler.

A PKFM batch holds P writers x K genuine signatures, F skilled forgeries of each of those writers (the
hard negatives that writer-independent verification is judged on) and M genuine signatures of other
writers (random forgeries). A writer without forgeries but with a content group (crossmedia: the same name
written by other hands) gets F signatures of its group by other writers instead: natural skilled-like
negatives. Otherwise it contributes none.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import numpy as np

__all__ = ["PKFMSampler", "parse_writers", "split_writers"]


def parse_writers(spec: str | None) -> set[str] | None:
    """``"1-35"``, ``"46-55,60"``, ``"alice,bob"`` -> set of writer names (strings); None/"" -> None (all)."""
    if not spec:
        return None
    out: set[str] = set()
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        lo, sep, hi = part.partition("-")
        if sep and lo.strip().isdigit() and hi.strip().isdigit():
            a, b = int(lo), int(hi)
            if b < a:
                raise ValueError(f"bad writer range {part!r}")
            out.update(str(i) for i in range(a, b + 1))
        else:
            out.add(part)
    return out


def split_writers(writers: Iterable[str], val_fraction: float = 0.2, seed: int = 0) -> tuple[list[str], list[str]]:
    """Split writer names (not images) into disjoint (train, val) lists, reproducibly for a seed."""
    names = sorted(set(writers))
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(names))
    n_val = max(1, int(round(val_fraction * len(names)))) if len(names) > 1 else 0
    val = sorted(names[i] for i in order[:n_val])
    train = sorted(names[i] for i in order[n_val:])
    return train, val


class PKFMSampler:
    """Yield index batches ``(P*K + <=P*F + M,) int64`` over samples with ``writers (N,)`` and ``genuine (N,)``.

    Args:
        writers: integer writer code per sample (claimed writer, also for forgeries).
        genuine: True for genuine signatures, False for skilled forgeries.
        P, K, F, M: writers per batch, genuine per writer, forgeries per writer, other writers' genuine.
        batches: batches per epoch (default: enough for about one pass over the genuine signatures).
        writer_weight: optional sampling weight per writer code (e.g. to balance sources).
        groups: optional content group per sample (``(N,)``, "" = none), see the module docstring.
        seed: RNG seed; each epoch advances the same generator.
    """

    def __init__(self, writers: Sequence[int] | np.ndarray, genuine: Sequence[bool] | np.ndarray, P: int = 8,  # noqa: N803
                 K: int = 4, F: int = 2, M: int = 8, batches: int | None = None,  # noqa: N803
                 writer_weight: dict[int, float] | None = None, groups: Sequence[str] | np.ndarray | None = None,
                 seed: int = 0) -> None:
        self.writers = np.asarray(writers, dtype=np.int64)
        self.genuine = np.asarray(genuine, dtype=bool)
        if self.writers.shape != self.genuine.shape:
            raise ValueError("writers and genuine must have the same length")
        self.P, self.K, self.F, self.M = P, K, F, M
        self._gen: dict[int, np.ndarray] = {}
        self._forg: dict[int, np.ndarray] = {}
        self._group_neg: dict[int, np.ndarray] = {}
        grp = np.asarray(groups, dtype=object) if groups is not None else None
        for w in np.unique(self.writers):
            m = self.writers == w
            self._gen[int(w)] = np.flatnonzero(m & self.genuine)
            self._forg[int(w)] = np.flatnonzero(m & ~self.genuine)
            if grp is not None and not len(self._forg[int(w)]):
                g = grp[m][0]
                if g:
                    self._group_neg[int(w)] = np.flatnonzero((grp == g) & ~m & self.genuine)
        # A writer can anchor a batch only with two genuine signatures (one positive pair).
        self.eligible = np.array(sorted(w for w, g in self._gen.items() if len(g) >= 2), dtype=np.int64)
        if len(self.eligible) < P:
            raise ValueError(f"need at least P={P} writers with >= 2 genuine signatures, have {len(self.eligible)}")
        wt = np.array([(writer_weight or {}).get(int(w), 1.0) for w in self.eligible], dtype=np.float64)
        self.p_writer = wt / wt.sum()
        self.all_genuine = np.flatnonzero(self.genuine)
        n_gen = sum(len(self._gen[int(w)]) for w in self.eligible)
        self.batches = batches or max(1, n_gen // (P * K))
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return self.batches

    def batch(self) -> np.ndarray:
        """One batch of sample indices: P*K genuine, then forgeries, then M others."""
        rng = self.rng
        chosen = rng.choice(self.eligible, size=self.P, replace=False, p=self.p_writer)
        idx: list[np.ndarray] = []
        for w in chosen:
            g = self._gen[int(w)]
            idx.append(rng.choice(g, size=self.K, replace=len(g) < self.K))
        for w in chosen:
            f = self._forg[int(w)]
            if not len(f):
                f = self._group_neg.get(int(w), f)
            if len(f) and self.F:
                idx.append(rng.choice(f, size=min(self.F, len(f)), replace=False))
        if self.M:
            others = self.all_genuine[~np.isin(self.writers[self.all_genuine], chosen)]
            idx.append(rng.choice(others, size=min(self.M, len(others)), replace=False))
        return np.concatenate(idx).astype(np.int64)

    def __iter__(self) -> Iterator[np.ndarray]:
        for _ in range(self.batches):
            yield self.batch()
