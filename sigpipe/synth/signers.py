"""Synthetic signers, their genuine signatures and skilled forgeries of them.

A signer is a frozen :class:`SignerStyle`: a *plan* of pen keypoints (1-3 words: initials and a surname-like
word built from procedural cursive letter shapes, plus an optional flourish) and the hand that writes it
(slant, size, aspect, baseline tilt, pen width, pressure habits). Every signature is re-drawn from the plan:
keypoints jittered a little, the whole transformed, splined (centripetal Catmull-Rom) and rendered with a
variable-width anti-aliased pen. A :class:`Forger` redraws another signer's plan with the measurable
differences of a skilled forgery: larger jitter, altered proportions, own slant, tremor, flatter pressure,
blunt stroke ends and hesitations. No font files are involved.

Coordinates of a plan: x-height units, y up, baseline at 0, x-height at 1.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from sigpipe.synth.pen import arc_length, catmull_rom, render_strokes, smooth_noise

__all__ = [
    "Plan",
    "SignerStyle",
    "Forger",
    "Signature",
    "make_signer",
    "make_forger",
    "sample_signature",
    "render_crop",
    "signature_crop",
    "handwritten_note",
    "keypoint_displacement",
    "variation_gap",
    "signer_id",
    "forger_id",
]

Pt = tuple[float, float]


def signer_id(i: int) -> str:
    """Stable signer id for the 1-based index ``i``: ``S0001``."""
    return f"S{i:04d}"


def forger_id(i: int) -> str:
    """Stable forger id for the 1-based index ``i``: ``F0001`` (forgers are never enrolled signers)."""
    return f"F{i:04d}"


@dataclass(frozen=True, eq=False)
class Plan:
    """What a writer writes: keypoints and how they group into pen-down strokes.

    points: (K, 2) float64, x-height units, y up. strokes: [start, end) index ranges into points, one per
    pen-down stroke (a 1-point stroke is a dot).
    """

    points: np.ndarray
    strokes: tuple[tuple[int, int], ...]


@dataclass(frozen=True, eq=False)
class SignerStyle:
    """One synthetic signer: the plan and the hand. Sizes in millimetres so any dpi can be rendered."""

    signer_id: str
    plan: Plan
    slant_deg: float  # shear of the upright strokes; positive leans right
    aspect: float  # x stretch of the whole signature (narrow < 1 < wide)
    xheight_mm: float  # height of the lowercase letters
    tilt_deg: float  # baseline rises (positive) or falls across the signature
    arch: float  # baseline curvature: y offset per (x-height units)^2 from the centre
    width_mm: float  # mean pen width
    pressure_var: float  # amplitude of slow pressure changes along a stroke (0 = flat)
    downstroke: float  # extra width on downstrokes (writers press on the way down)
    nib: float  # width contrast from the pen angle (0 = ballpoint, ~0.6 = broad nib feel)
    nib_angle: float  # radians, direction of the widest stroke
    taper: float  # length of the thin stroke ends, in x-heights (fluent writing starts and ends thin)


@dataclass(frozen=True, eq=False)
class Forger:
    """A skilled forger's hand: how their copy of somebody else's plan differs from a genuine signature."""

    forger_id: str
    jitter: float  # keypoint noise, x-height units (genuine: 0.03)
    stretch: float  # x proportion change (genuine: 1 +- 0.02)
    asc_scale: float  # ascender/descender height change
    slant_deg: float  # the forger's own slant ...
    slant_pull: float  # ... and how much of it leaks into the copy (0..1)
    size: float  # overall size relative to the target
    width_ratio: float  # pen width relative to the target's
    tremor_px: float  # tremor amplitude at 200 dpi, pixels (slow careful drawing)
    tremor_wavelength_px: float  # tremor wavelength at 200 dpi, pixels
    hesitation: float  # probability per stroke of a pen lift/restart in the middle


@dataclass(frozen=True, eq=False)
class Signature:
    """One rendered signature (or handwritten note) before it meets paper.

    alpha: (h, w) float32 ink coverage in [0, 1], tight around the ink plus a 2 px pad.
    keypoints: (K, 2) float64, the plan's keypoints after this sample's shape changes (jitter, proportions,
    slant), x-height units, y up; comparable between samples of the same plan (see keypoint_displacement).
    """

    alpha: np.ndarray
    ink: int  # ink grey level 0..255 (0 = black)
    keypoints: np.ndarray
    writer_id: str  # who actually wrote it (a forger id for a forgery)
    claimed_id: str  # whose signature it is meant to be
    genuine: bool


# ---------------------------------------------------------------------------------------------------------
# Procedural letter shapes. x in letter-width units, y in x-height units; A = ascender, D = descender height.
# Each signer perturbs every shape once (its allograph), so the same letter differs between signers.

_LOWER: dict[str, tuple[float, Callable[[float, float], list[Pt]]]] = {
    "n": (0.8, lambda A, D: [(0.1, 0.7), (0.3, 1.0), (0.55, 0.9), (0.7, 0.0)]),
    "m": (1.2, lambda A, D: [(0.05, 0.8), (0.2, 1.0), (0.35, 0.85), (0.4, 0.0), (0.5, 0.8), (0.65, 1.0),
                              (0.8, 0.8), (0.85, 0.0)]),
    "u": (0.85, lambda A, D: [(0.05, 1.0), (0.15, 0.1), (0.35, 0.0), (0.6, 0.6), (0.65, 1.0), (0.7, 0.1),
                               (0.9, 0.15)]),
    "i": (0.45, lambda A, D: [(0.25, 1.0), (0.35, 0.05), (0.6, 0.2)]),
    "e": (0.65, lambda A, D: [(0.3, 0.35), (0.7, 0.7), (0.55, 1.0), (0.2, 0.7), (0.25, 0.05), (0.75, 0.2)]),
    "o": (0.8, lambda A, D: [(0.6, 0.95), (0.3, 0.9), (0.05, 0.4), (0.35, 0.0), (0.65, 0.45), (0.55, 1.0),
                              (0.9, 0.9)]),
    "a": (0.85, lambda A, D: [(0.65, 0.85), (0.35, 1.0), (0.05, 0.45), (0.3, 0.0), (0.6, 0.45), (0.7, 1.0),
                               (0.65, 0.1), (0.9, 0.2)]),
    "c": (0.65, lambda A, D: [(0.7, 0.85), (0.45, 1.0), (0.1, 0.5), (0.35, 0.0), (0.8, 0.2)]),
    "r": (0.7, lambda A, D: [(0.1, 0.6), (0.35, 1.05), (0.5, 0.85), (0.65, 0.95), (0.7, 0.0)]),
    "s": (0.6, lambda A, D: [(0.3, 0.95), (0.55, 0.55), (0.45, 0.05), (0.1, 0.15), (0.6, 0.1)]),
    "l": (0.55, lambda A, D: [(0.3, 0.6), (0.65, A * 0.85), (0.5, A), (0.3, A * 0.8), (0.3, 0.05), (0.7, 0.2)]),
    "h": (0.85, lambda A, D: [(0.3, 0.6), (0.6, A * 0.85), (0.45, A), (0.25, A * 0.8), (0.2, 0.0), (0.4, 0.8),
                               (0.6, 0.95), (0.75, 0.0)]),
    "d": (0.9, lambda A, D: [(0.6, 0.85), (0.35, 1.0), (0.05, 0.45), (0.3, 0.0), (0.6, 0.45), (0.75, A),
                              (0.7, 0.1), (0.95, 0.2)]),
    "t": (0.55, lambda A, D: [(0.2, 0.6), (0.4, A * 0.75), (0.35, 0.05), (0.7, 0.2)]),
    "g": (0.85, lambda A, D: [(0.65, 0.85), (0.35, 1.0), (0.05, 0.45), (0.3, 0.0), (0.6, 0.45), (0.7, 1.0),
                               (0.6, D * 0.5), (0.4, D), (0.15, D * 0.75), (0.4, D * 0.2), (0.95, 0.3)]),
    "y": (0.85, lambda A, D: [(0.05, 1.0), (0.15, 0.1), (0.4, 0.0), (0.6, 0.6), (0.65, 1.0), (0.55, D * 0.5),
                               (0.4, D), (0.15, D * 0.8), (0.4, D * 0.2), (0.95, 0.3)]),
    "f": (0.6, lambda A, D: [(0.3, 0.5), (0.6, A * 0.85), (0.45, A), (0.3, A * 0.8), (0.3, D * 0.9),
                              (0.15, D * 0.7), (0.35, 0.2), (0.8, 0.3)]),
    "v": (0.75, lambda A, D: [(0.05, 0.9), (0.3, 0.0), (0.55, 0.9), (0.5, 0.75), (0.8, 0.85)]),
    "~": (0.6, lambda A, D: [(0.25, 0.9), (0.5, 0.05), (0.75, 0.75)]),  # illegible wave
}
_VOWELS = "aeiouy"
_CONSONANTS = "nmrslhdtgcvf"
# Dots above 'i' and crossbars of 't' are separate pen-down strokes, written after the word.
_EXTRA: dict[str, list[Pt]] = {"i": [(0.3, 1.7)], "t": [(0.05, 1.1), (0.75, 1.2)]}

# Capitals: x in capital-width units, y in capital-height units (0 baseline, 1 top). A list of strokes.
_CAPITALS: dict[str, list[list[Pt]]] = {
    "stem_bowl": [[(0.25, 1.0), (0.2, 0.0), (0.05, 0.12), (0.3, 0.85), (0.7, 1.0), (0.88, 0.75), (0.55, 0.5),
                   (0.3, 0.5), (0.75, 0.0), (1.0, 0.15)]],
    "double_bowl": [[(0.25, 1.0), (0.2, 0.0), (0.05, 0.12), (0.3, 0.85), (0.7, 1.0), (0.85, 0.78), (0.45, 0.55),
                     (0.9, 0.3), (0.6, 0.0), (0.25, 0.08), (1.0, 0.2)]],
    "oval": [[(0.75, 0.85), (0.5, 1.0), (0.1, 0.7), (0.1, 0.2), (0.45, 0.0), (0.85, 0.3), (0.85, 0.75),
              (0.55, 0.95), (0.3, 0.8), (0.6, 0.4), (1.0, 0.15)]],
    "open_c": [[(0.85, 0.8), (0.6, 1.0), (0.1, 0.6), (0.25, 0.0), (0.7, 0.05), (1.0, 0.25)]],
    "zigzag": [[(0.0, 0.0), (0.12, 0.9), (0.2, 1.0), (0.3, 0.1), (0.45, 0.95), (0.55, 0.95), (0.65, 0.05),
                (0.8, 0.9), (0.88, 0.85), (0.9, 0.0), (1.05, 0.15)]],
    "l_loop": [[(0.55, 0.8), (0.5, 1.0), (0.3, 0.8), (0.4, 0.3), (0.15, 0.0), (0.0, 0.1), (0.2, 0.15), (0.6, 0.0),
                (1.0, 0.1)]],
    "j_stem": [[(0.0, 0.8), (0.4, 1.0), (0.95, 0.95)], [(0.6, 0.95), (0.5, 0.2), (0.3, -0.3), (0.05, -0.15),
                                                        (0.35, 0.05), (1.0, 0.2)]],
    "s_curve": [[(0.1, 0.3), (0.5, 0.75), (0.75, 1.0), (0.55, 0.9), (0.35, 0.7), (0.7, 0.35), (0.5, 0.0),
                 (0.1, 0.05), (0.25, 0.2), (1.0, 0.2)]],
    "e_loops": [[(0.75, 0.9), (0.45, 1.0), (0.25, 0.8), (0.5, 0.55), (0.35, 0.5), (0.15, 0.3), (0.3, 0.0),
                 (0.75, 0.05), (1.0, 0.3)]],
    "a_peak": [[(0.0, 0.0), (0.4, 1.0), (0.6, 0.0), (0.75, 0.1)], [(0.1, 0.4), (0.8, 0.5)]],
    "k_arm": [[(0.15, 1.0), (0.1, 0.0)], [(0.85, 0.95), (0.3, 0.45), (0.7, 0.0), (1.0, 0.15)]],
    "spiral": [[(0.5, 0.5), (0.9, 0.8), (0.5, 1.0), (0.1, 0.6), (0.4, 0.0), (1.0, 0.3)]],
}
_CAPITAL_NAMES = tuple(_CAPITALS)


@dataclass(frozen=True)
class _HandParams:
    """The plan-level habits of one writer (drawn once per signer)."""

    asc: float  # ascender height (x-heights)
    desc: float  # descender depth (negative)
    cap: float  # capital height
    cap_width: float  # capital width / capital height
    letter_w: float  # mean lowercase letter width
    rhythm: float  # amplitude of the alternating wide/narrow letter rhythm
    decay: float  # how much letters shrink towards the end of the surname (0 = none)
    legibility: float  # < ~0.4: trailing letters dissolve into waves
    lift: float  # probability of a pen lift between letters
    shape_noise: float  # allograph perturbation of the letter shapes
    scribble: str = "~"  # the letter shape an illegible name dissolves into (wave, loops, arches...)


def _hand(rng: np.random.Generator) -> _HandParams:
    return _HandParams(
        asc=float(rng.uniform(1.7, 2.9)),
        desc=float(-rng.uniform(0.8, 1.7)),
        cap=float(rng.uniform(1.9, 3.8)),
        cap_width=float(rng.uniform(0.45, 1.0)),
        letter_w=float(rng.uniform(0.5, 1.25)),
        rhythm=float(rng.uniform(0.0, 0.3)),
        decay=float(rng.uniform(0.0, 0.75) if rng.random() < 0.6 else 0.0),
        legibility=float(rng.uniform(0.0, 1.0)),
        lift=float(rng.uniform(0.0, 0.35) if rng.random() < 0.5 else 0.0),
        shape_noise=float(rng.uniform(0.03, 0.09)),
        scribble=str(rng.choice(["~", "~", "e", "l", "n", "u"])),
    )


def _capital(
    rng: np.random.Generator, h: _HandParams, x: float, name: str | None = None
) -> tuple[list[list[Pt]], float]:
    """Strokes of one capital starting at ``x``; returns (strokes, x after it)."""
    name = name or str(rng.choice(_CAPITAL_NAMES))
    w = h.cap * h.cap_width * rng.uniform(0.8, 1.2)
    strokes = []
    for stroke in _CAPITALS[name]:
        pts = np.asarray(stroke) + rng.normal(0, 0.04, (len(stroke), 2))
        strokes.append([(x + px * w, py * h.cap) for px, py in pts])
    if rng.random() < 0.35:  # lead-in hook from the baseline
        sx, sy = strokes[0][0]
        strokes[0].insert(0, (sx - 0.25 * w, sy * 0.3 + rng.uniform(-0.2, 0.2)))
    return strokes, x + w


def _name_letters(rng: np.random.Generator, n: int) -> str:
    out = []
    vowel = rng.random() < 0.4
    for _ in range(n):
        out.append(str(rng.choice(list(_VOWELS if vowel else _CONSONANTS))))
        vowel = not vowel if rng.random() < 0.8 else vowel
    return "".join(out)


def _lower_word(
    rng: np.random.Generator, h: _HandParams, x: float, letters: str, start: Pt | None
) -> tuple[list[list[Pt]], float]:
    """Strokes of a lowercase run (connected cursive) starting at ``x``, joined from ``start`` if given."""
    strokes: list[list[Pt]] = []
    extras: list[list[Pt]] = []
    cur: list[Pt] = [start] if start is not None else []
    n = len(letters)
    for j, ch in enumerate(letters):
        frac = j / max(1, n - 1)
        amp = 1.0 - h.decay * frac
        if h.legibility < 0.4 and j >= 1 + int(h.legibility * 6):
            ch = h.scribble  # the rest of the name dissolves into a wave, a garland of loops...
        base_w, shape = _LOWER[ch]
        w = h.letter_w * base_w * (1 + h.rhythm * (1 if j % 2 else -1)) * rng.uniform(0.85, 1.15) * (0.6 + 0.4 * amp)
        pts = np.asarray(shape(h.asc, h.desc), dtype=np.float64)
        pts += rng.normal(0, h.shape_noise, pts.shape)
        letter = [(x + px * w, py * amp) for px, py in pts]
        if cur and rng.random() < h.lift:
            strokes.append(cur)
            cur = []
        cur.extend(letter)
        if ch in _EXTRA and rng.random() < 0.7:
            extras.append([(x + px * w, py * amp) for px, py in _EXTRA[ch]])
        x += w
    if cur:
        strokes.append(cur)
    return strokes + extras, x


def _flourish(rng: np.random.Generator, h: _HandParams, x0: float, x1: float, last: Pt) -> list[list[Pt]]:
    """A flourish after the last word: extends the last stroke (returned first) and/or adds new strokes."""
    kind = rng.choice(["none", "underline", "loop_underline", "tail", "paraph", "dash"], p=[0.25, 0.25, 0.15, 0.15,
                                                                                          0.1, 0.1])
    d = h.desc
    lx, ly = last
    if kind == "underline":
        y = d - rng.uniform(0.1, 0.6)
        return [[last, (lx + 0.4, y * 0.5), (lx - 0.2, y), ((x0 + x1) / 2, y - rng.uniform(-0.3, 0.3)),
                 (x0 - rng.uniform(0, 1), y + rng.uniform(-0.2, 0.4))]]
    if kind == "loop_underline":
        y = d - rng.uniform(0.2, 0.6)
        return [[last, (lx + 0.8, ly + 1.2), (lx + 0.3, ly + 1.6), (lx - 0.1, ly + 0.8), (lx - 0.5, y),
                 (x0 + rng.uniform(-0.5, 1.0), y - 0.2), (x0 - 0.5, y + 0.4)]]
    if kind == "tail":
        return [[last, (lx + rng.uniform(0.5, 1.5), ly + rng.uniform(0.5, 2.0)),
                 (lx + rng.uniform(1.5, 3.0), ly + rng.uniform(1.0, 2.5))]]
    if kind == "paraph":
        y = d - 0.3
        pts = [last, (lx + 0.3, y)]
        xs = np.linspace(lx, x0 + (x1 - x0) * 0.3, int(rng.integers(3, 6)))
        for k, xx in enumerate(xs):
            pts.append((float(xx), y - (0.6 if k % 2 else 0.0)))
        return [pts]
    if kind == "dash":  # separate horizontal stroke under or after the name
        y = rng.uniform(d - 0.5, -0.1)
        return [[last], [(x0 + rng.uniform(0, 1), y), (x1 + rng.uniform(0, 1.5), y + rng.uniform(-0.3, 0.3))]]
    return [[last]]


def _make_plan(rng: np.random.Generator, h: _HandParams) -> Plan:
    structure = rng.choice(["initial_surname", "two_initials_surname", "first_surname", "surname", "monogram",
                            "block_caps"], p=[0.32, 0.14, 0.2, 0.18, 0.08, 0.08])
    strokes: list[list[Pt]] = []
    x = 0.0
    gap = rng.uniform(0.5, 1.5)

    def initial() -> None:
        nonlocal x
        caps, x = _capital(rng, h, x)
        strokes.extend(caps)
        if rng.random() < 0.6:  # the period after an initial
            strokes.append([(x + 0.15, 0.05)])
            x += 0.3
        x += gap

    def word(n_lo: int, n_hi: int) -> None:
        nonlocal x
        caps, x_after = _capital(rng, h, x)
        joined = rng.random() < 0.6
        strokes.extend(caps)
        x = x_after - 0.1 * h.cap * h.cap_width
        start = caps[-1][-1] if joined else None
        if joined:
            strokes.pop()  # the capital's last stroke continues into the lowercase letters
        low, x = _lower_word(rng, h, x, _name_letters(rng, int(rng.integers(n_lo, n_hi + 1))), start)
        if joined:
            low[0] = caps[-1][:-1] + low[0]
        strokes.extend(low)
        x += gap

    if structure == "initial_surname":
        initial()
        word(3, 8)
    elif structure == "two_initials_surname":
        initial()
        initial()
        word(3, 7)
    elif structure == "first_surname":
        word(3, 6)
        word(3, 8)
    elif structure == "surname":
        word(4, 9)
    elif structure == "monogram":
        initial()
        caps, x = _capital(rng, h, x - gap * 0.5)
        strokes.extend(caps)
    else:  # printed-looking name: a row of separate, smaller capitals
        small = _HandParams(**{**h.__dict__, "cap": h.cap * 0.6, "cap_width": h.cap_width * 0.9})
        for _ in range(int(rng.integers(3, 7))):
            caps, x = _capital(rng, small, x)
            strokes.extend(caps)
            x += rng.uniform(0.1, 0.4)
        x += gap
    x_end = x - gap
    # The flourish hangs off the last pen-down stroke with more than one point.
    k = max(i for i, s in enumerate(strokes) if len(s) > 1)
    fl = _flourish(rng, h, 0.0, x_end, strokes[k][-1])
    strokes[k] = strokes[k] + fl[0][1:]
    strokes.extend(fl[1:])
    pts = np.asarray([p for s in strokes for p in s], dtype=np.float64)
    ends = np.cumsum([len(s) for s in strokes])
    return Plan(points=pts, strokes=tuple((int(e - len(s)), int(e)) for s, e in zip(strokes, ends, strict=True)))


def make_signer(sid: str, rng: np.random.Generator) -> SignerStyle:
    """Draw a new signer: a plan plus a hand. Deterministic given ``rng``'s state."""
    h = _hand(rng)
    plan = _make_plan(rng, h)
    return SignerStyle(
        signer_id=sid,
        plan=plan,
        slant_deg=float(np.clip(rng.normal(12, 12), -15, 40)),
        aspect=float(rng.uniform(0.75, 1.35)),
        xheight_mm=float(rng.uniform(2.4, 4.6)),
        tilt_deg=float(rng.normal(2, 4)),
        arch=float(rng.normal(0, 0.01)),
        width_mm=float(rng.uniform(0.22, 0.65)),
        pressure_var=float(rng.uniform(0.05, 0.4)),
        downstroke=float(rng.uniform(0.0, 0.6)),
        nib=float(rng.uniform(0.0, 0.7) if rng.random() < 0.3 else 0.0),
        nib_angle=float(rng.uniform(0, math.pi)),
        taper=float(rng.uniform(0.2, 1.2)),
    )


