"""Audit decisions: which detected signature answers which claim, and what the verdict is.

A claim says "signer S signed document D" (optionally "on page P"). Each detected signature is scored
against the claimed signer's enrolled references (:class:`sigpipe.verify.WriterModel`); claims and
signatures are paired greedily by score, so a document signed by two people gets each signature checked
against the signer it resembles most, and a claim left without a signature is ``no_signature``, unless a second
look finds it (:func:`second_look`); a claim decided forgery on a signature a rubber stamp may have cut short is
``inconclusive`` when the signature the detector finds whole once the stamps are painted is not decided forgery
(:func:`look_again`). A claim answered by a signature on a page the page orienter was not sure of
(it may lie turned, and a turned crop's score means nothing) is ``inconclusive`` whatever its score
(:func:`unsure_pages`).

Decisions, with ``t`` the signer's threshold (writer-dependent when enrolled with enough references, the
card's global one otherwise) and the card's inconclusive band ``(below, above)``:
``genuine`` if score >= t + above, ``forgery`` if score < t - below, ``inconclusive`` in between.
The card's band is fixed at the validation population's genuine spread; a signer with a writer-dependent
threshold more erratic than that population gets it widened by its own spread, as its threshold is
(:attr:`sigpipe.verify.WriterModel.scale`), and a consistent one keeps it (never narrower).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from sigpipe.verify import WriterModel, cosine, enroll

__all__ = ["DECISIONS", "RECUT_COVER", "RECUT_GROW", "SAME_BOX_IOU", "SECOND_LOOK_CONF", "STAMP_REGIONS",
           "STAMP_REGION_CONF", "Claim", "Verdict", "add_bands", "assign", "audit_document", "calibrate_bands",
           "decide", "extends", "forgeries_on_signatures", "inconclusive_band", "look_again", "second_look",
           "unsure_pages", "writer_model"]

DECISIONS = ("genuine", "forgery", "inconclusive", "no_signature", "unknown_signer")

# The weakest detector box a second look considers (:func:`second_look`). On real CEDAR signatures composed into
# documents (`bench/real_documents.py --documents 150 --seed 100|101|102`), 49 genuine claims were left without
# a signature at the card's confidence; the second look decided 14 of them genuine (4, 4, 6), and none of the 18
# forged claims left without one (every other decision stayed the same).
SECOND_LOOK_CONF = 0.05
# With a verifier whose card names a stamp remover, the second look also paints the stamps around the detector's
# boxes down to this confidence (at most STAMP_REGIONS of them, the most confident) and asks the detector again:
# a stamp over a signature can hide it. A box found then that overlaps one of the page's signatures (IoU over
# SAME_BOX_IOU) is that signature again. Measured in notes/verifier-experiments.md (sessions 23-25).
STAMP_REGION_CONF = 0.01
STAMP_REGIONS = 8
SAME_BOX_IOU = 0.5
# A claim decided forgery on one of the document's signatures is looked at again when a stamp may have cut that
# signature's box short (:func:`look_again`): the stamps around the signature are painted and the detector asked
# again, at the card's confidence; a box it finds then that holds RECUT_COVER of the signature's box and is
# RECUT_GROW times as wide or as tall is the same signature, whole. On `bench/real_documents.py --documents 150
# --seed 100|101|102`, the detector's box covered under 80% of the signature's width for 13 of the 42 genuine claims
# decided forgery, 11 of them on stamped pages (of the 173 decided genuine, 3), and on the painted page it found
# the whole signature for 5 of 10 of those stamped ones and more of it for 4 (notes/verifier-experiments.md,
# session 29).
RECUT_COVER = 0.8
RECUT_GROW = 1.15


@dataclass(frozen=True)
class Claim:
    signer_id: str
    page: int | None = None  # None: any page of the document


@dataclass(frozen=True)
class Verdict:
    claim: Claim
    decision: str
    signature: int | None = None  # index into the document's signatures
    score: float | None = None
    threshold: float | None = None
    threshold_kind: str | None = None  # writer | global
    best_ref: int | None = None  # index into the signer's references
    second_look: bool = False  # ``signature`` indexes the second look's boxes (:func:`second_look`, :func:`look_again`)
    page_unsure: bool = False  # inconclusive because the signature's page may lie turned (:func:`unsure_pages`)


def decide(score: float, threshold: float, band: tuple[float, float] = (0.0, 0.0)) -> str:
    """``genuine`` | ``forgery`` | ``inconclusive`` for one score (similarity, higher = more alike)."""
    below, above = band
    if score >= threshold + above:
        return "genuine"
    if score < threshold - below:
        return "forgery"
    return "inconclusive"


def inconclusive_band(scores: np.ndarray, labels: np.ndarray, threshold: float) -> tuple[float, float]:
    """Calibrate the band on validation pairs: ``below`` halves the FRR, ``above`` halves the FAR.

    Below ``t - below`` only half of the genuine pairs the threshold rejects remain rejected as forgeries;
    above ``t + above`` only half of the forgeries it accepts remain accepted. The rest are referred to a
    person. ``scores (N,)``, ``labels (N,)`` 1 = genuine pair.
    """
    scores, labels = np.asarray(scores, np.float64), np.asarray(labels).astype(bool)
    pos, neg = np.sort(scores[labels]), np.sort(scores[~labels])
    if len(pos) == 0 or len(neg) == 0:
        raise ValueError("inconclusive_band needs genuine and forged scores")
    frr_t = np.searchsorted(pos, threshold, side="left") / len(pos)
    far_t = 1.0 - np.searchsorted(neg, threshold, side="left") / len(neg)
    lo = float(np.quantile(pos, frr_t / 2)) if frr_t > 0 else threshold
    hi = float(np.quantile(neg, 1.0 - far_t / 2)) if far_t > 0 else threshold
    return max(0.0, threshold - lo), max(0.0, hi - threshold)


def writer_model(card: dict, signer: str, refs: np.ndarray) -> tuple[WriterModel, tuple[float, float]]:
    """Enrol ``refs (K, D)`` with the verifier card's writer-dependent calibration for K references (the
    nearest calibrated K) -> the writer model and its inconclusive band ``(below, above)``, the card's band
    scaled by the writer's spread (:attr:`sigpipe.verify.WriterModel.scale`)."""
    from sigpipe.verifier.evaluate import wd_settings

    wd = wd_settings(card.get("writer_dependent") or {}, len(refs))
    band = wd.get("inconclusive_band") or (0.0, 0.0)
    m = enroll(signer, refs, wd)
    return m, (float(band[0]) * m.scale, float(band[1]) * m.scale)


