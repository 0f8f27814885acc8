"""Evidence for a verdict a person will review: images side by side, a map of agreement, an HTML report.

The agreement map overlays the cleaned query (red) on the cleaned reference (blue) after aligning them (the scale
and shift under which the most ink agrees): strokes in both show dark, strokes in only one show in that one's
colour. The weight map shows what the verifier weighed: the cleaned query's ink coloured by how its score moves
when each part is erased (:mod:`sigpipe.verifier.explain`).
"""

from __future__ import annotations

import base64
import html
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["EvidenceItem", "agreement_map", "align", "evidence_png", "html_report", "ink_agreement", "weight_map"]

_TILE_H = 220  # px per row of the evidence sheet
_BG = (255, 255, 255)


def _fit(img: np.ndarray, h: int, max_w: int) -> np.ndarray:
    """Any ``(H, W)`` or ``(H, W, 3)`` uint8 -> BGR scaled to height ``h`` (width capped at ``max_w``)."""
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    s = min(h / img.shape[0], max_w / img.shape[1])
    out = cv2.resize(img, (max(1, round(img.shape[1] * s)), max(1, round(img.shape[0] * s))),
                     interpolation=cv2.INTER_AREA)
    canvas = np.full((h, max_w, 3), 255, np.uint8)
    y, x = (h - out.shape[0]) // 2, (max_w - out.shape[1]) // 2
    canvas[y:y + out.shape[0], x:x + out.shape[1]] = out
    return canvas


_TOLERANCE = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))  # ink within 2 px of the other's agrees


