"""Writer-dependent thresholds fixed on what an audit scores: crops cut from documents against enrolled scans.

Training calibrates a verifier on clean scan-against-scan pairs of its validation writers. An audit scores a
crop the detect flow cut from a scanned page (stamps, printed text, a box that stops short) against references
enrolled from clean scans, and on composed real documents that moves both the genuine and the forged scores
(notes/verifier-experiments.md, session 19). :func:`recalibrate` keeps the network and its writer-independent
threshold and fixes again, for every number of references K the card calibrates, the global writer-dependent
threshold, the per-writer ``z`` and the inconclusive band, with the same rules (:func:`sigpipe.verify.calibrate_rows`,
:func:`sigpipe.audit.inconclusive_band`), on a ``sigpipe train verifier-pairs`` file of writers the verifier never
trained on: each writer's references are K of its scans cleaned alone, its queries the crops of its other genuine
scans and of its skilled forgeries.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sigpipe import verify

__all__ = ["cedar_scan", "document_rows", "recalibrate"]

_CEDAR = re.compile(r"(original|forgeries)_(\d+)_(\d+)\.\w+$")


def cedar_scan(scan: str) -> tuple[str, bool]:
    """A CEDAR scan path (``full_org/original_W_N.png``, ``full_forg/forgeries_W_N.png``) -> ``(writer, genuine)``;
    a clear error for any other name."""
    m = _CEDAR.search(str(scan))
    if m is None:
        raise ValueError(f"{scan!r} is not a CEDAR scan name (original_W_N.* or forgeries_W_N.*)")
    return m.group(2), m.group(1) == "original"


def document_rows(crop_emb: np.ndarray, crop_scans: Sequence[str], scan_emb: np.ndarray, scans: Sequence[str],
                  references: int, seed: int = 0) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    """Rows for :func:`sigpipe.verify.calibrate_rows`: per writer, ``references`` of its genuine scans drawn with
    ``seed`` (``scan_emb (S, D)``, the scans cleaned alone, ``scans (S,)`` their names, each once) as references,
    the document crops (``crop_emb (N, D)``, ``crop_scans (N,)`` the scan each was cut from) of its other genuine
    scans as genuine queries and of its forgeries as skilled ones. Writers with too few scans or no crop of either
    kind are left out."""
    rng = np.random.default_rng(seed)
    crop_scans = np.asarray([str(s) for s in crop_scans])
    scans = np.asarray([str(s) for s in scans])
    if len(set(scans)) != len(scans):
        raise ValueError("scans must be distinct")
    if len(scans) == 0 or len(crop_scans) == 0:
        return []
    sw = np.asarray([cedar_scan(s)[0] for s in scans])
    sg = np.asarray([cedar_scan(s)[1] for s in scans], bool)
    cw = np.asarray([cedar_scan(s)[0] for s in crop_scans])
    cg = np.asarray([cedar_scan(s)[1] for s in crop_scans], bool)
    rows = []
    for w in sorted(set(sw[sg]), key=lambda x: (len(x), x)):
        g = rng.permutation(np.flatnonzero((sw == w) & sg))
        if len(g) <= references:
            continue
        enrolled = np.isin(crop_scans, scans[g[:references]])
        pos = np.flatnonzero((cw == w) & cg & ~enrolled)
        neg = np.flatnonzero((cw == w) & ~cg)
        if len(pos) and len(neg):
            rows.append((str(w), scan_emb[g[:references]], crop_emb[pos], crop_emb[neg]))
    return rows


def _training_cedar_writers(card: dict[str, Any]) -> set[str]:
    """CEDAR writers in the card's training data (an ensemble's and a distilled student's cards name theirs)."""
    from sigpipe.verifier.sampler import parse_writers

    out: set[str] = set()
    for s in (card.get("training") or {}).get("data") or []:
        if isinstance(s, dict) and "cedar" in str(s.get("root", "")).lower() and s.get("writers"):
            out |= parse_writers(str(s["writers"])) or set()
    return out