def make_forger(fid: str, rng: np.random.Generator) -> Forger:
    """Draw a skilled forger. Their copies are recognisably the target's plan, but measurably off."""
    return Forger(
        forger_id=fid,
        jitter=float(rng.uniform(0.055, 0.16)),
        # Proportions off by 5-20 %, never ~1 (a forger copying slowly rarely keeps the rhythm).
        stretch=float(rng.choice([-1, 1]) * rng.uniform(0.05, 0.2) + 1),
        asc_scale=float(rng.choice([-1, 1]) * rng.uniform(0.08, 0.25) + 1),
        slant_deg=float(np.clip(rng.normal(8, 14), -20, 40)),
        slant_pull=float(rng.uniform(0.2, 0.6)),
        size=float(rng.uniform(0.88, 1.15)),
        width_ratio=float(rng.choice([rng.uniform(0.65, 0.85), rng.uniform(1.15, 1.5)])),
        tremor_px=float(rng.uniform(0.15, 0.7)),
        tremor_wavelength_px=float(rng.uniform(3.0, 8.0)),
        hesitation=float(rng.uniform(0.1, 0.45)),
    )


# ---------------------------------------------------------------------------------------------------------
# Sampling


def _shape_keypoints(
    plan: Plan, rng: np.random.Generator, *, jitter: float, stretch: float, asc_scale: float, slant_deg: float,
    tilt_deg: float, arch: float, aspect: float,
) -> np.ndarray:
    """Writer-frame keypoints (K, 2) of one sample: jitter, proportions, slant, baseline tilt/arch."""
    kp = plan.points.copy()
    # Independent jitter plus a slow drift along the writing order (a hand's error is correlated).
    drift = np.cumsum(rng.normal(0, jitter * 0.25, kp.shape), axis=0)
    kp += rng.normal(0, jitter, kp.shape) + drift - drift.mean(axis=0)
    y = kp[:, 1]
    kp[:, 1] = np.where(y > 1, 1 + (y - 1) * asc_scale, np.where(y < 0, y * asc_scale, y))
    kp[:, 0] *= aspect * stretch
    kp[:, 0] += kp[:, 1] * math.tan(math.radians(slant_deg))
    xc = kp[:, 0].mean()
    kp[:, 1] += arch * (kp[:, 0] - xc) ** 2
    t = math.radians(tilt_deg)
    c, s = math.cos(t), math.sin(t)
    x, y = kp[:, 0] - xc, kp[:, 1].copy()
    kp[:, 0], kp[:, 1] = xc + c * x - s * y, s * x + c * y
    return kp