def ink_agreement(q: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
    """Ink masks of ``q`` and ``r`` (> 64), the ink of each within 2 px of the other's, and the share of both
    crops' ink that is: ``(qi, ri, q_ok, r_ok, share)``."""
    qi, ri = q > 64, r > 64
    near_q, near_r = (cv2.dilate(m.astype(np.uint8), _TOLERANCE) > 0 for m in (qi, ri))
    q_ok, r_ok = qi & near_r, ri & near_q
    n = int(qi.sum()) + int(ri.sum())
    return qi, ri, q_ok, r_ok, (float(q_ok.sum() + r_ok.sum()) / n if n else 0.0)


def _spectrum(a: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``a (h, w) float32`` zero padded to ``size`` -> its DFT, packed (cv2's CCS layout: ~5x faster here than
    the complex layout or numpy's rfft2)."""
    return cv2.dft(cv2.copyMakeBorder(a, 0, size[0] - a.shape[0], 0, size[1] - a.shape[1], cv2.BORDER_CONSTANT,
                                      value=0))


def _best_shift(q: np.ndarray, r_spectrum: np.ndarray) -> tuple[int, int]:
    """The whole-pixel shift ``(dx, dy)`` that moves ``q (h, w) float32`` onto the crop whose :func:`_spectrum`
    is ``r_spectrum`` (padded to at least twice the size, so nothing wraps around) with the largest plain
    cross-correlation. Not phase correlation: that whitens the spectrum, and thin strokes' whitened correlation
    often peaks at one stroke laid on its neighbour (on CEDAR writers 36-45, ``bench/agreement.py``, that shift did
    little better than not moving at all)."""
    (h, w), (hh, ww) = q.shape, r_spectrum.shape[:2]
    c = cv2.idft(cv2.mulSpectrums(r_spectrum, _spectrum(q, (hh, ww)), 0, conjB=True),
                 flags=cv2.DFT_SCALE | cv2.DFT_REAL_OUTPUT)
    y, x = np.unravel_index(int(np.argmax(c)), c.shape)
    return (int(x) if x < w else int(x) - ww), (int(y) if y < h else int(y) - hh)


def align(query_clean: np.ndarray, ref_clean: np.ndarray, sigma: float = 2.0,
          scales: Sequence[float] = (0.9, 1.0, 1.1)) -> np.ndarray:
    """``query_clean`` moved onto ``ref_clean`` (both ``(h, w) uint8``, ink high) -> ``(h, w) float32``: for each
    of ``scales`` (about the centre: each cleaned crop is fitted to its own ink, so one may come back larger) the
    shift that best correlates the two crops' ink blurred by ``sigma`` px; of those and not moving at all, the one
    under which the most ink agrees (:func:`ink_agreement`)."""
    h, w = query_clean.shape
    q = query_clean.astype(np.float32)
    size = (cv2.getOptimalDFTSize(2 * h), cv2.getOptimalDFTSize(2 * w))
    rs = _spectrum(cv2.GaussianBlur(ref_clean.astype(np.float32), (0, 0), sigma), size)
    found = [q]
    for s in scales:
        qs = q if s == 1 else cv2.warpAffine(q, cv2.getRotationMatrix2D((w / 2, h / 2), 0, s), (w, h),
                                             flags=cv2.INTER_LINEAR)
        dx, dy = _best_shift(cv2.GaussianBlur(qs, (0, 0), sigma), rs)
        found.append(cv2.warpAffine(qs, np.float32([[1, 0, dx], [0, 1, dy]]), (w, h), flags=cv2.INTER_LINEAR))
    return max(found, key=lambda a: ink_agreement(a, ref_clean)[4])


def agreement_map(query_clean: np.ndarray, ref_clean: np.ndarray) -> tuple[np.ndarray, float]:
    """Two cleaned crops ``(h, w) uint8`` (ink high, background 0) -> ``(h, w, 3)`` BGR map and the agreement.

    The query is aligned onto the reference (:func:`align`); ink within 2 px of the other crop's ink agrees (dark),
    the rest shows in its own crop's colour. The agreement is the share of both crops' ink that agrees (0..1).
    """
    qi, ri, q_ok, r_ok, share = ink_agreement(align(query_clean, ref_clean), ref_clean)
    out = np.full((*qi.shape, 3), 255, np.uint8)
    out[qi & ~q_ok] = (40, 40, 230)  # only in the questioned signature: red
    out[ri & ~r_ok] = (230, 120, 30)  # only in the reference: blue
    out[q_ok | r_ok] = (30, 30, 30)  # in both, within 2 px: dark
    return out, share


def weight_map(query_clean: np.ndarray, delta: np.ndarray, box: tuple[int, int, int, int] | None = None,
               floor: float = 0.05) -> np.ndarray:
    """The cleaned query ``(h, w) uint8`` (ink high) drawn with each ink pixel coloured by ``delta (h, w)``, the
    score change when its part is erased (:func:`sigpipe.verifier.explain.occlusion`): red where erasing raises the
    score (the part pulls the query away from the signer), green where it lowers it (the part matches); saturated
    at max(|delta|, ``floor``), so a map of tiny changes stays grey. ``box`` (x0, y0, x1, y1): outlined in red
    -> ``(h, w, 3)`` BGR."""
    q = query_clean.astype(np.float32)
    ink = q[q > 0]
    # (h, w, 1) ink coverage, full at the pen's usual level: a light pen's strokes show their colour too
    g = np.clip(q / max(float(np.percentile(ink, 90)) if ink.size else 255.0, 1.0), 0.0, 1.0)[..., None]
    t = np.clip(delta / max(float(np.abs(delta).max()), floor), -1.0, 1.0)[..., None]  # (h, w, 1) in [-1, 1]
    grey, red, green = (np.array(c, np.float32) for c in ((70, 70, 70), (30, 30, 220), (40, 160, 40)))
    colour = grey + np.clip(t, 0, None) * (red - grey) + np.clip(-t, 0, None) * (green - grey)  # (h, w, 3)
    out = (255.0 * (1 - g) + colour * g).astype(np.uint8)
    if box is not None:
        x0, y0, x1, y1 = (int(v) for v in box)
        cv2.rectangle(out, (x0, y0), (x1 - 1, y1 - 1), (30, 30, 220), 1)
    return out


def evidence_png(query: np.ndarray, reference: np.ndarray | None, query_clean: np.ndarray,
                 ref_clean: np.ndarray | None, title: str, lines: Sequence[str],
                 weights: np.ndarray | None = None) -> bytes:
    """A review sheet as PNG bytes: row 1 the crops as scanned and the facts; row 2 the cleaned crops, the
    agreement map and, with ``weights`` (a :func:`weight_map`), what moved the verifier's score."""
    w = 420
    top = [_fit(query, _TILE_H, w), _fit(reference, _TILE_H, w) if reference is not None else _blank(w, "no reference")]
    if ref_clean is not None:
        amap, overlap = agreement_map(query_clean, ref_clean)
        bottom = [_fit(255 - query_clean, _TILE_H, w), _fit(255 - ref_clean, _TILE_H, w), _fit(amap, _TILE_H, w)]
        lines = [*lines, f"ink agreement after alignment: {overlap:.2f} of the ink within 2 px of the other's (red: "
                         "only questioned, blue: only reference)"]
    else:
        bottom = [_fit(255 - query_clean, _TILE_H, w), _blank(w, ""), _blank(w, "")]
    bottom.append(_fit(weights, _TILE_H, w) if weights is not None else _blank(w, ""))
    top.append(_text_panel(2 * w, lines))
    labels = ["questioned (as scanned)", "best reference (as scanned)", "", "questioned (cleaned)",
              "reference (cleaned)", "agreement map", "what moved the score" if weights is not None else ""]
    tiles = top + bottom
    for t, lab in zip(tiles, labels, strict=True):
        if lab:
            cv2.putText(t, lab, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (90, 90, 90), 1, cv2.LINE_AA)
    sheet = np.vstack([np.hstack(tiles[:3]), np.hstack(tiles[3:])])
    head = np.full((36, sheet.shape[1], 3), 255, np.uint8)
    cv2.putText(head, title, (8, 25), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 0, 0), 2, cv2.LINE_AA)
    ok, buf = cv2.imencode(".png", np.vstack([head, sheet]))
    if not ok:
        raise ValueError("cannot encode the evidence sheet")
    return buf.tobytes()


def _blank(w: int, text: str) -> np.ndarray:
    t = np.full((_TILE_H, w, 3), 245, np.uint8)
    if text:
        cv2.putText(t, text, (10, _TILE_H // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (120, 120, 120), 1, cv2.LINE_AA)
    return t


def _text_panel(w: int, lines: Sequence[str]) -> np.ndarray:
    t = np.full((_TILE_H, w, 3), 255, np.uint8)
    y = 22
    for line in lines:
        for chunk in textwrap.wrap(line, max(20, w // 8)) or [""]:
            cv2.putText(t, chunk, (8, y), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (20, 20, 20), 1, cv2.LINE_AA)
            y += 18
    return t


@dataclass(frozen=True)
class EvidenceItem:
    document: str
    page: int | None
    claimed_signer: str
    decision: str
    score: float | None
    threshold: float | None
    evidence_href: str | None  # relative to the report's folder
    thumbnail_png: bytes | None  # the questioned crop, small
    note: str | None = None  # shown under the decision (e.g. how the signature was found)


_ORDER = {"forgery": 0, "inconclusive": 1, "no_signature": 2, "unknown_signer": 3, "genuine": 4}


def html_report(run_id: str, items: Sequence[EvidenceItem], generated_at: str, made_by: str | None = None) -> str:
    """One self-contained HTML page (thumbnails inlined, sheets linked), flagged verdicts first; ``made_by``, a line
    under the counts naming what decided them (models, their arithmetic, the code's version)."""
    counts: dict[str, int] = {}
    for it in items:
        counts[it.decision] = counts.get(it.decision, 0) + 1
    rows = []
    for it in sorted(items, key=lambda i: (_ORDER.get(i.decision, 9), i.document, i.page or 0)):
        thumb = (f'<img alt="signature" src="data:image/png;base64,{base64.b64encode(it.thumbnail_png).decode()}">'
                 if it.thumbnail_png else "")
        link = f'<a href="{html.escape(it.evidence_href)}">evidence</a>' if it.evidence_href else ""
        score = "" if it.score is None else f"{it.score:.3f}"
        thr = "" if it.threshold is None else f"{it.threshold:.3f}"
        note = f'<br><small>{html.escape(it.note)}</small>' if it.note else ""
        rows.append(f'<tr class="{it.decision}"><td>{html.escape(it.decision)}{note}</td><td>{html.escape(it.document)}'
                    f'</td><td>{it.page or ""}</td><td>{html.escape(it.claimed_signer)}</td><td>{score}</td>'
                    f"<td>{thr}</td><td>{thumb}</td><td>{link}</td></tr>")
    ordered = sorted(counts.items(), key=lambda kv: _ORDER.get(kv[0], 9))
    summary = " · ".join(f"{html.escape(k)}: {v}" for k, v in ordered)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>sigpipe audit {html.escape(run_id)}</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; color: #222; }}
table {{ border-collapse: collapse; width: 100%; }}
td, th {{ border-bottom: 1px solid #ddd; padding: 4px 8px; text-align: left; vertical-align: middle; }}
tr.forgery td:first-child {{ color: #b00; font-weight: bold; }}
tr.inconclusive td:first-child {{ color: #b60; font-weight: bold; }}
tr.genuine td:first-child {{ color: #070; }}
img {{ max-height: 60px; max-width: 240px; }}
</style></head><body>
<h1>Audit run {html.escape(run_id)}</h1>
<p>Generated {html.escape(generated_at)}. {summary}</p>{f"{chr(10)}<p>{html.escape(made_by)}</p>" if made_by else ""}
<table><thead><tr><th>decision</th><th>document</th><th>page</th><th>claimed signer</th><th>score</th>
<th>threshold</th><th>questioned signature</th><th></th></tr></thead><tbody>
{chr(10).join(rows)}
</tbody></table></body></html>
"""