def recalibrate(source: str | Path, pairs: str | Path, out: str | Path, draws: int = 5, version: str | None = None,
                command: str = "", log: Callable[[str], None] = print) -> dict[str, Any]:
    """``source``'s weights into ``out`` with its writer-dependent settings fixed again on the document crops of
    ``pairs`` (see the module): per K, the references drawn ``draws`` times (seeds 0, 1, ...) and pooled. The
    writer-independent threshold and the network stay; the card records what it was calibrated on, the source's
    settings and the command. ``version``: default the source's with ``.1`` added (other thresholds, so not the
    source's version). Refuses pairs of writers the source trained on."""
    from sigpipe.audit import inconclusive_band
    from sigpipe.verifier.doc_pairs import load_pairs
    from sigpipe.verifier.infer import Verifier
    from sigpipe.verifier.train import _write_readme
    from sigpipe.weights import load_card, sha256_file, write_card

    source, pairs, out = Path(source), Path(pairs), Path(out)
    if draws < 1:
        raise ValueError(f"--draws {draws}: at least 1")
    if out.resolve() == source.resolve():
        raise ValueError(f"--out {out} is the source: write the recalibrated verifier to another folder")
    src = dict(load_card(source).data)
    wd = src.get("writer_dependent") or {}
    if not wd.get("by_references"):
        raise ValueError(f"{source}: the card has no writer-dependent settings to recalibrate")
    v = Verifier.load(source)
    crops, targets, crop_scans = load_pairs(pairs, v.clean_kwargs["size"])
    try:
        writers = {cedar_scan(s)[0] for s in crop_scans}
    except ValueError as e:
        raise ValueError(f"--pairs {pairs}: {e}") from e
    seen = writers & _training_cedar_writers(src)
    if seen:
        raise ValueError(f"--pairs {pairs}: writers {sorted(seen, key=int)} are among {source}'s training writers; "
                         "calibrate on writers it never trained on")
    names, first = np.unique(crop_scans, return_index=True)
    log(f"embedding {len(crops)} document crops and {len(first)} scans of {len(writers)} writers")
    crop_emb, scan_emb = v.embed_clean(crops), v.embed_clean(targets[first])

    by_k: dict[str, Any] = {}
    for k, old in sorted(wd["by_references"].items(), key=lambda kv: int(kv[0])):
        agg = old.get("aggregation", wd.get("aggregation", "mean"))
        rows = [r for d in range(draws) for r in document_rows(crop_emb, crop_scans, scan_emb, names, int(k), seed=d)]
        if not rows:
            log(f"K={k}: no writer has more than {k} scans with crops of both kinds; left as it was")
            by_k[k] = old
            continue
        new = verify.calibrate_rows(rows, int(k), agg)
        if old.get("per_writer") and new.get("per_writer"):
            new["per_writer"]["min_references"] = old["per_writer"].get("min_references", 5)
        else:
            new.pop("per_writer", None)
        new["threshold_method"] = "EER point (genuine vs skilled document crops against enrolled scans)"
        settings = {"aggregation": agg, "threshold": new["threshold"], **({"per_writer": new["per_writer"]}
                                                                         if "per_writer" in new else {})}
        scores, labels, t = [], [], new["threshold"]
        for w, refs, q_pos, q_neg in rows:
            m = verify.enroll(w, refs, settings)
            scores += [verify.writer_scores(m, q_pos, t), verify.writer_scores(m, q_neg, t)]
            labels += [np.ones(len(q_pos), bool), np.zeros(len(q_neg), bool)]
        below, above = inconclusive_band(np.concatenate(scores), np.concatenate(labels), t)
        new["inconclusive_band"] = [round(below, 4), round(above, 4)]
        new["queries"] = {"genuine": int(sum(len(r[2]) for r in rows)), "skilled": int(sum(len(r[3]) for r in rows)),
                          "writers": len({r[0] for r in rows})}
        by_k[k] = new
        log(f"K={k}: threshold {old['threshold']:.4f} -> {new['threshold']:.4f}, z "
            f"{(old.get('per_writer') or {}).get('z')} -> {(new.get('per_writer') or {}).get('z')}, band "
            f"{old.get('inconclusive_band')} -> {new['inconclusive_band']}")

    out.mkdir(parents=True, exist_ok=True)
    if not (out / src["weights"]).is_file() or sha256_file(out / src["weights"]) != src["sha256"]:
        shutil.copyfile(source / src["weights"], out / src["weights"])
    card = dict(src)
    card["version"] = version or f"{src['version']}.1"
    card["writer_dependent"] = {
        **wd, "by_references": by_k,
        "how": "per K: the global writer-dependent threshold at the EER point and z minimising HTER, on document "
               "crops (sigpipe.verifier.recalibrate) of writers the network never trained on; the rules are "
               "training's (sigpipe.verify.calibrate_rows)",
        "inconclusive_band_how": "sigpipe.audit.inconclusive_band per K on the same document crops (halves FRR below, "
                                 "skilled FAR above); an audit widens it per signer by max(1, sigma_w / sigma_pop)"}
    card["recalibrated"] = {
        "from": {"folder": str(source), "name": src["name"], "version": src["version"], "sha256": src["sha256"]},
        "pairs": {"file": str(pairs), "sha256": sha256_file(pairs), "crops": int(len(crops)), "scans": int(len(first)),
                  "writers": sorted(writers, key=lambda x: (len(x), x))},
        "draws": draws, "source_writer_dependent": wd.get("by_references"), "command": command}
    # figures measured with the source's writer-dependent settings no longer describe this card
    card["metrics"] = {k: m for k, m in (src.get("metrics") or {}).items() if "writer_dependent" not in k}
    card = dict(write_card(out, card).data)
    _write_readme(out, card)
    return card