def assign(scores: np.ndarray, allowed: np.ndarray) -> list[int | None]:
    """Greedy one-to-one pairing of claims with signatures, best score first.

    ``scores (C, S)``, ``allowed (C, S) bool`` (e.g. the signature is on the claimed page) -> for each claim
    the index of its signature, or None when none is left.
    """
    c, s = scores.shape
    out: list[int | None] = [None] * c
    if c == 0 or s == 0:
        return out
    masked = np.where(allowed, scores, -np.inf)
    order = np.dstack(np.unravel_index(np.argsort(-masked, axis=None, kind="stable"), (c, s)))[0]
    used_c, used_s = set(), set()
    for i, j in order:
        if not np.isfinite(masked[i, j]):
            break
        if i in used_c or j in used_s:
            continue
        out[i] = int(j)
        used_c.add(i)
        used_s.add(j)
    return out


def audit_document(claims: Sequence[Claim], sig_pages: Sequence[int], sig_emb: np.ndarray,
                   writers: dict[str, tuple[WriterModel, tuple[float, float]]]) -> list[Verdict]:
    """Verdicts for one document's claims.

    ``sig_pages (S,)`` page of each detected signature, ``sig_emb (S, D)`` their embeddings, ``writers`` maps
    signer id -> (:class:`sigpipe.verify.WriterModel`, inconclusive band) (absent: ``unknown_signer``).
    """
    sig_pages = np.asarray(sig_pages)
    known = [k for k, cl in enumerate(claims) if cl.signer_id in writers]
    scores = np.full((len(claims), len(sig_pages)), -np.inf, np.float32)
    allowed = np.zeros_like(scores, bool)
    for k in known:
        cl = claims[k]
        if len(sig_pages):
            scores[k] = writers[cl.signer_id][0].score(sig_emb)
            allowed[k] = True if cl.page is None else sig_pages == cl.page
    pick = assign(scores, allowed)
    out = []
    for k, cl in enumerate(claims):
        if cl.signer_id not in writers:
            out.append(Verdict(cl, "unknown_signer"))
            continue
        j = pick[k]
        if j is None:
            out.append(Verdict(cl, "no_signature"))
            continue
        w, band = writers[cl.signer_id]
        best_ref = int(np.argmax(cosine(sig_emb[j : j + 1], w.refs)[0]))
        kind = "writer" if w.per_writer else "global"
        thr = float(w.threshold)
        out.append(Verdict(cl, decide(float(scores[k, j]), thr, band), j, float(scores[k, j]), thr, kind, best_ref))
    return out


