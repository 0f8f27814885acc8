"""Training data cut by the flows themselves: documents of the verifier's training writers, the crops the detect
flow cuts from them, and the scans they came from (:mod:`sigpipe.verifier.doc_pairs`)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
from prefect import task

import storage
from sigpipe import pdf
from sigpipe.clean import load_image
from sigpipe.synth.real import compose
from sigpipe.verifier.doc_pairs import PairsConfig, match, save
from sigpipe.weights import load_card
from tasks import models
from tasks.verify import _clean

__all__ = ["compose_real_documents", "cut_pairs"]


@task(name="compose-real-documents")
def compose_real_documents(cfg: PairsConfig, seed: int, out: str) -> dict[str, Any]:
    """Documents of CEDAR writers ``cfg.writers`` (composed once: a rerun finds them)."""
    done = Path(out) / "scans.csv"
    if done.is_file():
        return {"seed": seed, "composed": False}
    summary = compose(Path(cfg.cedar), Path(out), cfg.writer_numbers(), cfg.documents, seed, 0, cfg.forged_fraction,
                      cycle=cfg.scans_per_writer)
    return {"seed": seed, "composed": True, "signatures": summary["signatures"], **summary["scans_used"]}


@task(name="cut-pairs")
def cut_pairs(cfg: PairsConfig, roots: list[str], detector: str) -> dict[str, Any]:
    """Each lake's crops by ``detector`` (a lake may hold another detector version's too) matched to their scans,
    cleaned as the audit cleans them; the scans cleaned alone."""
    v, _ = models.verifier(cfg.verifier)
    dcard = load_card(detector)
    crops, scans, n_truth, n_det = [], [], 0, 0
    for root in map(Path, roots):
        with open(root / "data" / "truth.csv", newline="") as f:
            truth = list(csv.DictReader(f))
        with open(root / "data" / "scans.csv", newline="") as f:
            placed = [r["scan"] for r in csv.DictReader(f)]
        con = storage.connect(root / "lake")
        try:
            dets = storage.query(con, "SELECT d.file_name, s.page, s.x0, s.y0, s.x1, s.y1, s.crop_path, s.dpi FROM "
                                      "signatures "
                                      "s JOIN documents d USING (doc_id) WHERE s.detector_name = $name AND "
                                      "s.detector_version = $version ORDER BY s.sig_id",
                                 {"name": dcard["name"], "version": str(dcard["version"])}).to_pylist()
        finally:
            con.close()
        found = match(truth, placed, dets, cfg.min_cover)
        n_truth, n_det = n_truth + len(truth), n_det + len(dets)
        for k in range(0, len(found), 256):
            part = found[k : k + 256]
            crops.append(_clean(v, [pdf.decode_page(root / "lake" / dets[i]["crop_path"]) for i, _ in part],
                                [int(dets[i]["dpi"]) for i, _ in part]))
        scans += [s for _, s in found]
    if not scans:
        raise ValueError("no detection matched a placed signature")
    files = sorted(set(scans))
    alone = v.clean([load_image(Path(cfg.cedar) / s) for s in files], workers=2)
    at = {s: i for i, s in enumerate(files)}
    save(Path(cfg.out), np.concatenate(crops), alone[[at[s] for s in scans]], scans)
    return {"out": cfg.out, "pairs": len(scans), "scans": len(files), "signatures_placed": n_truth,
            "detections": n_det, "detections_unmatched": n_det - len(scans)}
