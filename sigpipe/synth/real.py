"""Scanned documents carrying real signatures: ``sigpipe synth``'s layouts with CEDAR scans in place of the
synthetic signers' strokes.

The layouts (cheques, letters, contracts, forms, with rules, stamps, notes and the scan's noise and skew) are
:func:`sigpipe.synth.generate`'s; every signature drawn on them is a real scan: a genuine one of the claimed
writer, or one of CEDAR's skilled forgeries of that writer. ``bench/real_documents.py`` composes documents of
writers the verifier never trained on to measure the audit; :mod:`sigpipe.verifier.doc_pairs` composes them of
its training writers to teach it signatures as the flow cuts them from documents.

Needs a CEDAR folder (``full_org/original_W_N.*``, ``full_forg/forgeries_W_N.*``), which is not part of the
product.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from sigpipe.clean import ink_mask, load_image, to_grey
from sigpipe.synth import dataset, documents
from sigpipe.synth.signers import Signature

__all__ = ["SCAN_DPI", "ink_alpha", "RealSignatures", "compose"]

SCAN_DPI = 300  # CEDAR's scans


def ink_alpha(path: Path, dpi: int) -> tuple[np.ndarray, int]:
    """A CEDAR scan -> (ink coverage ``(h, w) float32`` in [0, 1] tight around the ink at ``dpi``, its ink grey
    on white paper). The paper's grey (CEDAR's differs between genuine and forged scans) is normalised away."""
    grey = to_grey(load_image(path)).astype(np.float32)
    ink = ink_mask(grey.astype(np.uint8))
    paper = float(np.median(grey[~ink]))
    g = np.clip(grey * (255.0 / paper), 0, 255)  # paper -> white
    dark = float(np.percentile(g[ink], 10))
    a = np.clip((255.0 - g) / max(1.0, 255.0 - dark), 0, 1)
    a[~cv2.dilate(ink.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)] = 0  # paper noise off the ink
    ys, xs = np.nonzero(a > 0)
    a = np.pad(a[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1], 2)
    f = dpi / SCAN_DPI
    a = cv2.resize(a, (max(1, round(a.shape[1] * f)), max(1, round(a.shape[0] * f))), interpolation=cv2.INTER_AREA)
    return a.astype(np.float32), int(round(dark))


class RealSignatures:
    """Stands in for ``sample_signature`` while documents are composed: synthetic signer ``S000k`` is CEDAR
    writer ``writers[k-1]``; a genuine draw takes that writer's next unused genuine scan (after the first
    ``references``, which are enrolled), a forgery its next unused CEDAR forgery. With ``cycle``, a writer whose
    scans are all used starts again from the first (for training: each scan on several pages)."""

    def __init__(self, cedar: Path, writers: Sequence[int], references: int, cycle: int | None = None):
        self.cedar, self.writers, self.references, self.cycle = Path(cedar), list(writers), references, cycle
        self.next: Counter[tuple[int, bool]] = Counter()
        self.drawn: list[tuple[str, bool, str]] = []  # (claimed signer, genuine, scan file) in the order drawn

    def __call__(self, signer, rng, *, dpi=200, forger=None) -> Signature:  # noqa: ANN001 - sample_signature's
        w = self.writers[int(signer.signer_id[1:]) - 1]
        genuine = forger is None
        k = self.next[(w, genuine)]
        self.next[(w, genuine)] += 1
        if self.cycle:
            k %= self.cycle - (self.references if genuine else 0)
        n = 1 + self.references + k if genuine else 1 + k  # genuine 1..references are enrolled
        name = f"original_{w}_{n}.jpg" if genuine else f"forgeries_{w}_{n}.jpg"
        path = self.cedar / ("full_org" if genuine else "full_forg") / name
        if not path.exists():
            raise RuntimeError(f"writer {w} has no {'genuine' if genuine else 'forged'} scan left ({path.name})")
        self.drawn.append((signer.signer_id, genuine, str(path.relative_to(self.cedar))))
        a, ink = ink_alpha(path, dpi)
        return Signature(alpha=a, ink=ink, keypoints=np.zeros((0, 2)), writer_id=signer.signer_id if genuine
                         else "forger", claimed_id=signer.signer_id, genuine=genuine)


def compose(cedar: Path, out: Path, writers: Sequence[int], n_docs: int, seed: int, references: int,
            forged_fraction: float, cycle: int | None = None, stamp_ink: float = 1.0) -> dict[str, Any]:
    """Write inbox/, manifest.csv, truth.csv (``sigpipe synth``'s layout), scans.csv (the scan of each truth row)
    and references/<signer>/*.jpg (each writer's first ``references`` genuine scans). ``stamp_ink`` 0: the same
    documents with no stamp drawn (:func:`sigpipe.synth.dataset.generate`)."""
    sampler = RealSignatures(cedar, writers, references, cycle)
    synthetic = documents.sample_signature
    documents.sample_signature = sampler  # the layouts draw every signature through this name
    try:
        summary = dataset.generate(out, signers=len(sampler.writers), documents=n_docs, seed=seed,
                                   forged_fraction=forged_fraction, references_per_signer=0, genuine_per_signer=0,
                                   forged_per_signer=0, overwrite=True, stamp_ink=stamp_ink)
    finally:
        documents.sample_signature = synthetic
    for k, w in enumerate(sampler.writers, start=1):
        folder = out / "references" / f"S{k:04d}"
        folder.mkdir(parents=True, exist_ok=True)
        for n in range(1, references + 1):
            (folder / f"original_{w}_{n}.jpg").write_bytes((Path(cedar) / "full_org" / f"original_{w}_{n}.jpg")
                                                            .read_bytes())
    summary["scans_used"] = dict(genuine=sum(v for (_, g), v in sampler.next.items() if g),
                                 forged=sum(v for (_, g), v in sampler.next.items() if not g))
    # which scan is each truth row: the layouts place every signature they draw, in truth.csv's order
    with open(out / "truth.csv", newline="") as f:
        truth = list(csv.DictReader(f))
    if [(r["claimed_signer_id"], r["genuine"].lower() == "true") for r in truth] != [d[:2] for d in sampler.drawn]:
        raise RuntimeError("truth.csv does not list the signatures in the order they were drawn")
    with open(out / "scans.csv", "w", newline="") as f:
        wr = csv.writer(f)
        wr.writerow(["document", "page", "claimed_signer_id", "genuine", "scan"])
        wr.writerows([r["document"], r["page"], r["claimed_signer_id"], r["genuine"], d[2]]
                     for r, d in zip(truth, sampler.drawn, strict=True))
    return summary
