"""Malformed inputs at volume: bad PDFs and odd or broken images, mixed with good synthetic documents.

Deterministic: the same seed writes the same bytes (no dates, no random ids; pypdf's encryption is keyed by
a fixed document id). Nothing large is ever allocated: the 20,000 x 20,000 px page is a PDF whose page box
is that size at 200 dpi, not a bitmap, and the image bomb is a PNG whose header claims the size.

Page sizes are meant at the pipeline's default 200 dpi (at 100 dpi the huge page is only 100 Mpx and is
rendered). Each written file comes with the outcome the pipeline owes it (:class:`Malformed`): ``"fail"`` (a row in
``failures`` whose reason contains ``reason``), ``"processed"`` (an odd but valid input the pipeline must
handle: it is ingested or enrolled), or ``"any"`` (damage a tolerant renderer may survive: either outcome,
but never lost and never a crash).

    generate_malformed(out, seed=0) -> summary dict
    out/inbox/doc-*.pdf               good synthetic scanned documents (``sigpipe.synth.generate``)
    out/inbox/bad-*.pdf               malformed PDFs (:func:`bad_pdfs`)
    out/references/<signer>/*         good references in odd modes (:func:`odd_images`) and broken images
                                      (:func:`bad_images`)
    out/manifest.csv                  claims on the good documents, on bad ones, and rows escaping the inbox
    out/expected.json                 {"files": [Malformed as dict], "good_documents": [...], ...}
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import struct
import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

__all__ = ["Malformed", "bad_pdfs", "odd_images", "bad_images", "escaping_manifest_rows", "generate_malformed",
           "HUGE_PAGE_PX"]

# The 20,000 x 20,000 px page: 7,200 pt square = 100 inches at 200 dpi (PDF allows up to 14,400 pt).
HUGE_PAGE_PX = 20_000
_HUGE_DPI = 200
_FIXED_ID = b"sigpipe-malformed"  # pypdf's /ID for encrypted files: fixed, so the bytes are reproducible


@dataclass(frozen=True)
class Malformed:
    """One generated input and what the pipeline owes it."""

    name: str     # path relative to the generator's output folder
    kind: str     # truncated | bitflip-structure | bitflip-stream | encrypted | ... (see the writers)
    expect: str   # fail | processed | any
    reason: str   # for "fail": a substring the failure reason must contain ("" = any non-empty reason)
    flow: str     # the flow that meets it: ingest (PDFs) | enroll (images)


# --------------------------------------------------------------------------------------------------- PDFs


def _flip(data: bytes, regions: Sequence[tuple[int, int]], n: int, rng: np.random.Generator) -> bytes:
    """Flip one random bit at ``n`` random offsets in each ``[lo, hi)`` region."""
    b = bytearray(data)
    for lo, hi in regions:
        if hi <= lo:
            continue
        for q in rng.integers(lo, hi, n):
            b[int(q)] ^= 1 << int(rng.integers(0, 8))
    return bytes(b)


def _blank_pdf(width_pt: float, height_pt: float, pages: int = 1) -> bytes:
    from pypdf import PdfWriter

    w = PdfWriter()
    for _ in range(pages):
        w.add_blank_page(width=width_pt, height=height_pt)
    buf = io.BytesIO()
    w.write(buf)
    return buf.getvalue()


def _encrypted(good: bytes, user_password: str, owner_password: str) -> bytes:
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import ArrayObject, ByteStringObject

    w = PdfWriter(clone_from=PdfReader(io.BytesIO(good)))
    fixed = ByteStringObject(_FIXED_ID)
    w._ID = ArrayObject([fixed, fixed])  # the RC4 key derives from the first id: fixed id, reproducible bytes
    w.encrypt(user_password=user_password, owner_password=owner_password, algorithm="RC4-128")
    w._ID = ArrayObject([fixed, fixed])  # encrypt() draws a random second id; only the first enters the key
    buf = io.BytesIO()
    w.write(buf)
    return buf.getvalue()


def _png_bytes(width: int, height: int) -> bytes:
    """A syntactically valid grey PNG whose header claims ``width x height`` with only a few rows of data."""
    def chunk(tag: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" + b"\xff" * min(width, 4096), 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def bad_pdfs(folder: Path, good: bytes, seed: int, prefix: str = "bad-") -> list[Malformed]:
    """Write malformed PDFs derived from ``good`` (the bytes of a valid image-only PDF) into ``folder``.

    Reasons are the ones :mod:`sigpipe.pdf` gives; names are ``<prefix><kind>.pdf``.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, 901])
    stream_start = good.find(b"stream\n")
    stream_end = good.rfind(b"endstream")
    if stream_start < 0 or stream_end < 0 or b"%%EOF" not in good[-64:]:
        raise ValueError("`good` must be an image-only PDF with one content stream per page and a %%EOF trailer")
    big = Image.new("L", (64, 64), 255)  # a small bitmap on a 7,200 pt page: large page box, tiny file
    buf = io.BytesIO()
    big.save(buf, "PDF", resolution=64 / (HUGE_PAGE_PX / _HUGE_DPI), creationDate=None, modDate=None,
             producer="sigpipe.synth")
    huge_pt = HUGE_PAGE_PX / _HUGE_DPI * 72
    files: list[tuple[str, bytes, str, str]] = [
        # (kind, bytes, expect, reason substring)
        ("empty", b"", "fail", "empty file"),
        ("text", b"Minutes of the meeting held on Tuesday.\n" * 20, "fail", "not a PDF"),
        ("png-renamed", _png_bytes(32, 32), "fail", "not a PDF"),
        ("html", b"<!doctype html><html><body>404 Not Found</body></html>\n", "fail", "not a PDF"),
        ("zip", b"PK\x03\x04" + bytes(rng.integers(0, 256, 512, dtype=np.uint8)), "fail", "not a PDF"),
        ("truncated", good[: len(good) // 2], "fail", "truncated"),
        ("truncated-head", good[: max(16, len(good) // 50)], "fail", "truncated"),
        # cut in the middle but given a new end marker: passes the cheap checks, poppler refuses the xref
        ("truncated-eof", good[: len(good) // 2] + b"\n%%EOF\n", "fail", "poppler cannot read it"),
        ("header-only", b"%PDF-1.7\n" + bytes(rng.integers(32, 127, 2048, dtype=np.uint8)) + b"\n%%EOF\n", "fail",
         "poppler cannot read it"),
        # bits flipped in the catalog, page tree, xref and trailer: no page can be found
        ("bitflip-structure", _flip(good, [(9, stream_start - 8), (stream_end, len(good) - 6)], 12, rng), "fail",
         ""),
        # bits flipped inside the image data: poppler renders a damaged page; either outcome is acceptable
        ("bitflip-stream", _flip(good, [(stream_start + 600, stream_end - 64)], 200, rng), "any", ""),
        ("encrypted", _encrypted(good, user_password="s3cret", owner_password="owner"), "fail", "encrypted"),
        # an owner password only: opens without one, so it is a readable document
        ("encrypted-owner-only", _encrypted(good, user_password="", owner_password="owner"), "processed", ""),
        ("zero-pages", _blank_pdf(100, 100, pages=0), "fail", "zero pages"),
        ("huge-page-blank", _blank_pdf(huge_pt, huge_pt), "fail", "Mpx > limit"),
        # 10,000 x 10,000 px at 200 dpi: 100 Mpx, just under sigpipe.pdf's limit, so it is rendered (memory test)
        ("large-page", _blank_pdf(huge_pt / 2, huge_pt / 2), "processed", ""),
        ("huge-page-image", buf.getvalue(), "fail", "Mpx > limit"),
    ]
    out = []
    for kind, data, expect, reason in files:
        name = f"{prefix}{kind}.pdf"
        (folder / name).write_bytes(data)
        out.append(Malformed(name=name, kind=kind, expect=expect, reason=reason, flow="ingest"))
    return out


# ------------------------------------------------------------------------------------------------- images


def odd_images(folder: Path, crop: np.ndarray, prefix: str = "odd-") -> list[Malformed]:
    """Write one signature ``crop`` ((H, W) uint8, ink dark) in every odd but valid mode an enrolment meets."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    grey = Image.fromarray(np.ascontiguousarray(crop, dtype=np.uint8))
    ink = crop < 128
    rgb = grey.convert("RGB")
    rgba = np.zeros((*crop.shape, 4), np.uint8)
    rgba[..., 3] = np.where(ink, 255, 0)  # black everywhere, ink opaque: alpha ignored = an all-black image
    la = np.stack([crop, np.where(ink, 255, 0).astype(np.uint8)], axis=-1)
    pal_t = grey.convert("P", palette=Image.Palette.ADAPTIVE, colors=8)
    white = int(np.asarray(pal_t)[~ink].max()) if (~ink).any() else 0  # the paper's palette index
    writers = [
        ("1bit.png", lambda p: grey.point(lambda v: 255 if v >= 128 else 0).convert("1", dither=Image.Dither.NONE)
         .save(p)),
        ("palette.png", lambda p: rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=16).save(p)),
        ("palette-transparent.png", lambda p: pal_t.save(p, transparency=white)),
        ("rgba.png", lambda p: Image.fromarray(rgba, "RGBA").save(p)),
        ("la.png", lambda p: Image.fromarray(la, "LA").save(p)),
        ("grey16.png", lambda p: Image.fromarray(crop.astype(np.uint16) * 257).save(p)),
        ("grey16.tif", lambda p: Image.fromarray(crop.astype(np.uint16) * 257).save(p)),
        ("float.tif", lambda p: Image.fromarray(crop.astype(np.float32) / 255.0, "F").save(p)),
        ("cmyk.tif", lambda p: rgb.convert("CMYK").save(p)),
        ("cmyk.jpg", lambda p: rgb.convert("CMYK").save(p, quality=92)),
        ("rotated-exif.jpg", lambda p: _exif_rotated(grey, p)),
    ]
    out = []
    for suffix, write in writers:
        name = f"{prefix}{suffix}"
        write(folder / name)
        out.append(Malformed(name=name, kind=f"image-{Path(suffix).stem}", expect="processed", reason="",
                             flow="enroll"))
    return out


def _exif_rotated(grey: Image.Image, path: Path) -> None:
    """Stored rotated by 90 degrees with EXIF orientation 6 (display = rotate back): a phone photo."""
    exif = Image.Exif()
    exif[0x0112] = 6
    grey.transpose(Image.Transpose.ROTATE_90).save(path, quality=92, exif=exif.tobytes())


def bad_images(folder: Path, crop: np.ndarray, seed: int, prefix: str = "bad-") -> list[Malformed]:
    """Write broken image files with image names; reasons are :func:`sigpipe.clean.load_image`'s."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, 902])
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(crop, dtype=np.uint8)).save(buf, "PNG")
    png = buf.getvalue()
    files = [
        ("empty.png", b"", "empty file"),
        ("text.png", b"this is not an image\n" * 10, "not a readable image"),
        ("pdf-renamed.jpg", _blank_pdf(200, 100), "not a readable image"),
        ("truncated.png", png[: len(png) // 2], "cannot decode image"),
        ("garbage.tif", b"II*\x00" + bytes(rng.integers(0, 256, 256, dtype=np.uint8)), "image"),
        # the header claims 20,000 x 20,000 px (400 Mpx): refused before any pixel is allocated
        ("bomb.png", _png_bytes(HUGE_PAGE_PX, HUGE_PAGE_PX), "DecompressionBomb"),
    ]
    out = []
    for suffix, data, reason in files:
        name = f"{prefix}{suffix}"
        (folder / name).write_bytes(data)
        out.append(Malformed(name=name, kind=f"image-{Path(suffix).stem}", expect="fail", reason=reason,
                             flow="enroll"))
    return out


def escaping_manifest_rows(signer_id: str) -> list[tuple[str, str, str]]:
    """Audit manifest rows ``(document, signer_id, page)`` whose paths leave the inbox: all must be refused."""
    return [("../manifest.csv", signer_id, ""), ("/etc/passwd", signer_id, ""),
            ("sub/../../references/x.pdf", signer_id, ""), ("link-out.pdf", signer_id, "")]


# ------------------------------------------------------------------------------------------------ the set


def generate_malformed(out: Path, seed: int = 0, good_documents: int = 4, signers: int = 3, dpi: int = 100,
                       references_per_signer: int = 5, overwrite: bool = False) -> dict:
    """Good synthetic documents and references (``sigpipe.synth.generate``) mixed with malformed ones.

    The bad PDFs are derived from the first good document; the odd and broken images go to a signer folder
    of their own (``ODD``, ``BAD``) so they never dilute a real signer's references. ``link-out.pdf`` in the
    inbox is a symlink to a PDF outside it. Returns a summary; ``out/expected.json`` holds the same.
    """
    from sigpipe.synth.dataset import generate, make_signers
    from sigpipe.synth.signers import signature_crop

    out = Path(out)
    summary = generate(out, signers=signers, documents=good_documents, seed=seed, dpi=dpi,
                       references_per_signer=references_per_signer, genuine_per_signer=0, forged_per_signer=0,
                       overwrite=overwrite)
    for extra in ("expected.json", "outside"):
        p = out / extra
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()
    inbox, refs = out / "inbox", out / "references"
    good_docs = sorted(p.name for p in inbox.glob("*.pdf"))
    files = [Malformed(name=f"inbox/{m.name}", kind=m.kind, expect=m.expect, reason=m.reason, flow=m.flow)
             for m in bad_pdfs(inbox, (inbox / good_docs[0]).read_bytes(), seed)]
    crop = signature_crop(make_signers(1, seed + 7001)[0], np.random.default_rng([seed, 903]), dpi=dpi)
    files += [Malformed(name=f"references/ODD/{m.name}", kind=m.kind, expect=m.expect, reason=m.reason, flow=m.flow)
              for m in odd_images(refs / "ODD", crop)]
    files += [Malformed(name=f"references/BAD/{m.name}", kind=m.kind, expect=m.expect, reason=m.reason, flow=m.flow)
              for m in bad_images(refs / "BAD", crop, seed)]
    outside = out / "outside"
    outside.mkdir()
    # a valid PDF unlike any in the inbox (a comment after the trailer), so a leak would show as a new document
    (outside / "secret.pdf").write_bytes((inbox / good_docs[0]).read_bytes() + b"%outside the inbox\n")
    (inbox / "link-out.pdf").unlink(missing_ok=True)
    (inbox / "link-out.pdf").symlink_to(Path("..") / "outside" / "secret.pdf")
    # claims: the good ones from generate(), one on each bad PDF (dropped: the file is in failures), and
    # rows whose paths escape the inbox (refused into failures)
    with open(out / "manifest.csv", "a", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        first_signer = "S0001"
        w.writerows((m.name.removeprefix("inbox/"), first_signer, "") for m in files if m.flow == "ingest")
        w.writerows(escaping_manifest_rows(first_signer))
    result = {**summary, "good_documents": good_docs, "files": [asdict(m) for m in files],
              "escaping_rows": [r[0] for r in escaping_manifest_rows("S0001")],
              "symlink_out": "inbox/link-out.pdf"}
    (out / "expected.json").write_text(json.dumps(result, indent=1) + "\n")
    return result