def _pen_paths(
    style: SignerStyle, kp: np.ndarray, rng: np.random.Generator, *, px_per_unit: float, rot_deg: float,
    width_px: float, pressure_var: float, downstroke: float, taper: float,
    tremor_px: float = 0.0, tremor_wl: float = 5.0, hesitation: float = 0.0,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Pixel paths (x right, y down) and pen widths for every stroke of a shaped sample."""
    t = math.radians(rot_deg)
    rot = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    pix = (kp * [px_per_unit, -px_per_unit]) @ rot.T
    paths: list[np.ndarray] = []
    widths: list[np.ndarray] = []
    taper_px = taper * px_per_unit
    for a, b in style.plan.strokes:
        if b - a == 1:  # a dot: a short tick in the writing direction
            p = pix[a]
            path = np.array([p, p + [0.12 * px_per_unit, -0.05 * px_per_unit]])
        else:
            path = catmull_rom(pix[a:b], step=0.6)
        s = arc_length(path)
        if tremor_px > 0 and len(path) > 2:
            # Tremor: high-frequency wobble along the normal of the path (slow, careful drawing).
            tan = np.gradient(path, axis=0)
            nrm = np.stack([-tan[:, 1], tan[:, 0]], axis=1)
            nrm /= np.maximum(np.linalg.norm(nrm, axis=1, keepdims=True), 1e-9)
            path = path + nrm * (tremor_px * smooth_noise(rng, s, tremor_wl))[:, None]
        d = np.gradient(path, axis=0)
        ds = np.maximum(np.linalg.norm(d, axis=1), 1e-9)
        p = 1 + pressure_var * smooth_noise(rng, s, wavelength=3 * px_per_unit)
        p *= 1 + downstroke * np.clip(d[:, 1] / ds, 0, 1)  # y down: positive dy is a downstroke
        if style.nib > 0:
            ang = np.arctan2(d[:, 1], d[:, 0])
            p *= 1 + style.nib * (np.abs(np.sin(ang - style.nib_angle)) - 0.5)
        if taper_px > 0 and s[-1] > 0:
            ramp = np.minimum(1, 0.3 + 0.7 * np.minimum(s, s[-1] - s) / taper_px)
            p *= ramp
        w = width_px * np.clip(p, 0.25, 2.2)
        if hesitation > 0 and len(path) > 40 and rng.random() < hesitation:
            # A pen lift and restart: a small gap, the restart slightly off, a blob where the pen rested.
            k = int(rng.integers(len(path) // 4, 3 * len(path) // 4))
            gap = int(rng.integers(0, 3))
            first, second = path[:k], path[k + gap :] + rng.normal(0, 0.6, 2)
            w1, w2 = w[:k].copy(), w[k + gap :].copy()
            w2[:4] *= 1.4
            paths += [first, second]
            widths += [w1, w2]
            continue
        paths.append(path)
        widths.append(w)
    return paths, widths


def _ink_texture(alpha: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Ballpoint density variation: slow multiplicative field on the coverage. alpha (h, w) float32."""
    if strength <= 0:
        return alpha
    h, w = alpha.shape
    g = rng.uniform(1 - strength, 1.0, (max(2, h // 12), max(2, w // 12))).astype(np.float32)
    field = cv2.resize(g, (w, h), interpolation=cv2.INTER_CUBIC)
    return np.clip(alpha * field, 0, 1)


def sample_signature(
    signer: SignerStyle, rng: np.random.Generator, *, dpi: int = 200, forger: Forger | None = None
) -> Signature:
    """Draw one signature of ``signer``: genuine, or a skilled forgery by ``forger``. A few ms at 200 dpi."""
    px_per_mm = dpi / 25.4
    if forger is None:
        kp = _shape_keypoints(
            signer.plan, rng, jitter=0.03, stretch=1 + rng.normal(0, 0.015), asc_scale=1 + rng.normal(0, 0.02),
            slant_deg=signer.slant_deg + rng.normal(0, 1.2), tilt_deg=signer.tilt_deg + rng.normal(0, 1.0),
            arch=signer.arch, aspect=signer.aspect,
        )
        size = signer.xheight_mm * px_per_mm * rng.uniform(0.95, 1.05)
        paths, widths = _pen_paths(
            signer, kp, rng, px_per_unit=size, rot_deg=float(np.clip(rng.normal(0, 1.5), -3, 3)),
            width_px=signer.width_mm * px_per_mm * rng.uniform(0.9, 1.1), pressure_var=signer.pressure_var,
            downstroke=signer.downstroke, taper=signer.taper,
        )
        writer = signer.signer_id
    else:
        slant = (1 - forger.slant_pull) * signer.slant_deg + forger.slant_pull * forger.slant_deg
        kp = _shape_keypoints(
            signer.plan, rng, jitter=forger.jitter, stretch=forger.stretch * (1 + rng.normal(0, 0.02)),
            asc_scale=forger.asc_scale, slant_deg=slant + rng.normal(0, 2.0),
            tilt_deg=signer.tilt_deg + rng.normal(0, 2.0), arch=signer.arch * rng.uniform(0, 1.5),
            aspect=signer.aspect,
        )
        size = signer.xheight_mm * forger.size * px_per_mm * rng.uniform(0.95, 1.05)
        scale = dpi / 200
        # Slow, careful copying: flatter pressure, blunt ends (no taper), tremor, hesitations.
        paths, widths = _pen_paths(
            signer, kp, rng, px_per_unit=size, rot_deg=float(np.clip(rng.normal(0, 1.5), -3, 3)),
            width_px=signer.width_mm * forger.width_ratio * px_per_mm * rng.uniform(0.9, 1.1),
            pressure_var=signer.pressure_var * 0.3, downstroke=signer.downstroke * 0.3, taper=0.05,
            tremor_px=forger.tremor_px * scale, tremor_wl=forger.tremor_wavelength_px * scale,
            hesitation=forger.hesitation,
        )
        writer = forger.forger_id
    alpha, _ = render_strokes(paths, widths)
    alpha = _ink_texture(alpha, rng, float(rng.uniform(0.0, 0.35)) if rng.random() < 0.5 else 0.0)
    return Signature(alpha=alpha, ink=int(rng.integers(5, 95)), keypoints=kp, writer_id=writer,
                     claimed_id=signer.signer_id, genuine=forger is None)


def render_crop(sig: Signature, rng: np.random.Generator, *, margin: tuple[int, int] = (4, 28)) -> np.ndarray:
    """Put a signature on a patch of paper: (H, W) uint8, dark ink on a white-ish background.

    Paper tone (215-252), optional light noise and a faint gradient are drawn from the same distribution for
    genuine and forged samples, so the background says nothing about the label.
    """
    m = rng.integers(margin[0], margin[1] + 1, 4)  # top, bottom, left, right
    a = np.pad(sig.alpha, ((m[0], m[1]), (m[2], m[3])))
    h, w = a.shape
    paper = np.full((h, w), rng.uniform(215, 252), dtype=np.float32)
    if rng.random() < 0.4:
        gx = rng.uniform(-8, 8) * (np.arange(w, dtype=np.float32) / w - 0.5)
        gy = rng.uniform(-8, 8) * (np.arange(h, dtype=np.float32) / h - 0.5)
        paper += gx[None, :] + gy[:, None]
    out = paper * (1 - a) + sig.ink * a
    if rng.random() < 0.5:
        out += rng.standard_normal((h, w), dtype=np.float32) * np.float32(rng.uniform(1.0, 4.0))
    if rng.random() < 0.3:
        out = cv2.GaussianBlur(out, (0, 0), float(rng.uniform(0.3, 0.7)))
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def signature_crop(
    signer: SignerStyle, rng: np.random.Generator, *, dpi: int = 200, forger: Forger | None = None
) -> np.ndarray:
    """One genuine (or forged, with ``forger``) signature crop, (H, W) uint8."""
    return render_crop(sample_signature(signer, rng, dpi=dpi, forger=forger), rng)


# ---------------------------------------------------------------------------------------------------------
# Handwriting that is not a signature (hard negatives for the detector)


def handwritten_note(rng: np.random.Generator, *, dpi: int = 200, words: tuple[int, int] = (2, 5),
                     lines: int = 1) -> Signature:
    """A short handwritten note: lines of small, legible, evenly sized cursive words, no capitals' flourish.

    Written with the same pen as signatures so that only the layout (a line of text, not a name) tells them
    apart. Returned as a :class:`Signature` with writer_id "note" and genuine False; never labelled.
    """
    h = _HandParams(asc=float(rng.uniform(1.7, 2.4)), desc=float(-rng.uniform(0.7, 1.2)),
                    cap=float(rng.uniform(1.7, 2.3)), cap_width=float(rng.uniform(0.5, 0.8)),
                    letter_w=float(rng.uniform(0.6, 1.0)), rhythm=0.05, decay=0.0, legibility=1.0,
                    lift=float(rng.uniform(0.0, 0.3)), shape_noise=0.04)
    strokes: list[list[Pt]] = []
    line_gap = h.asc - h.desc + rng.uniform(0.8, 1.5)
    for li in range(lines):
        x = float(rng.uniform(0, 1.5)) if li else 0.0
        base = -li * line_gap  # y up: later lines sit lower
        for wi in range(int(rng.integers(words[0], words[1] + 1))):
            if wi == 0 and li == 0 and rng.random() < 0.3:
                caps, x = _capital(rng, h, x)
                strokes.extend(caps)
            low, x = _lower_word(rng, h, x, _name_letters(rng, int(rng.integers(2, 7))), None)
            strokes.extend([[(px, py + base) for px, py in s] for s in low])
            x += rng.uniform(0.9, 1.6)
    pts = np.asarray([p for s in strokes for p in s], dtype=np.float64)
    ends = np.cumsum([len(s) for s in strokes])
    plan = Plan(points=pts, strokes=tuple((int(e - len(s)), int(e)) for s, e in zip(strokes, ends, strict=True)))
    style = SignerStyle(signer_id="note", plan=plan, slant_deg=float(rng.normal(10, 8)), aspect=1.0,
                        xheight_mm=float(rng.uniform(1.8, 2.8)), tilt_deg=float(rng.normal(0, 1.5)), arch=0.0,
                        width_mm=float(rng.uniform(0.18, 0.35)), pressure_var=0.15, downstroke=0.2, nib=0.0,
                        nib_angle=0.0, taper=0.3)
    sig = sample_signature(style, rng, dpi=dpi)
    return Signature(alpha=sig.alpha, ink=sig.ink, keypoints=sig.keypoints, writer_id="note", claimed_id="note",
                     genuine=False)


# ---------------------------------------------------------------------------------------------------------
# Measuring how far a sample is from another


def keypoint_displacement(a: np.ndarray, b: np.ndarray) -> float:
    """Mean keypoint distance (x-height units) between two samples of one plan, translation removed.

    ``a``, ``b``: (K, 2) keypoints of :class:`Signature` samples of the same signer (genuine or forged).
    """
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    d -= d.mean(axis=0)
    return float(np.linalg.norm(d, axis=1).mean())


def variation_gap(
    signer: SignerStyle, forgers: Sequence[Forger], rng: np.random.Generator, n: int = 8, dpi: int = 100
) -> dict[str, float]:
    """How much genuine samples differ among themselves versus from forgeries, in keypoint displacement.

    Returns {"genuine_vs_genuine": mean over genuine pairs, "genuine_vs_forgery": mean over genuine x forged
    pairs, "ratio": the second over the first}. A skilled forgery should sit clearly further away.
    """
    gen = [sample_signature(signer, rng, dpi=dpi).keypoints for _ in range(n)]
    forg = [sample_signature(signer, rng, dpi=dpi, forger=forgers[i % len(forgers)]).keypoints for i in range(n)]
    gg = [keypoint_displacement(gen[i], gen[j]) for i in range(n) for j in range(i + 1, n)]
    gf = [keypoint_displacement(g, f) for g in gen for f in forg]
    out = {"genuine_vs_genuine": float(np.mean(gg)), "genuine_vs_forgery": float(np.mean(gf))}
    out["ratio"] = out["genuine_vs_forgery"] / out["genuine_vs_genuine"]
    return out
