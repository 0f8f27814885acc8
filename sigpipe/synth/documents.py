"""Synthetic scanned documents: cheques, letters, contracts and forms with signatures, notes and stamps.

A page is laid out at its physical size (A4, or a 10 x 4.5 inch cheque) at ``dpi``: printed text with
OpenCV's Hershey fonts, ruled lines, tables, a logo, sometimes a stamp and a handwritten note (a hard
negative for the detector), and 0-3 signatures on their lines. Then it is "scanned": brightness/contrast,
a small skew, blur, noise and JPEG artefacts. Signature boxes are measured on the ink actually placed,
warped with the same skew, so they stay tight.

All randomness comes from the ``numpy.random.Generator`` passed in (OpenCV's own RNG is reseeded from it),
so the same generator state gives byte-identical pages.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from sigpipe.synth.signers import Forger, Signature, SignerStyle, handwritten_note, sample_signature

__all__ = [
    "PAGE_KINDS",
    "PlacedSignature",
    "ComposedPage",
    "page_size",
    "compose_page",
    "make_page",
    "scan",
]

PAGE_KINDS = ("cheque", "letter", "contract", "form")
_A4_MM = (210.0, 297.0)
_CHEQUE_IN = (10.0, 4.5)  # wide single page: 2000 x 900 at 200 dpi
# Ink coverage above which a warped signature pixel counts as ink for its box.
_BOX_ALPHA = 0.2

_SYLLABLES = ("lo rem ip sum do lor sit a met con sec te tur ad pi sci el it sed ei us mod tem por in ci dunt ut la "
              "bo re et ma gna al iqu en im ve ni am quis nos tru ex er ta ti on ul lam co la bo ris ni si re pre "
              "hen de vo lup tas ve lit es se cil um fu gi at nul pa ri a tur ex cep teur sint oc ca e cat").split()
_FONTS = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX, cv2.FONT_HERSHEY_TRIPLEX)
_TITLES = {
    "contract": ("SERVICE AGREEMENT", "LEASE AGREEMENT", "SALES CONTRACT", "EMPLOYMENT CONTRACT",
                 "NON-DISCLOSURE AGREEMENT", "LOAN AGREEMENT", "CONSULTING AGREEMENT"),
    "form": ("APPLICATION FORM", "REGISTRATION FORM", "CLAIM FORM", "ORDER FORM", "CHANGE OF ADDRESS",
             "DIRECT DEBIT MANDATE", "ACCOUNT OPENING FORM"),
}
_STAMP_WORDS = ("PAID", "APPROVED", "RECEIVED", "COPY", "CERTIFIED", "VERIFIED", "ORIGINAL", "ENTERED", "FILED")


@dataclass(frozen=True)
class PlacedSignature:
    """Ground truth for one signature on a page.

    box: (x0, y0, x1, y1) page pixels, half-open (x1 - x0 is the width), tight around the placed ink after
    the scan geometry. signer_id: who actually wrote it (a forger id for a forgery); claimed_signer_id:
    whose signature it is meant to be.
    """

    box: tuple[int, int, int, int]
    signer_id: str
    claimed_signer_id: str
    genuine: bool

    def box_norm(self, width: int, height: int) -> tuple[float, float, float, float]:
        """The box divided by the page size, in [0, 1]."""
        x0, y0, x1, y1 = self.box
        return (x0 / width, y0 / height, x1 / width, y1 / height)


@dataclass(eq=False)
class ComposedPage:
    """A finished page. image: (H, W) uint8. sig_alpha: (H, W) float32 ink coverage of the signatures alone,
    in the same (scanned) geometry, only when asked for (for tests and debugging)."""

    kind: str
    image: np.ndarray
    signatures: list[PlacedSignature]
    notes: int = 0  # handwritten notes placed (never labelled)
    stamps: int = 0
    sig_alpha: np.ndarray | None = None


def page_size(kind: str, dpi: int) -> tuple[int, int]:
    """(width, height) in pixels of a ``kind`` page at ``dpi``: A4 for letter/contract/form."""
    if kind == "cheque":
        return round(_CHEQUE_IN[0] * dpi), round(_CHEQUE_IN[1] * dpi)
    if kind not in PAGE_KINDS:
        raise ValueError(f"unknown page kind {kind!r}; expected one of {PAGE_KINDS}")
    return round(_A4_MM[0] / 25.4 * dpi), round(_A4_MM[1] / 25.4 * dpi)


# ---------------------------------------------------------------------------------------------------------
# Drawing state


@dataclass
class _Hand:
    sig: Signature
    x: int
    y: int
    labelled: bool


@dataclass
class _Layout:
    """Everything drawn on one page before the scan: printed layer, handwriting and stamps."""

    rng: np.random.Generator
    w: int
    h: int
    dpi: int
    signers: Sequence[SignerStyle]
    forgers: Sequence[Forger]
    forged_fraction: float
    printed: np.ndarray = field(init=False)  # (H, W) uint8, 255 = paper
    hands: list[_Hand] = field(default_factory=list)
    stamps: list[tuple[np.ndarray, int, int, float]] = field(default_factory=list)  # (patch, x, y, darkness)
    used: set[str] = field(default_factory=set)  # claimed signers already on this page/document

    def __post_init__(self) -> None:
        self.printed = np.full((self.h, self.w), 255, dtype=np.uint8)
        r = self.rng
        self.k = self.dpi / 200  # all sizes below are written for 200 dpi
        self.font = int(r.choice(_FONTS))
        self.fs = float(r.uniform(0.72, 0.95)) * self.k  # body font scale
        self.th = max(1, round((1 if r.random() < 0.7 else 2) * self.k))
        self.ink = int(r.integers(0, 60))  # printer toner

    # -- printed primitives
    def px(self, v: float) -> int:
        return round(v * self.k)

    def text(self, s: str, x: int, y: int, scale: float = 1.0, bold: bool = False, font: int | None = None,
             tone: int | None = None) -> int:
        """Draw ``s`` with its baseline at y; returns the width in pixels."""
        f = self.font if font is None else font
        th = self.th + (max(1, round(self.k)) if bold else 0)
        cv2.putText(self.printed, s, (int(x), int(y)), f, self.fs * scale, self.ink if tone is None else tone, th,
                    cv2.LINE_AA)
        return cv2.getTextSize(s, f, self.fs * scale, th)[0][0]

    def text_w(self, s: str, scale: float = 1.0, bold: bool = False, font: int | None = None) -> int:
        th = self.th + (max(1, round(self.k)) if bold else 0)
        return cv2.getTextSize(s, self.font if font is None else font, self.fs * scale, th)[0][0]

    def line_h(self, scale: float = 1.0) -> int:
        return round(cv2.getTextSize("Hg", self.font, self.fs * scale, self.th)[0][1] * 1.9)

    def hline(self, x0: int, x1: int, y: int, tone: int | None = None, th: int | None = None,
              dotted: bool = False) -> None:
        t = self.ink if tone is None else tone
        if dotted:
            for x in range(int(x0), int(x1), self.px(8)):
                cv2.line(self.printed, (x, y), (min(x + self.px(4), x1), y), t, th or self.th)
        else:
            cv2.line(self.printed, (int(x0), int(y)), (int(x1), int(y)), t, th or self.th)

    def rect(self, x0: int, y0: int, x1: int, y1: int, tone: int | None = None, th: int | None = None,
             fill: int | None = None) -> None:
        if fill is not None:
            cv2.rectangle(self.printed, (int(x0), int(y0)), (int(x1), int(y1)), fill, -1)
        cv2.rectangle(self.printed, (int(x0), int(y0)), (int(x1), int(y1)), self.ink if tone is None else tone,
                      th or self.th)

    def words(self, n: int, cap: bool = False) -> str:
        r = self.rng
        out = []
        for i in range(n):
            wd = "".join(_SYLLABLES[j] for j in r.integers(0, len(_SYLLABLES), size=int(r.integers(1, 4))))
            if (i == 0 and cap) or r.random() < 0.06:
                wd = wd.capitalize()
            if r.random() < 0.04:
                wd = str(int(r.integers(1, 2000)))
            out.append(wd)
        return " ".join(out)

    def paragraph(self, x: int, y: int, width: int, n_lines: int, scale: float = 1.0, y_max: int | None = None,
                  justify: bool = True) -> int:
        """Lorem-like lines starting at baseline y; returns the baseline after the paragraph."""
        lh = self.line_h(scale)
        space = self.text_w(" ", scale)
        for i in range(n_lines):
            if y_max is not None and y > y_max:
                break
            last = i == n_lines - 1
            words: list[str] = []
            total = 0
            target = width * (self.rng.uniform(0.3, 0.9) if last else 1.0)
            while True:
                wd = self.words(1, cap=not words and i == 0)
                ww = self.text_w(wd, scale)
                if total + ww + (space if words else 0) > target:
                    break
                total += ww + (space if words else 0)
                words.append(wd)
            if not words:
                break
            words[-1] += "." if last or self.rng.random() < 0.1 else ("," if self.rng.random() < 0.1 else "")
            gap = space
            if justify and not last and len(words) > 1:
                gap = space + (width - total) / (len(words) - 1)
            xx = float(x)
            for wd in words:
                self.text(wd, int(xx), y, scale)
                xx += self.text_w(wd, scale) + gap
            y += lh
        return y

    # -- graphics
    def logo(self, x: int, y: int, size: int) -> int:
        """A procedural logo with the company name to its right; returns the right edge."""
        r = self.rng
        tone = int(r.integers(0, 140))
        patch = self.printed[y : y + size, x : x + size]
        kind = r.integers(0, 5)
        c = size // 2
        if kind == 0:
            cv2.circle(patch, (c, c), c - 2, tone, -1, cv2.LINE_AA)
            cv2.circle(patch, (c, c), int(c * 0.6), 255, -1, cv2.LINE_AA)
            cv2.circle(patch, (c, c), int(c * 0.3), tone, -1, cv2.LINE_AA)
        elif kind == 1:
            pts = np.array([[c, 2], [size - 2, size - 2], [2, size - 2]], np.int32)
            cv2.fillPoly(patch, [pts], tone, cv2.LINE_AA)
            cv2.fillPoly(patch, [((pts - c) * 0.45 + c).astype(np.int32)], 255, cv2.LINE_AA)
        elif kind == 2:
            cv2.rectangle(patch, (2, 2), (size - 3, size - 3), tone, -1)
            init = "".join(r.choice(list("ABCDEFGHKLMNPRSTW"), size=2))
            fs = size / 60 * 1.1
            tw, thh = cv2.getTextSize(init, cv2.FONT_HERSHEY_DUPLEX, fs, max(1, size // 25))[0]
            cv2.putText(patch, init, ((size - tw) // 2, (size + thh) // 2), cv2.FONT_HERSHEY_DUPLEX, fs, 255,
                        max(1, size // 25), cv2.LINE_AA)
        elif kind == 3:
            for i in range(4):
                a = i * math.pi / 2 + r.uniform(0, 0.3)
                cx, cy = c + int(c * 0.45 * math.cos(a)), c + int(c * 0.45 * math.sin(a))
                cv2.circle(patch, (cx, cy), int(c * 0.42), tone, -1 if i % 2 else max(2, size // 20), cv2.LINE_AA)
        else:
            for i in range(5):
                yy = int(size * (0.15 + 0.17 * i))
                cv2.line(patch, (2 + i * size // 12, yy), (size - 2, yy), tone, max(2, size // 14), cv2.LINE_AA)
        name = self.words(int(r.integers(1, 3)), cap=True).upper()
        name += r.choice(["", " LTD", " GMBH", " INC", " S.A.", " & CO", " BANK"])
        sc = size / (self.line_h() * 1.4)
        tw = self.text(name, x + size + self.px(20), y + int(size * 0.65), sc, bold=True,
                       font=cv2.FONT_HERSHEY_DUPLEX)
        return x + size + self.px(20) + tw

    def stamp(self, cx: int, cy: int, size: int) -> None:
        """A rubber stamp (ring or box with words), rotated, semi-transparent, blotchy; multiplied on top."""
        r = self.rng
        s = size
        patch = np.zeros((s, s), np.uint8)
        word = str(r.choice(_STAMP_WORDS))
        date = f"{int(r.integers(1, 29)):02d} {r.choice(['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'SEP', 'OCT'])} " \
               f"{int(r.integers(1998, 2026))}"
        lw = max(2, s // 45)
        if r.random() < 0.5:
            cv2.circle(patch, (s // 2, s // 2), s // 2 - lw, 255, lw, cv2.LINE_AA)
            cv2.circle(patch, (s // 2, s // 2), int(s * 0.36), 255, max(1, lw // 2), cv2.LINE_AA)
            lines = [word, date]
            box_w = int(s * 0.62)
        else:
            hh = int(s * r.uniform(0.45, 0.7))
            y0 = (s - hh) // 2
            cv2.rectangle(patch, (lw, y0), (s - lw, y0 + hh), 255, lw, cv2.LINE_AA)
            lines = [word, date] if r.random() < 0.7 else [word]
            box_w = int(s * 0.85)
        n = len(lines)
        for i, t in enumerate(lines):
            th = max(1, lw - (1 if i else 0))
            fs = 1.0
            tw, thh = cv2.getTextSize(t, cv2.FONT_HERSHEY_DUPLEX, fs, th)[0]
            fs = box_w / tw * (1.0 if i == 0 else 0.8)
            tw, thh = cv2.getTextSize(t, cv2.FONT_HERSHEY_DUPLEX, fs, th)[0]
            yy = s // 2 + int((i - (n - 1) / 2) * thh * 1.8) + thh // 2
            cv2.putText(patch, t, ((s - tw) // 2, yy), cv2.FONT_HERSHEY_DUPLEX, fs, 255, th, cv2.LINE_AA)
        m = cv2.getRotationMatrix2D((s / 2, s / 2), float(r.uniform(-35, 35)), 1.0)
        patch = cv2.warpAffine(patch, m, (s, s))
        blotch = cv2.resize(r.uniform(0.35, 1.0, (8, 8)).astype(np.float32), (s, s), interpolation=cv2.INTER_CUBIC)
        a = np.clip(patch.astype(np.float32) / 255 * blotch, 0, 1)
        self.stamps.append((a, cx - s // 2, cy - s // 2, float(r.uniform(0.35, 0.7))))

    def note(self, x: int, y: int, words: tuple[int, int] = (2, 4), lines: int = 1, max_w: int | None = None) -> None:
        """A handwritten note with its top-left near (x, y); unlabeled (hard negative). At least two words: a lone
        handwritten word is indistinguishable from a signature, which would make the labels contradict."""
        sig = handwritten_note(self.rng, dpi=self.dpi, words=words, lines=lines)
        a = sig.alpha
        if max_w is not None and a.shape[1] > max_w > 8:
            f = max_w / a.shape[1]
            a = cv2.resize(a, (max_w, max(1, round(a.shape[0] * f))), interpolation=cv2.INTER_AREA)
            sig = Signature(alpha=a, ink=sig.ink, keypoints=sig.keypoints, writer_id=sig.writer_id,
                            claimed_id=sig.claimed_id, genuine=False)
        self._put(sig, x, y, labelled=False)

    def sign(self, x0: int, x1: int, line_y: int, max_w: int | None = None) -> tuple[int, int, int, int] | None:
        """Sign on the line at ``line_y`` between x0 and x1. Returns the placed (x, y, w, h) or None if no signer."""
        r = self.rng
        free = [s for s in self.signers if s.signer_id not in self.used] or list(self.signers)
        if not free:
            return None
        signer = free[int(r.integers(0, len(free)))]
        self.used.add(signer.signer_id)
        forger = None
        if self.forgers and r.random() < self.forged_fraction:
            forger = self.forgers[int(r.integers(0, len(self.forgers)))]
        sig = sample_signature(signer, r, dpi=self.dpi, forger=forger)
        a = sig.alpha
        limit = max_w or int((x1 - x0) * 1.25)
        if a.shape[1] > limit:  # an oversized signature is written smaller to fit its space
            f = limit / a.shape[1]
            a = cv2.resize(a, (limit, max(1, round(a.shape[0] * f))), interpolation=cv2.INTER_AREA)
            sig = Signature(alpha=a, ink=sig.ink, keypoints=sig.keypoints, writer_id=sig.writer_id,
                            claimed_id=sig.claimed_id, genuine=sig.genuine)
        h, w = a.shape
        x = int(r.integers(x0, max(x0, x1 - w) + 1))
        y = int(line_y - h * (1 - r.uniform(0.05, 0.3)))  # signatures sit on, and often cross, their line
        return self._put(sig, x, y, labelled=True)

    def _put(self, sig: Signature, x: int, y: int, labelled: bool) -> tuple[int, int, int, int]:
        h, w = sig.alpha.shape
        m = self.px(6)
        x = int(np.clip(x, m, max(m, self.w - w - m)))
        y = int(np.clip(y, m, max(m, self.h - h - m)))
        self.hands.append(_Hand(sig, x, y, labelled))
        return x, y, w, h

    def near_stamp(self, box: tuple[int, int, int, int]) -> None:
        """A stamp beside (and often overlapping) a placed box (x, y, w, h)."""
        x, y, w, h = box
        s = self.px(int(self.rng.uniform(180, 300)))
        cx = x + w + int(self.rng.uniform(-0.6, 0.3) * s)
        cy = y + h // 2 + int(self.rng.uniform(-0.4, 0.4) * s)
        self.stamp(int(np.clip(cx, s // 2, self.w - s // 2)), int(np.clip(cy, s // 2, self.h - s // 2)), s)


# ---------------------------------------------------------------------------------------------------------
# Layouts. ``role``: "single" (one-page document), "first", "body" (middle), "last". Signatures go on
# "single"/"last" pages (and never on body pages), ``n_sig`` of them.


def _letter(p: _Layout, role: str, n_sig: int, note: bool, stamp: bool) -> None:
    r, w, h = p.rng, p.w, p.h
    ml = int(w * r.uniform(0.08, 0.14))
    mr = w - int(w * r.uniform(0.08, 0.13))
    y = int(h * r.uniform(0.05, 0.09))
    lh = p.line_h()
    if role in ("single", "first"):
        size = p.px(int(r.uniform(90, 150)))
        p.logo(ml, y, size)
        y += size + p.px(15)
        if r.random() < 0.6:
            p.hline(ml, mr, y, th=max(1, p.px(2)))
        y += lh
        for _ in range(int(r.integers(2, 4))):  # sender address, small, right-aligned
            t = p.words(int(r.integers(2, 5)), cap=True)
            p.text(t, mr - p.text_w(t, 0.8), y, 0.8)
            y += int(lh * 0.8)
        y += lh
        for _ in range(int(r.integers(3, 5))):  # recipient
            p.text(p.words(int(r.integers(2, 4)), cap=True), ml, y)
            y += lh
        y += lh
        p.text(f"{int(r.integers(1, 29))} {p.words(1, cap=True)} {int(r.integers(1999, 2026))}", mr - p.px(400), y)
        y += 2 * lh
        p.text("Dear " + p.words(int(r.integers(1, 3)), cap=True).title() + ",", ml, y)
        y += int(lh * 1.5)
    limit = int(h * (0.68 if role in ("single", "last") else 0.9))
    while y < limit - 3 * lh:
        y = p.paragraph(ml, y, mr - ml, int(r.integers(3, 9)), y_max=limit) + int(lh * 0.6)
    if note:  # in the top margin, or a two-line postscript at the foot of the page
        if r.random() < 0.5:
            p.note(ml + int((mr - ml) * r.uniform(0.3, 0.6)), int(h * r.uniform(0.015, 0.03)), (2, 4), max_w=mr - ml)
        else:
            p.note(ml + int((mr - ml) * r.uniform(0.0, 0.4)), int(h * 0.87), (2, 4), lines=2, max_w=mr - ml)
    if role in ("single", "last"):
        y = max(y, limit) + lh // 2
        p.text(str(r.choice(["Sincerely,", "Yours faithfully,", "Kind regards,", "Best regards,", "Yours truly,"])),
               ml, y)
        y += int(lh * 4.5)
        cols = max(1, n_sig)
        colw = (mr - ml) // max(1, cols)
        for i in range(n_sig):
            x0 = ml + i * colw
            if r.random() < 0.5:
                p.hline(x0, x0 + int(colw * 0.8), y)
            box = p.sign(x0, x0 + int(colw * 0.85), y - p.px(8))
            p.text(p.words(2, cap=True).title(), x0, y + lh)
            p.text(p.words(int(r.integers(1, 3)), cap=True), x0, y + 2 * lh, 0.85)
            if stamp and box is not None and i == 0:
                p.near_stamp(box)
                stamp = False
        if stamp:
            p.stamp(int(w * r.uniform(0.5, 0.8)), int(h * r.uniform(0.82, 0.9)), p.px(int(r.uniform(180, 280))))
    p.text(p.words(int(r.integers(4, 9))), ml, h - int(h * 0.04), 0.65, tone=110)


def _contract(p: _Layout, role: str, n_sig: int, note: bool, stamp: bool) -> None:
    r, w, h = p.rng, p.w, p.h
    ml = int(w * r.uniform(0.09, 0.13))
    mr = w - ml
    y = int(h * r.uniform(0.06, 0.09))
    lh = p.line_h()
    if role in ("single", "first"):
        title = str(r.choice(_TITLES["contract"]))
        tw = p.text_w(title, 1.5, bold=True)
        p.text(title, (w - tw) // 2, y + lh, 1.5, bold=True)
        y += 3 * lh
        y = p.paragraph(ml, y, mr - ml, int(r.integers(3, 6))) + lh
    last = role in ("single", "last")
    limit = int(h * (0.6 if last and n_sig > 0 else 0.9))
    clause = int(r.integers(1, 4)) if role == "single" or role == "first" else int(r.integers(4, 12))
    while y < limit - 4 * lh:
        p.text(f"{clause}. " + p.words(int(r.integers(1, 4)), cap=True).upper(), ml, y, bold=True)
        y = p.paragraph(ml + p.px(30), y + lh, mr - ml - p.px(30), int(r.integers(2, 8)), y_max=limit) + lh // 2
        clause += 1
    if note:
        p.note(int(w * r.uniform(0.55, 0.7)), int(h * r.uniform(0.015, 0.04)), (2, 3), max_w=int(w * 0.3))
    if last and n_sig > 0:
        y = max(y, limit) + lh
        y = p.paragraph(ml, y, mr - ml, 2) + 4 * lh
        colw = (mr - ml) // 2
        for i in range(n_sig):
            x0 = ml + (i % 2) * colw
            yy = y + (i // 2) * int(7.5 * lh)
            p.hline(x0, x0 + int(colw * 0.85), yy, dotted=r.random() < 0.3)
            box = p.sign(x0, x0 + int(colw * 0.85), yy - p.px(6))
            p.text(str(r.choice(["Signature", "Signed", "For and on behalf of", "The Client", "The Contractor"])),
                   x0, yy + lh, 0.85)
            p.text("Name: " + p.words(2, cap=True).title(), x0, yy + 2 * lh, 0.85)
            p.text(f"Date: {int(r.integers(1, 29)):02d}/{int(r.integers(1, 13)):02d}/{int(r.integers(2000, 2026))}",
                   x0, yy + 3 * lh, 0.85)
            if stamp and box is not None and i == n_sig - 1:
                p.near_stamp(box)
                stamp = False
    if stamp:
        p.stamp(int(w * r.uniform(0.2, 0.8)), int(h * r.uniform(0.75, 0.9)), p.px(int(r.uniform(180, 280))))
    foot = f"Page {int(r.integers(1, 4))}" if r.random() < 0.7 else p.words(3)
    p.text(foot, (w - p.text_w(foot, 0.7)) // 2, h - int(h * 0.035), 0.7, tone=90)


def _form(p: _Layout, role: str, n_sig: int, note: bool, stamp: bool) -> None:
    r, w, h = p.rng, p.w, p.h
    ml = int(w * r.uniform(0.06, 0.1))
    mr = w - ml
    y = int(h * r.uniform(0.04, 0.07))
    lh = p.line_h()
    size = p.px(int(r.uniform(80, 120)))
    p.logo(ml, y, size)
    y += size + lh
    title = str(r.choice(_TITLES["form"]))
    p.rect(ml, y, mr, y + int(lh * 1.6), fill=int(r.integers(200, 240)) if r.random() < 0.5 else None)
    p.text(title, ml + p.px(15), y + int(lh * 1.2), 1.2, bold=True)
    y += int(lh * 3.4)
    last = role in ("single", "last")
    limit = int(h * (0.72 if last and n_sig > 0 else 0.9))
    fill_p = 0.6 if note else 0.0  # handwritten field entries: the form's hard negatives
    while y < limit - 3 * lh:
        kind = r.choice(["fields", "checks", "table", "text"], p=[0.45, 0.2, 0.2, 0.15])
        if kind == "fields":
            for _ in range(int(r.integers(2, 5))):
                if y > limit - 2 * lh:
                    break
                label = p.words(int(r.integers(1, 3)), cap=True) + ":"
                lw = p.text(label, ml, y, 0.9)
                x0 = ml + max(lw + p.px(15), p.px(260))
                x1 = x0 + int((mr - x0) * r.uniform(0.5, 1.0))
                if r.random() < 0.5:
                    p.rect(x0, y - int(lh * 0.8), x1, y + int(lh * 0.3))
                else:
                    p.hline(x0, x1, y + p.px(4), dotted=r.random() < 0.3)
                if r.random() < fill_p:
                    p.note(x0 + p.px(10), y - int(lh * 0.9), (2, 3), max_w=x1 - x0 - p.px(20))
                y += int(lh * 1.6)
        elif kind == "checks":
            x = ml
            bs = int(lh * 0.6)
            for _ in range(int(r.integers(2, 5))):
                p.rect(x, y - bs, x + bs, y)
                if r.random() < 0.4:
                    cv2.line(p.printed, (x + 2, y - bs + 2), (x + bs - 2, y - 2), p.ink, max(1, p.th + 1), cv2.LINE_AA)
                    cv2.line(p.printed, (x + bs - 2, y - bs + 2), (x + 2, y - 2), p.ink, max(1, p.th + 1), cv2.LINE_AA)
                x += bs + p.px(10) + p.text(p.words(int(r.integers(1, 3))), x + bs + p.px(10), y, 0.85) + p.px(40)
                if x > mr - p.px(300):
                    break
            y += int(lh * 1.8)
        elif kind == "table":
            rows, cols = int(r.integers(3, 7)), int(r.integers(3, 6))
            rh = int(lh * 1.3)
            if y + rows * rh > limit:
                rows = max(2, (limit - y) // rh)
            cw = (mr - ml) / cols
            top = y - int(lh * 0.9)
            for i in range(rows + 1):
                p.hline(ml, mr, top + i * rh)
            for j in range(cols + 1):
                x = int(ml + j * cw)
                cv2.line(p.printed, (x, top), (x, top + rows * rh), p.ink, p.th)
            for i in range(rows):
                for j in range(cols):
                    if i == 0:
                        t = p.words(1, cap=True).upper()
                    elif r.random() < 0.7:
                        t = f"{r.uniform(0, 9999):.2f}" if j else p.words(int(r.integers(1, 3)))
                    else:
                        continue
                    sc = 0.8
                    while p.text_w(t, sc) > cw - p.px(12) and sc > 0.3:
                        sc *= 0.85
                    p.text(t, int(ml + j * cw + p.px(6)), top + i * rh + int(rh * 0.7), sc, bold=i == 0)
            y = top + rows * rh + int(lh * 1.6)
        else:
            y = p.paragraph(ml, y, mr - ml, int(r.integers(2, 5)), scale=0.85, y_max=limit) + lh // 2
    if last and n_sig > 0:
        y = max(y, limit)
        n = n_sig
        colw = (mr - ml - p.px(40) * (n - 1)) // n
        bh = int(h * r.uniform(0.08, 0.11))
        for i in range(n):
            x0 = ml + i * (colw + p.px(40))
            p.rect(x0, y, x0 + colw, y + bh)
            label = str(r.choice(["Signature of applicant", "Signature", "Authorised signature",
                                  "Signature of officer", "Customer signature"]))
            p.text(label, x0 + p.px(8), y + lh, 0.8)
            box = p.sign(x0 + p.px(15), x0 + colw - p.px(15), y + bh - p.px(15), max_w=colw - p.px(10))
            p.text("Date: ____/____/______", x0, y + bh + lh, 0.8)
            if stamp and box is not None and i == n - 1:
                p.near_stamp(box)
                stamp = False
    if stamp:
        p.stamp(int(w * r.uniform(0.6, 0.85)), int(h * r.uniform(0.08, 0.2)), p.px(int(r.uniform(170, 260))))
    p.text(f"Form {r.choice(list('ABCDKLMRSTX'))}-{int(r.integers(10, 999))}  rev. {int(r.integers(1, 12))}/"
           f"{int(r.integers(2005, 2026))}", ml, h - int(h * 0.03), 0.65, tone=100)


def _cheque(p: _Layout, role: str, n_sig: int, note: bool, stamp: bool) -> None:
    r, w, h = p.rng, p.w, p.h
    # Security background: faint guilloche waves over the whole cheque.
    tone = int(r.integers(205, 240))
    xs = np.arange(0, w, max(2, p.px(4)))
    f1, f2 = r.uniform(0.004, 0.012) / p.k, r.uniform(0.01, 0.03) / p.k
    for i in range(int(r.integers(8, 20))):
        y0 = h * (i + 0.5) / 14
        ys = y0 + p.px(25) * np.sin(xs * f1 + i * 0.7) + p.px(8) * np.sin(xs * f2 + i)
        cv2.polylines(p.printed, [np.stack([xs, ys], 1).astype(np.int32)[:, None]], False, tone, 1, cv2.LINE_AA)
    m = p.px(25)
    p.rect(m, m, w - m, h - m, th=max(1, p.px(3)))
    ml, mr = p.px(60), w - p.px(60)
    size = p.px(int(r.uniform(70, 100)))
    p.logo(ml, p.px(50), size)
    p.text(f"No. {int(r.integers(100000, 999999))}", mr - p.px(260), p.px(90), 0.9)
    lh = p.line_h()
    # Date
    dy = p.px(190)
    p.text("Date", mr - p.px(520), dy, 0.9)
    p.hline(mr - p.px(430), mr, dy + p.px(5))
    # Payee line
    py = int(h * r.uniform(0.36, 0.42))
    lw = p.text(str(r.choice(["Pay to the order of", "Pay", "PAY"])), ml, py, 0.95)
    box_x0 = int(w * 0.72)
    p.hline(ml + lw + p.px(15), box_x0 - p.px(30), py + p.px(5))
    cur = str(r.choice(["$", "EUR", "GBP", "CHF"]))
    p.text(cur, box_x0 - p.px(10), py, 1.0, bold=True)
    p.rect(box_x0 + p.text_w(cur, 1.0, bold=True), py - int(lh * 1.0), mr, py + int(lh * 0.4))
    ay = py + int(lh * 2.2)
    p.hline(ml, int(w * 0.8), ay + p.px(5))
    p.text(str(r.choice(["DOLLARS", "EUROS", "POUNDS", "FRANCS"])), int(w * 0.8) + p.px(15), ay, 0.85)
    bank_y = ay + int(lh * 1.8)
    p.text(p.words(2, cap=True).upper() + " BRANCH", ml, bank_y, 0.75)
    p.text(p.words(3, cap=True), ml, bank_y + int(lh * 0.9), 0.7)
    # Memo and signature lines
    sy = int(h * r.uniform(0.74, 0.8))
    p.text("Memo", ml, sy, 0.85)
    p.hline(ml + p.px(90), int(w * 0.45), sy + p.px(5))
    micr = f"C{int(r.integers(10**8, 10**9))}C {int(r.integers(10**9, 10**10))}A {int(r.integers(1000, 9999))}"
    p.text(micr, ml + p.px(150), h - p.px(45), 1.3, font=cv2.FONT_HERSHEY_PLAIN, tone=20)
    # Handwriting that is not a signature: date, payee, amounts, memo.
    if note:
        script = cv2.FONT_HERSHEY_SCRIPT_SIMPLEX if r.random() < 0.5 else cv2.FONT_HERSHEY_SCRIPT_COMPLEX
        amt = f"{int(r.integers(5, 9999))},{int(r.integers(0, 99)):02d}"
        p.text(amt, box_x0 + p.px(70), py - p.px(2), 1.1, font=script, tone=int(r.integers(10, 90)))
        p.text(f"{int(r.integers(1, 29))}.{int(r.integers(1, 13))}.{int(r.integers(2000, 2026))}", mr - p.px(400),
               dy, 1.0, font=script, tone=int(r.integers(10, 90)))
        p.note(ml + lw + p.px(40), py - int(lh * 1.6), (2, 3), max_w=box_x0 - ml - lw - p.px(100))
        p.note(ml + p.px(30), ay - int(lh * 1.6), (2, 4), max_w=int(w * 0.7))
        if r.random() < 0.5:
            p.note(ml + p.px(110), sy - int(lh * 1.5), (2, 3), max_w=int(w * 0.3))
    sx0 = int(w * 0.55)
    for i in range(n_sig):
        yy = sy - i * int(lh * 3.2) if n_sig > 1 else sy
        x0 = sx0 + (p.px(40) if i else 0)
        p.hline(x0, mr, yy + p.px(5))
        box = p.sign(x0 + p.px(10), mr - p.px(10), yy, max_w=mr - x0)
        if i == 0:
            p.text("Authorised signature" if r.random() < 0.6 else "Signature", x0 + p.px(10), yy + int(lh * 1.1), 0.7)
        if stamp and box is not None:
            p.near_stamp(box)
            stamp = False
    if n_sig == 0:
        p.hline(sx0, mr, sy + p.px(5))
    if stamp:
        p.stamp(int(w * r.uniform(0.3, 0.5)), int(h * r.uniform(0.3, 0.6)), p.px(int(r.uniform(160, 240))))


_LAYOUTS = {"letter": _letter, "contract": _contract, "form": _form, "cheque": _cheque}
# P(number of signatures) per kind, for 0..3.
_N_SIG = {
    "cheque": (0.08, 0.77, 0.15, 0.0),
    "letter": (0.2, 0.72, 0.08, 0.0),
    "contract": (0.1, 0.2, 0.5, 0.2),
    "form": (0.15, 0.65, 0.2, 0.0),
}
_P_NOTE = {"cheque": 0.8, "letter": 0.3, "contract": 0.2, "form": 0.6}
_P_STAMP = {"cheque": 0.2, "letter": 0.3, "contract": 0.35, "form": 0.4}


# ---------------------------------------------------------------------------------------------------------
# Scan and composition


def scan(img: np.ndarray, rng: np.random.Generator, *, paper: float) -> tuple[np.ndarray, np.ndarray]:
    """Scanner effects on a float32 page (H, W) (0 = black, ~paper = background).

    Brightness/contrast, skew (+-2 deg), blur, Gaussian noise and JPEG artefacts. Returns the uint8 page (H, W)
    and the (2, 3) affine matrix of the geometric change (page -> scanned page), for the boxes.
    """
    h, w = img.shape
    c = float(rng.uniform(0.88, 1.1))
    b = float(rng.uniform(-12, 10))
    out = cv2.addWeighted(img, c, img, 0.0, b, dtype=cv2.CV_8U)  # contrast/brightness, saturated to uint8
    ang = float(rng.uniform(-2, 2)) if rng.random() < 0.8 else 0.0
    mat = cv2.getRotationMatrix2D((w / 2, h / 2), ang, 1.0)
    # Small shift as well: the page is never exactly where the scanner bed starts.
    mat[:, 2] += rng.uniform(-0.005, 0.005, 2) * (w, h)
    out = cv2.warpAffine(out, mat, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                         borderValue=float(np.clip(paper * c + b, 0, 255)))
    if rng.random() < 0.6:
        out = cv2.GaussianBlur(out, (0, 0), float(rng.uniform(0.3, 0.9)))
    noise = np.empty((h, w), np.int16)
    cv2.setRNGSeed(int(rng.integers(0, 2**31 - 1)))  # OpenCV's RNG, reseeded from ours: deterministic, fast
    cv2.randn(noise, 0.0, float(rng.uniform(1.0, 6.0)))
    out = cv2.add(out, noise, dtype=cv2.CV_8U)
    q = int(rng.integers(45, 92))
    out = cv2.imdecode(cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, q])[1], cv2.IMREAD_GRAYSCALE)
    return out, mat


def _warped_box(alpha: np.ndarray, x: int, y: int, mat: np.ndarray, w: int, h: int
                ) -> tuple[tuple[int, int, int, int] | None, np.ndarray | None, tuple[int, int]]:
    """Warp a placed coverage crop (at x, y) with ``mat``; returns (tight box or None, warped crop, its origin)."""
    ah, aw = alpha.shape
    corners = np.array([[x, y], [x + aw, y], [x, y + ah], [x + aw, y + ah]], np.float64)
    wc = corners @ mat[:, :2].T + mat[:, 2]
    ox, oy = (np.floor(wc.min(axis=0)) - 2).astype(int)
    ex, ey = (np.ceil(wc.max(axis=0)) + 2).astype(int)
    local = mat.copy()
    local[:, 2] = mat[:, :2] @ [x, y] + mat[:, 2] - [ox, oy]
    warped = cv2.warpAffine(alpha, local, (int(ex - ox), int(ey - oy)), flags=cv2.INTER_LINEAR)
    ys, xs = np.nonzero(warped > _BOX_ALPHA)
    if len(xs) == 0:
        return None, None, (ox, oy)
    x0, x1 = max(0, ox + xs.min()), min(w, ox + xs.max() + 1)
    y0, y1 = max(0, oy + ys.min()), min(h, oy + ys.max() + 1)
    if x1 <= x0 or y1 <= y0:
        return None, None, (ox, oy)
    return (int(x0), int(y0), int(x1), int(y1)), warped, (ox, oy)


def compose_page(
    kind: str,
    rng: np.random.Generator,
    signers: Sequence[SignerStyle],
    *,
    forgers: Sequence[Forger] = (),
    forged_fraction: float = 0.0,
    n_signatures: int | None = None,
    dpi: int = 200,
    role: str = "single",
    note: bool | None = None,
    stamp: bool | None = None,
    scanned: bool = True,
    with_mask: bool = False,
    exclude: set[str] | None = None,
    stamp_ink: float = 1.0,
) -> ComposedPage:
    """Lay out, sign and scan one page of ``kind``.

    signers: who may sign (claimed signers are distinct on a page; ``exclude`` names ones already used in the
    document). n_signatures: 0-3, drawn per kind when None; forced to 0 on "first"/"body" pages of a multi-page
    document. A signature is a forgery (by a random forger) with probability ``forged_fraction``. note/stamp:
    force a handwritten note / a stamp on or off (None: drawn per kind). scanned=False skips the scanner
    effects (clean page). with_mask: also return the signatures' coverage map (H, W) float32. stamp_ink scales
    the stamps' darkness (0: laid out and counted, every random draw the same, but not drawn: the same page
    without its stamps, for measuring what they cost).
    A 200-dpi A4 page takes about 0.1 s.
    """
    w, h = page_size(kind, dpi)
    if n_signatures is None:
        n_signatures = int(rng.choice(4, p=_N_SIG[kind]))
    if role in ("first", "body"):
        n_signatures = 0
    n_signatures = min(n_signatures, len(signers))  # claimed signers are distinct on a page
    note = bool(rng.random() < _P_NOTE[kind]) if note is None else note
    stamp = bool(rng.random() < _P_STAMP[kind]) if stamp is None else stamp
    lay = _Layout(rng, w, h, dpi, signers, forgers, forged_fraction)
    if exclude:
        lay.used |= exclude
    _LAYOUTS[kind](lay, role, n_signatures, note, stamp)

    paper = float(rng.uniform(228, 252))
    img = lay.printed.astype(np.float32) * np.float32(paper / 255.0)
    if rng.random() < 0.5:  # paper texture / uneven illumination, low frequency
        g = rng.uniform(0.965, 1.0, (max(2, h // 150), max(2, w // 150))).astype(np.float32)
        img *= cv2.resize(g, (w, h), interpolation=cv2.INTER_CUBIC)
    for hd in lay.hands:
        a = hd.sig.alpha
        ah, aw = a.shape
        region = img[hd.y : hd.y + ah, hd.x : hd.x + aw]
        a = a[: region.shape[0], : region.shape[1]]
        region *= 1 - a
        region += np.float32(hd.sig.ink) * a
    for a, x, y, dark in lay.stamps:
        ah, aw = a.shape
        x0, y0 = max(0, x), max(0, y)
        x1, y1 = min(w, x + aw), min(h, y + ah)
        img[y0:y1, x0:x1] *= 1 - stamp_ink * dark * a[y0 - y : y1 - y, x0 - x : x1 - x]
    if scanned:
        out, mat = scan(img, rng, paper=paper)
    else:
        out, mat = np.clip(np.rint(img), 0, 255).astype(np.uint8), np.array([[1.0, 0, 0], [0, 1.0, 0]])
    sig_alpha = np.zeros((h, w), np.float32) if with_mask else None
    placed: list[PlacedSignature] = []
    for hd in lay.hands:
        if not hd.labelled:
            continue
        box, warped, (ox, oy) = _warped_box(hd.sig.alpha, hd.x, hd.y, mat, w, h)
        if box is None:
            continue
        placed.append(PlacedSignature(box=box, signer_id=hd.sig.writer_id, claimed_signer_id=hd.sig.claimed_id,
                                      genuine=hd.sig.genuine))
        if sig_alpha is not None and warped is not None:
            # Paste the warped coverage, cropped to the page.
            wh, ww = warped.shape
            x0, y0 = max(0, ox), max(0, oy)
            x1, y1 = min(w, ox + ww), min(h, oy + wh)
            np.maximum(sig_alpha[y0:y1, x0:x1], warped[y0 - oy : y1 - oy, x0 - ox : x1 - ox],
                       out=sig_alpha[y0:y1, x0:x1])
    return ComposedPage(kind=kind, image=out, signatures=placed, notes=sum(not hd.labelled for hd in lay.hands),
                        stamps=len(lay.stamps), sig_alpha=sig_alpha)


def make_page(
    kind: str, rng: np.random.Generator, signers: Sequence[SignerStyle], **kwargs: object
) -> tuple[np.ndarray, list[PlacedSignature]]:
    """One scanned page: ``(page (H, W) uint8, signatures with boxes and labels)``. See :func:`compose_page`."""
    page = compose_page(kind, rng, signers, **kwargs)  # type: ignore[arg-type]
    return page.image, page.signatures