def second_look(verdicts: Sequence[Verdict], box_pages: Sequence[int], box_emb: np.ndarray,
                writers: dict[str, tuple[WriterModel, tuple[float, float]]]) -> list[Verdict]:
    """A document's verdicts with each ``no_signature`` claim given a second look at weaker detector boxes.

    ``box_pages (B,)``, ``box_emb (B, D)``: the boxes the detector found on the document's pages under the card's
    confidence (down to :data:`SECOND_LOOK_CONF`). They are paired with the claims left without a signature as
    signatures are (:func:`assign`, on the claimed page), and a claim becomes ``genuine`` when its box is decided
    genuine against the claimed signer, band included; otherwise it stays ``no_signature``. A weak box is not
    evidence that a signature is there, so it never makes a claim ``forgery`` or ``inconclusive``: a box that
    is not the signer's may well be no signature at all (a stamp, a note), and the claim stays flagged as
    unsigned for a person to look at.
    """
    out = list(verdicts)
    todo = [k for k, vd in enumerate(verdicts) if vd.decision == "no_signature" and vd.claim.signer_id in writers]
    box_pages = np.asarray(box_pages)
    if not todo or len(box_pages) == 0:
        return out
    scores = np.full((len(verdicts), len(box_pages)), -np.inf, np.float32)
    allowed = np.zeros_like(scores, bool)
    for k in todo:
        cl = verdicts[k].claim
        scores[k] = writers[cl.signer_id][0].score(box_emb)
        allowed[k] = True if cl.page is None else box_pages == cl.page
    pick = assign(scores, allowed)
    for k in todo:
        j = pick[k]
        if j is None:
            continue
        cl = verdicts[k].claim
        w, band = writers[cl.signer_id]
        thr, score = float(w.threshold), float(scores[k, j])
        if decide(score, thr, band) == "genuine":
            best_ref = int(np.argmax(cosine(box_emb[j : j + 1], w.refs)[0]))
            out[k] = Verdict(cl, "genuine", j, score, thr, "writer" if w.per_writer else "global", best_ref,
                             second_look=True)
    return out


def calibrate_bands(card: dict, emb: np.ndarray, writers: np.ndarray, genuine: np.ndarray, seed: int = 0,
                    draws: int = 1, normalise: bool = False) -> dict[str, tuple[float, float]]:
    """Inconclusive bands for every calibrated K of the card's writer-dependent settings, on validation
    writers: ``emb (N, D)``, ``writers (N,)``, ``genuine (N,) bool``. Genuine queries against skilled
    forgeries, per-writer thresholds applied as in an audit (:func:`inconclusive_band`).

    ``draws``: pooled over that many fixed-seed choices of the references (``seed``, ``seed + 1``, ...); with
    ten or so validation writers one choice leaves the band noisy (on CEDAR 36-45 the K=5 ``above`` ranges
    0.04-0.20 over seeds 0-4). ``normalise``: each writer's scores rescaled to the population's spread
    (:func:`sigpipe.verify.writer_scores`), the units :func:`writer_model` scales back per signer. The
    defaults reproduce the committed card's bands (one draw, seed 0, not rescaled)."""
    from sigpipe.verifier.evaluate import wd_pairs, wd_settings

    out = {}
    for k in sorted((card.get("writer_dependent") or {}).get("by_references") or {}, key=int):
        wd = wd_settings(card["writer_dependent"], int(k))
        scores, labels = [], []
        for d in range(draws):
            pairs = wd_pairs(emb, writers, genuine, int(k), wd, seed=seed + d, per_writer=True, normalise=normalise)
            m = pairs.kinds != "random"
            scores.append(pairs.scores[m])
            labels.append(pairs.labels[m])
        out[k] = inconclusive_band(np.concatenate(scores), np.concatenate(labels), float(wd["threshold"]))
    return out


