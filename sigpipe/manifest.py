"""Manifests: the CSV files that say who claims to have signed what (audit) or who a reference is (enrol).

Audit manifest columns: ``document`` (path relative to the inbox), ``signer_id``, optional ``page`` (1-based).
Enrolment manifest columns: ``signer_id`` and, per row, either ``file`` (an image or PDF, relative to the manifest's
folder) or ``sig_id`` (a signature the lake already holds, as the ``signatures`` and ``matches`` views give it).
Review file columns: ``verdict_id`` (as the ``flagged`` and ``review_queue`` views give it), ``outcome`` (what a
person found: see :data:`OUTCOMES`), optional ``reviewer``, ``note`` and ``reviewed_at`` (ISO 8601).
A bad row is returned with its reason and never stops the other rows; a path that escapes its root
(``..``, an absolute path, a symlink out) is refused.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["EnrollRow", "ManifestError", "ManifestRow", "OUTCOMES", "ReviewRow", "RowError", "check_manifest",
           "read_audit_manifest", "read_enroll_manifest", "read_review_manifest", "read_withdraw_manifest", "inside",
           "names_signatures", "signer_id_error", "WithdrawRow"]

_SIGNER_MAX = 128
_NOTE_MAX = 2000

# What a reviewer found about a claim (a verdict_id: this signature on this document, by this claimed signer):
# genuine (the claimed signer signed it), forgery (someone else did), not_signed (no signature there: the box is
# not a signature, or the document is unsigned), unclear (the reviewer could not tell; kept, counted apart).
OUTCOMES = ("genuine", "forgery", "not_signed", "unclear")
# The columns each kind of file must have (the others are optional); a tuple inside: at least one of them.
_COLUMNS: dict[str, tuple[str | tuple[str, ...], ...]] = {
    "audit": ("document", "signer_id"), "enroll": (("file", "sig_id"), "signer_id"),
    "review": ("verdict_id", "outcome"), "withdraw": ("signer_id",)}
_SIG_ID_MAX = 256


class ManifestError(ValueError):
    """The manifest as a whole is unusable (missing, unreadable, wrong columns)."""


@dataclass(frozen=True)
class ManifestRow:
    line: int          # 1-based line in the CSV (header is line 1)
    document: str      # as written in the manifest
    path: Path         # resolved, inside the root
    signer_id: str
    page: int | None = None


@dataclass(frozen=True)
class RowError:
    line: int
    document: str
    reason: str


@dataclass(frozen=True)
class EnrollRow:
    line: int                     # 1-based line in the CSV (header is line 1)
    document: str                 # as written in the manifest: the file, or the sig_id
    signer_id: str
    path: Path | None = None      # a file's row: resolved, inside the manifest's folder
    sig_id: str | None = None     # a signature the lake holds (``signatures.sig_id``)


@dataclass(frozen=True)
class WithdrawRow:
    line: int                     # 1-based line in the CSV (header is line 1)
    signer_id: str
    ref_id: str | None = None     # None: every reference of the signer


@dataclass(frozen=True)
class ReviewRow:
    line: int                     # 1-based line in the CSV (header is line 1)
    verdict_id: str
    outcome: str                  # one of OUTCOMES
    reviewer: str | None = None
    note: str | None = None
    reviewed_at: datetime | None = None  # timezone-aware (UTC when the file gives none)


def inside(root: Path, relative: str) -> Path | None:
    """``root / relative`` resolved, or None when it escapes ``root``."""
    if not relative or Path(relative).is_absolute():
        return None
    root = root.resolve()
    path = (root / relative).resolve()
    return path if path == root or root in path.parents else None


def _read(csv_path: Path, required: tuple[str | tuple[str, ...], ...]) -> list[tuple[int, dict[str, str]]]:
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as f:
            delimiter = _delimiter(f.readline())
            f.seek(0)
            reader = csv.DictReader(f, delimiter=delimiter)
            cols = [c.strip() for c in (reader.fieldnames or [])]
            missing = [c if isinstance(c, str) else " or ".join(c) for c in required
                       if not (c in cols if isinstance(c, str) else any(x in cols for x in c))]
            if missing:
                raise ManifestError(f"{csv_path}: missing column(s) {missing}; found {cols}")
            return [(i + 2, {(k or "").strip(): (v or "").strip() for k, v in row.items()})
                    for i, row in enumerate(reader)]
    except OSError as e:
        raise ManifestError(f"{csv_path}: cannot read the manifest ({e.strerror or e})") from e
    except UnicodeDecodeError as e:
        raise ManifestError(f"{csv_path}: not UTF-8 text ({_first_bad_byte(csv_path)}); save the CSV as UTF-8 "
                            f"(Excel: 'CSV UTF-8'); a spreadsheet's plain 'CSV' is often Windows-1252") from e
    except csv.Error as e:
        raise ManifestError(f"{csv_path}: not a readable CSV ({e})") from e


def _delimiter(header: str) -> str:
    """The separator of a CSV whose first line is ``header``: a comma, unless the header has none but has a
    semicolon (a spreadsheet's CSV where the decimal mark is a comma, as in most of Europe) or a tab."""
    if "," not in header:
        for d in (";", "\t"):
            if d in header:
                return d
    return ","


def _first_bad_byte(csv_path: Path) -> str:
    """Where the file stops being UTF-8: the line and the byte (the decoder's own offset counts from its last read
    chunk, not from the file's start)."""
    data = csv_path.read_bytes()
    try:
        data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        return f"line {line}, byte 0x{data[e.start]:02x}"
    return "a byte that is not UTF-8"


def check_manifest(csv_path: str | Path, kind: str) -> None:
    """Raise :class:`ManifestError` when a manifest (``kind``: audit, enroll, review or withdraw) is unusable as a
    whole: unreadable, not UTF-8, not CSV, a required column missing. A run's parameters are checked with it
    (``flows.params``), so such a file is one line of error before any of the run's work; a bad row is the run's to
    report, with the others."""
    _read(Path(csv_path), _COLUMNS[kind])


def names_signatures(csv_path: str | Path) -> bool:
    """Whether an enrolment CSV has a row that names a ``sig_id`` (a signature only a lake holds)."""
    return any(r.get("sig_id") for _, r in _read(Path(csv_path), _COLUMNS["enroll"]))


def signer_id_error(raw: str) -> str | None:
    """What is wrong with ``raw`` as a signer_id (empty, longer than 128 characters, not printable), or None."""
    if not raw:
        return "empty"
    if len(raw) > _SIGNER_MAX:
        return f"longer than {_SIGNER_MAX} characters"
    return None if raw.isprintable() else "not printable"


def _signer(raw: str) -> str | None:
    return raw if signer_id_error(raw) is None else None


def read_audit_manifest(csv_path: str | Path, inbox: str | Path) -> tuple[list[ManifestRow], list[RowError]]:
    """Rows (deduplicated) and per-row errors: empty fields, a bad page, a path outside the inbox, a missing file."""
    inbox = Path(inbox)
    rows, errors, seen = [], [], set()
    for line, r in _read(Path(csv_path), _COLUMNS["audit"]):
        doc, signer, page_raw = r.get("document", ""), _signer(r.get("signer_id", "")), r.get("page", "")
        if not doc:
            errors.append(RowError(line, doc, "empty document"))
            continue
        if signer is None:
            errors.append(RowError(line, doc, "empty or invalid signer_id"))
            continue
        page = None
        if page_raw:
            if not page_raw.isdigit() or int(page_raw) < 1:
                errors.append(RowError(line, doc, f"page {page_raw!r} is not a page number >= 1"))
                continue
            page = int(page_raw)
        path = inside(inbox, doc)
        if path is None:
            errors.append(RowError(line, doc, "path escapes the inbox (refused)"))
            continue
        if not path.is_file():
            errors.append(RowError(line, doc, "document missing from the inbox"))
            continue
        key = (str(path), signer, page)
        if key not in seen:
            seen.add(key)
            rows.append(ManifestRow(line, doc, path, signer, page))
    return rows, errors


def read_enroll_manifest(csv_path: str | Path) -> tuple[list[EnrollRow], list[RowError]]:
    """Enrolment rows: ``signer_id`` and either ``file`` (relative to the manifest's folder) or ``sig_id`` (a
    signature the lake holds: whether it does is the enrol flow's to check)."""
    csv_path = Path(csv_path)
    rows, errors = [], []
    for line, r in _read(csv_path, _COLUMNS["enroll"]):
        doc, sig, signer = r.get("file", ""), r.get("sig_id", ""), _signer(r.get("signer_id", ""))
        if signer is None:
            errors.append(RowError(line, doc or sig, "empty or invalid signer_id"))
        elif doc and sig:
            errors.append(RowError(line, doc, "both file and sig_id given: a row enrols one or the other"))
        elif sig:
            if len(sig) > _SIG_ID_MAX or not sig.isprintable():
                errors.append(RowError(line, sig[:_SIG_ID_MAX], "invalid sig_id"))
            else:
                rows.append(EnrollRow(line, sig, signer, sig_id=sig))
        elif not doc:
            errors.append(RowError(line, doc, "neither file nor sig_id given"))
        elif (path := inside(csv_path.parent, doc)) is None:
            errors.append(RowError(line, doc, "path escapes the manifest's folder (refused)"))
        elif not path.is_file():
            errors.append(RowError(line, doc, "file missing"))
        else:
            rows.append(EnrollRow(line, doc, signer, path=path))
    return rows, errors


def read_review_manifest(csv_path: str | Path, reviewer: str | None = None) -> tuple[list[ReviewRow], list[RowError]]:
    """Review rows and per-row errors (an empty or unknown outcome, a bad date, a verdict_id given twice: a file
    holds one finding per claim). ``reviewer``: for rows whose ``reviewer`` cell is empty or absent."""
    rows, errors, first = [], [], {}
    for line, r in _read(Path(csv_path), _COLUMNS["review"]):
        vid, outcome = r.get("verdict_id", ""), r.get("outcome", "").lower()
        who, note, when_raw = r.get("reviewer", "") or reviewer, r.get("note", ""), r.get("reviewed_at", "")
        if not vid or not vid.isprintable():
            errors.append(RowError(line, vid, "empty or invalid verdict_id"))
            continue
        if outcome not in OUTCOMES:
            errors.append(RowError(line, vid, f"outcome {r.get('outcome', '')!r} is not one of {', '.join(OUTCOMES)}"))
            continue
        if who is not None and (len(who) > _SIGNER_MAX or not who.isprintable()):
            errors.append(RowError(line, vid, "invalid reviewer"))
            continue
        if len(note) > _NOTE_MAX:
            errors.append(RowError(line, vid, f"note longer than {_NOTE_MAX} characters"))
            continue
        when = None
        if when_raw:
            try:
                when = datetime.fromisoformat(when_raw)
            except ValueError:
                errors.append(RowError(line, vid, f"reviewed_at {when_raw!r} is not an ISO 8601 date or time"))
                continue
            when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
        if vid in first:
            errors.append(RowError(line, vid, f"verdict_id given twice (first on line {first[vid]}): one finding "
                                              "per claim and file"))
            continue
        first[vid] = line
        rows.append(ReviewRow(line, vid, outcome, who or None, note or None, when))
    return rows, errors


def read_withdraw_manifest(csv_path: str | Path) -> tuple[list[WithdrawRow], list[RowError]]:
    """Withdrawal rows: ``signer_id``, optional ``ref_id`` (empty or absent: all of the signer's references); a row
    given twice is kept once."""
    rows, errors, seen = [], [], set()
    for line, r in _read(Path(csv_path), _COLUMNS["withdraw"]):
        signer, ref = _signer(r.get("signer_id", "")), r.get("ref_id", "") or None
        if signer is None:
            errors.append(RowError(line, r.get("signer_id", ""), "empty or invalid signer_id"))
        elif ref is not None and not ref.isprintable():
            errors.append(RowError(line, signer, "invalid ref_id"))
        elif (signer, ref) not in seen:
            seen.add((signer, ref))
            rows.append(WithdrawRow(line, signer, ref))
    return rows, errors