def add_bands(card: dict, emb: np.ndarray, writers: np.ndarray, genuine: np.ndarray, source: str) -> dict:
    """``card`` with :func:`calibrate_bands` written into each calibrated K of its writer-dependent settings
    (``inconclusive_band``) and how they were fixed (``inconclusive_band_how``, naming ``source``, the
    validation writers). A card without bands decides no signature inconclusive."""
    card = dict(card)
    wd = dict(card["writer_dependent"])
    by_k = {k: dict(v) for k, v in wd["by_references"].items()}
    for k, (below, above) in calibrate_bands(card, emb, writers, genuine).items():
        by_k[k]["inconclusive_band"] = [round(below, 4), round(above, 4)]
    wd["by_references"] = by_k
    wd["inconclusive_band_how"] = (
        f"sigpipe.audit.inconclusive_band per K on {source} (halves FRR below, skilled FAR above). An audit widens "
        "it for a signer with a writer-dependent threshold by max(1, sigma_w / sigma_pop) (sigpipe.audit.writer_model)")
    card["writer_dependent"] = wd
    return card


def unsure_pages(verdicts: Sequence[Verdict], sure: Sequence[bool | None]) -> list[Verdict]:
    """A document's verdicts with each claim answered by a signature on a page the page orienter was not sure of
    made ``inconclusive`` (``page_unsure``), its score and threshold kept: ``sure[j]`` is signature ``j``'s
    ``page_turn_sure`` (False: the page was left as it came, maybe turned; None: no orienter looked).

    A crop of a page scanned sideways reaches the verifier sideways, and its score says little either way: on
    ``bench/real_documents.py``'s documents turned by 90 degrees before the orienter (seed 100), 55 of 85 genuine
    documents were called forgery (16 upright), and CEDAR's forgeries turned by 90 degrees passed their writer's
    threshold five times as often as upright ones (15% against 3%). So neither ``genuine`` nor ``forgery`` is
    said of them: a person looks (:class:`sigpipe.orient.PageTurn` for how often the orienter is unsure)."""
    out = []
    for vd in verdicts:
        if (vd.signature is not None and not vd.second_look and sure[vd.signature] is False
                and vd.decision in ("genuine", "forgery")):
            vd = replace(vd, decision="inconclusive", page_unsure=True)
        out.append(vd)
    return out


def extends(box: Sequence[float], new: Sequence[float]) -> bool:
    """Whether the box ``new`` is ``box`` grown (both ``x0, y0, x1, y1``): it holds at least :data:`RECUT_COVER` of
    ``box``'s area and is at least :data:`RECUT_GROW` times as wide or as tall."""
    bw, bh = box[2] - box[0], box[3] - box[1]
    if bw <= 0 or bh <= 0:
        return False
    ix = max(0.0, min(box[2], new[2]) - max(box[0], new[0]))
    iy = max(0.0, min(box[3], new[3]) - max(box[1], new[1]))
    reaches = new[2] - new[0] >= RECUT_GROW * bw or new[3] - new[1] >= RECUT_GROW * bh
    return ix * iy >= RECUT_COVER * bw * bh and reaches


def forgeries_on_signatures(verdicts: Sequence[Verdict]) -> list[int]:
    """Indices of a document's verdicts :func:`look_again` may change: ``forgery``, on one of the document's
    signatures (not a second look's box)."""
    return [k for k, vd in enumerate(verdicts) if vd.decision == "forgery" and vd.signature is not None
            and not vd.second_look]


def look_again(verdicts: Sequence[Verdict], recut: dict[int, int], box_emb: np.ndarray,
               writers: dict[str, tuple[WriterModel, tuple[float, float]]]) -> list[Verdict]:
    """A document's verdicts with each claim ``k`` of ``recut`` (decided forgery: :func:`forgeries_on_signatures`)
    scored again on box ``recut[k]`` (a row of ``box_emb``: the boxes of the document's second look): the box the
    detector found once the stamps around the claim's signature were painted, which holds that signature's box and
    reaches further (:func:`extends`), the same signature whole. When that is not decided forgery (band included),
    the two views disagree and the claim becomes ``inconclusive``, for a person to look, with the whole box's score
    (``second_look``: the verdict rests on that box); otherwise it stays as it was. Never ``genuine``: half a
    signature that looks forged is reason enough to look, and a good forgery cut short scores lower, not higher, than
    the whole of it (on the demo's seed 23 one taken as decided would have cleared a forged cheque)."""
    out = list(verdicts)
    for k, j in recut.items():
        cl = verdicts[k].claim
        w, band = writers[cl.signer_id]
        thr, score = float(w.threshold), float(w.score(box_emb[j : j + 1])[0])
        if decide(score, thr, band) == "forgery":
            continue
        best_ref = int(np.argmax(cosine(box_emb[j : j + 1], w.refs)[0]))
        out[k] = Verdict(cl, "inconclusive", j, score, thr, "writer" if w.per_writer else "global", best_ref,
                         second_look=True)
    return out
