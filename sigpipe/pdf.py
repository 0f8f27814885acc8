"""PDF -> greyscale page images, one bounded chunk at a time. The only module that knows the renderer.

poppler (through pdf2image) renders; ``pdfinfo`` is asked first for the page count, encryption and every
page's size, so bad files are refused with a typed error before any pixel is rendered. A file of scanned pages
only (one complete full-page JPEG each, read by pypdf in strict mode) renders nothing and skips ``pdfinfo``:
:func:`inspect_pages`. The errors:

- :class:`NotAPDFError`      the bytes are not a PDF (no ``%PDF-`` header), or the file is empty
- :class:`CorruptPDFError`   truncated (no ``%%EOF`` near the end) or poppler cannot parse it
- :class:`EncryptedPDFError` needs a password to open
- :class:`EmptyPDFError`     zero pages
- :class:`PageTooLargeError` a page would exceed the pixel limit at the requested dpi (decompression bomb)
"""

from __future__ import annotations

import hashlib
import re
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "DEFAULT_DPI", "DEFAULT_MAX_PIXELS", "PDFError", "NotAPDFError", "CorruptPDFError", "EncryptedPDFError",
    "EmptyPDFError", "PageTooLargeError", "PDFInfo", "PageImage", "inspect_pdf", "iter_pages", "sha256_file",
    "PAGE_IMAGE_EXT", "encode_page", "decode_page", "reduction_for", "PageBlob", "scanned_page_jpegs",
    "inspect_pages", "iter_page_blobs",
]

DEFAULT_DPI = 200
# 120 Mpx: an A0 sheet at 300 dpi is ~140 Mpx; an A3 at 600 dpi ~70 Mpx. One uint8 page this size is 120 MB.
DEFAULT_MAX_PIXELS = 120_000_000
_MAX_PAGES = 1_000_000  # pdfinfo's -l for "every page"
_TIMEOUT_S = 120  # poppler on a pathological page; a hung renderer must not hang the batch


class PDFError(ValueError):
    """A PDF that cannot be turned into pages; ``path`` and ``reason`` say which and why."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class NotAPDFError(PDFError):
    pass


class CorruptPDFError(PDFError):
    pass


class EncryptedPDFError(PDFError):
    pass


class EmptyPDFError(PDFError):
    pass


class PageTooLargeError(PDFError):
    pass


@dataclass(frozen=True)
class PDFInfo:
    path: Path
    sha256: str
    size_bytes: int
    n_pages: int
    page_sizes_pt: tuple[tuple[float, float], ...]  # (width, height) in points per page, rotation applied


@dataclass(frozen=True)
class PageImage:
    doc_sha256: str
    page: int            # 1-based
    image: np.ndarray    # (H, W) uint8, 0 = black ink, 255 = white paper
    dpi: int

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        return int(self.image.shape[0])


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


_SIZE = re.compile(r"^Page\s+(\d+)\s+size:\s+([\d.]+)\s+x\s+([\d.]+)\s+pts", re.M)
_ROT = re.compile(r"^Page\s+(\d+)\s+rot:\s+(\d+)", re.M)


def _pdfinfo(path: Path, *args: str) -> str:
    try:
        proc = subprocess.run(["pdfinfo", *args, str(path)], capture_output=True, text=True, timeout=_TIMEOUT_S)
    except FileNotFoundError as e:  # a missing system package is not the file's fault: let it propagate
        raise RuntimeError("pdfinfo not found: install poppler-utils (the README's set-up command does)") from e
    except subprocess.TimeoutExpired as e:
        raise CorruptPDFError(path, f"pdfinfo took longer than {_TIMEOUT_S} s") from e
    if proc.returncode != 0:
        err = proc.stderr.strip().splitlines()
        msg = err[-1] if err else f"exit code {proc.returncode}"
        if "password" in proc.stderr.lower() or "encrypt" in proc.stderr.lower():
            raise EncryptedPDFError(path, "encrypted: a password is needed to open it")
        if "last page (0)" in proc.stderr:  # poppler's words for a document with no pages
            raise EmptyPDFError(path, "the PDF has zero pages")
        raise CorruptPDFError(path, f"poppler cannot read it ({msg})")
    return proc.stdout


def _precheck(path: Path) -> int:
    """The cheap checks before any parser sees the file (header, end marker) -> its size in bytes."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(1024)
            f.seek(max(0, size - 2048))
            tail = f.read()
    except OSError as e:
        raise NotAPDFError(path, f"cannot read the file ({e.strerror or e})") from e
    if size == 0:
        raise NotAPDFError(path, "empty file (0 bytes)")
    if b"%PDF-" not in head:
        raise NotAPDFError(path, "not a PDF (no %PDF- header)")
    if b"%%EOF" not in tail:
        raise CorruptPDFError(path, "truncated (no %%EOF marker at the end of the file)")
    return size


def _check_pixels(path: Path, page: int, w_pt: float, h_pt: float, dpi: int, max_pixels: int) -> None:
    """Refuse a page that would be larger than ``max_pixels`` rendered at ``dpi`` (bounds memory)."""
    px = (w_pt * dpi / 72.0) * (h_pt * dpi / 72.0)
    if px > max_pixels:
        raise PageTooLargeError(
            path, f"page {page} is {w_pt * dpi / 72:.0f} x {h_pt * dpi / 72:.0f} px at {dpi} dpi "
            f"({px / 1e6:.0f} Mpx > limit {max_pixels / 1e6:.0f} Mpx)")


def inspect_pdf(path: str | Path, dpi: int = DEFAULT_DPI, max_pixels: int = DEFAULT_MAX_PIXELS,
                sha256: str | None = None) -> PDFInfo:
    """Check a PDF before rendering: raises a :class:`PDFError` subclass naming the file and the reason.

    ``sha256``: the file's hash when the caller already has it (ingest hashed the inbox), to skip re-reading.
    """
    path = Path(path)
    size = _precheck(path)
    # one pdfinfo call for the page count and every page's size: poppler clamps -l to the last page
    sizes_out = _pdfinfo(path, "-f", "1", "-l", str(_MAX_PAGES))
    m = re.search(r"^Pages:\s+(\d+)", sizes_out, re.M)
    if not m:
        raise CorruptPDFError(path, "poppler reports no page count")
    n_pages = int(m.group(1))
    if n_pages == 0:
        raise EmptyPDFError(path, "the PDF has zero pages")
    sizes = {int(p): (float(w), float(h)) for p, w, h in _SIZE.findall(sizes_out)}
    rots = {int(p): int(r) for p, r in _ROT.findall(sizes_out)}
    page_sizes = []
    for p in range(1, n_pages + 1):
        if p not in sizes:
            raise CorruptPDFError(path, f"page {p} has no size")
        w, h = sizes[p]
        if rots.get(p, 0) % 180 == 90:
            w, h = h, w
        _check_pixels(path, p, w, h, dpi, max_pixels)
        page_sizes.append((w, h))
    return PDFInfo(path=path, sha256=sha256 or sha256_file(path), size_bytes=size, n_pages=n_pages,
                   page_sizes_pt=tuple(page_sizes))


def iter_pages(path: str | Path, dpi: int = DEFAULT_DPI, max_pixels: int = DEFAULT_MAX_PIXELS,
               chunk: int = 4, info: PDFInfo | None = None) -> Iterator[PageImage]:
    """Yield greyscale pages one at a time, rendering ``chunk`` pages per poppler call.

    At most ``chunk`` pages are in memory, so a 1,000-page PDF never sits in memory whole. Pass the
    ``info`` from :func:`inspect_pdf` to skip a second inspection.
    """
    path = Path(path)
    info = info or inspect_pdf(path, dpi=dpi, max_pixels=max_pixels)
    yield from _render_range(path, dpi, 1, info.n_pages, info, chunk)


def _render_range(path: Path, dpi: int, first_page: int, last_page: int, info: PDFInfo,
                  chunk: int = 4) -> Iterator[PageImage]:
    """Pages ``first_page..last_page`` rendered by poppler, ``chunk`` pages per call."""
    from pdf2image import convert_from_path
    from pdf2image.exceptions import (
        PDFInfoNotInstalledError,
        PDFPageCountError,
        PDFPopplerTimeoutError,
        PDFSyntaxError,
    )

    for first in range(first_page, last_page + 1, chunk):
        last = min(first + chunk - 1, last_page)
        try:
            # PPM/PGM output: PNG of scan noise is 30x slower to encode (shared/STACK.md).
            images = convert_from_path(path, dpi=dpi, first_page=first, last_page=last, grayscale=True,
                                       fmt="ppm", thread_count=1, timeout=_TIMEOUT_S)
        except PDFInfoNotInstalledError as e:
            raise RuntimeError("poppler is not installed (the README's set-up command installs it)") from e
        except (PDFPageCountError, PDFSyntaxError, PDFPopplerTimeoutError) as e:
            raise CorruptPDFError(path, f"pages {first}-{last} cannot be rendered ({e})") from e
        if len(images) != last - first + 1:
            raise CorruptPDFError(path, f"poppler rendered {len(images)} of pages {first}-{last}")
        for k, im in enumerate(images):
            arr = np.asarray(im.convert("L") if im.mode != "L" else im, dtype=np.uint8)
            if arr.size == 0:
                raise CorruptPDFError(path, f"page {first + k} rendered empty")
            yield PageImage(doc_sha256=info.sha256, page=first + k, image=arr, dpi=dpi)
        del images


# Page images are stored as greyscale JPEG: ~15 ms to encode a 200-dpi A4 page, where PNG of scan noise
# takes ~2 s (shared/STACK.md). Quality 90 keeps thin strokes; detection and cleaning work from these files.
PAGE_IMAGE_EXT = ".jpg"
_JPEG_QUALITY = 90


def encode_page(image: np.ndarray, quality: int = _JPEG_QUALITY) -> bytes:
    """(H, W) uint8 page -> JPEG bytes."""
    import cv2

    ok, buf = cv2.imencode(PAGE_IMAGE_EXT, image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError(f"cannot encode a page of shape {image.shape} as JPEG")
    return buf.tobytes()


def encode_png(image: np.ndarray) -> bytes:
    """(H, W) uint8 image -> PNG bytes (lossless: what is read back is what was written)."""
    import cv2

    ok, buf = cv2.imencode(".png", image)
    if not ok:
        raise ValueError(f"cannot encode an image of shape {image.shape} as PNG")
    return buf.tobytes()


def decode_page(data: bytes | Path, reduce: int = 1) -> np.ndarray:
    """JPEG bytes or a stored page file -> (H, W) uint8; ``reduce`` 2, 4 or 8 decodes straight to 1/reduce size.

    A reduced decode scales in the JPEG's DCT domain: ~4x faster than decoding whole and resizing, which is
    how the detector's small input is made. EXIF orientation is ignored: a PDF draws the image as stored.
    """
    import cv2

    flags = {1: cv2.IMREAD_GRAYSCALE, 2: cv2.IMREAD_REDUCED_GRAYSCALE_2, 4: cv2.IMREAD_REDUCED_GRAYSCALE_4,
             8: cv2.IMREAD_REDUCED_GRAYSCALE_8}
    if reduce not in flags:
        raise ValueError(f"reduce must be one of {sorted(flags)}, got {reduce}")
    if isinstance(data, Path | str):
        data = Path(data).read_bytes()
    img = cv2.imdecode(np.frombuffer(data, np.uint8), flags[reduce] | cv2.IMREAD_IGNORE_ORIENTATION)
    if img is None:
        raise ValueError("cannot decode page image")
    return img


def reduction_for(height: int, width: int, min_side: int) -> int:
    """The largest JPEG decode reduction (1, 2, 4, 8) that keeps the page's long side >= ``min_side`` px."""
    long_side = max(height, width)
    for r in (8, 4, 2):
        if long_side // r >= min_side:
            return r
    return 1


# ------------------------------------------------------------------------------------------- scanned pages


@dataclass(frozen=True)
class PageBlob:
    """One page as stored in the lake: greyscale-decodable JPEG bytes and the page's size in pixels."""

    page: int            # 1-based
    data: bytes
    width: int
    height: int
    passthrough: bool    # the scan's own JPEG, taken from the PDF unchanged (no render, no re-encode)


def _jpeg_size(data: bytes) -> tuple[int, int, int] | None:
    """(height, width, components) from a baseline/progressive JPEG's SOF marker, or None."""
    if data[:2] != b"\xff\xd8":
        return None
    i, n = 2, len(data)
    while i + 4 <= n:
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        seg = int.from_bytes(data[i + 2:i + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            if i + 10 > n:
                return None
            return (int.from_bytes(data[i + 5:i + 7], "big"), int.from_bytes(data[i + 7:i + 9], "big"), data[i + 9])
        i += 2 + seg
    return None


def _full_page_jpeg(reader: Any, page: Any, dpi: int, tol: float) -> bytes | None:
    """The page's JPEG when the page is exactly one 8-bit grey/RGB DCT image drawn over the whole unrotated
    page at ``dpi`` (how scanners and img2pdf write pages); None for anything else."""
    from pypdf.generic import ContentStream

    if int(page.get("/Rotate", 0) or 0) % 360 != 0:
        return None
    box = [float(v) for v in page.mediabox]
    if [float(v) for v in page.cropbox] != box:
        return None
    xobjects = page.get("/Resources", {}).get("/XObject", {})
    if len(xobjects) != 1:
        return None
    contents = page.get_contents()
    if contents is None:
        return None
    parsed = ContentStream(contents, reader).operations
    ops = {op: list(args) for args, op in parsed}
    names = [op for _, op in parsed]
    if names not in ([b"q", b"cm", b"Do", b"Q"], [b"cm", b"Do"]):
        return None
    a, b, c, d, e, f = (float(v) for v in ops[b"cm"])
    (name, obj), = xobjects.items()
    if ops[b"Do"] != [name]:
        return None
    w_pt, h_pt = box[2] - box[0], box[3] - box[1]
    if b or c or abs(a - w_pt) > 0.5 or abs(d - h_pt) > 0.5 or abs(e - box[0]) > 0.5 or abs(f - box[1]) > 0.5:
        return None
    img = obj.get_object()
    filt = img.get("/Filter")
    filt = list(filt) if isinstance(filt, list) else [filt]
    if (img.get("/Subtype") != "/Image" or filt != ["/DCTDecode"] or img.get("/BitsPerComponent") != 8
            or img.get("/ColorSpace") not in ("/DeviceGray", "/DeviceRGB")
            or any(k in img for k in ("/Decode", "/SMask", "/Mask", "/ImageMask", "/DecodeParms"))):
        return None
    width, height = int(img["/Width"]), int(img["/Height"])
    if abs(width / (w_pt / 72.0) - dpi) > tol * dpi or abs(height / (h_pt / 72.0) - dpi) > tol * dpi:
        return None
    data = img._data  # the stream as stored: for a sole DCTDecode filter, the JPEG file itself
    size = _jpeg_size(data)
    channels = 1 if img["/ColorSpace"] == "/DeviceGray" else 3
    if size != (height, width, channels) or data.rstrip(b"\0\t\n\r ")[-2:] != b"\xff\xd9":
        return None  # not the image the page claims, or cut short (no end-of-image marker): poppler renders it
    return bytes(data)


_Read = tuple[list[bytes | None], list[list[float]]]  # per page: the scan's own JPEG or None; the media box


def _read_pages(path: Path, dpi: int, strict: bool, tol: float = 0.01) -> _Read | None:
    """Per page the scan's own JPEG (or None) and the page's media box, as pypdf reads the file (``strict``: it
    must read without complaint); None when it cannot, or the file is encrypted (the renderer judges those)."""
    try:
        from pypdf import PdfReader

        reader = PdfReader(str(path), strict=strict)
        if reader.is_encrypted:
            return None
        pages = list(reader.pages)
        return [_full_page_jpeg(reader, p, dpi, tol) for p in pages], [[float(v) for v in p.mediabox] for p in pages]
    except Exception:  # noqa: BLE001 - any parsing trouble: fall back to the renderer, which names the error
        return None


def scanned_page_jpegs(path: str | Path, n_pages: int, dpi: int, tol: float = 0.01) -> list[bytes | None]:
    """Per page, the scan's own JPEG when the page is one full-page JPEG image at ``dpi`` (within ``tol``),
    else None (that page is rendered by poppler). Never raises: a file pypdf cannot read is poppler's."""
    read = _read_pages(Path(path), dpi, strict=False, tol=tol)
    return read[0] if read is not None and len(read[0]) == n_pages else [None] * n_pages


def inspect_pages(path: str | Path, dpi: int = DEFAULT_DPI, max_pixels: int = DEFAULT_MAX_PIXELS,
                  sha256: str | None = None, passthrough: bool = True) -> tuple[PDFInfo, list[bytes | None]]:
    """:func:`inspect_pdf` and :func:`scanned_page_jpegs` in one: ``(info, per page the scan's own JPEG or
    None)``; raises a :class:`PDFError` subclass naming the file and the reason.

    A file of scanned pages only (one complete full-page JPEG per page, as scanners and img2pdf write them)
    that pypdf reads in strict mode is not shown to poppler at all: nothing of it will be rendered, and
    pdfinfo's process was about half of ingest's time. Anything else (a page to render, encryption, a
    structure pypdf has to repair, a JPEG cut short) goes through poppler's ``pdfinfo`` as before; the pages
    pypdf already read are not parsed again.
    """
    path = Path(path)
    read = None
    if passthrough:
        size = _precheck(path)
        read = _read_pages(path, dpi, strict=True)
        if read is not None and read[0] and all(j is not None for j in read[0]):
            jpegs, boxes = read
            sizes = [(x1 - x0, y1 - y0) for x0, y0, x1, y1 in boxes]
            for p, (w, h) in enumerate(sizes, 1):
                _check_pixels(path, p, w, h, dpi, max_pixels)
            return PDFInfo(path=path, sha256=sha256 or sha256_file(path), size_bytes=size, n_pages=len(sizes),
                           page_sizes_pt=tuple(sizes)), jpegs
    info = inspect_pdf(path, dpi=dpi, max_pixels=max_pixels, sha256=sha256)
    if not passthrough:
        return info, [None] * info.n_pages
    if read is not None:  # pypdf's strict read stands: only its page count must agree with poppler's
        return info, read[0] if len(read[0]) == info.n_pages else [None] * info.n_pages
    return info, scanned_page_jpegs(path, info.n_pages, dpi)  # pypdf may still read a file it has to repair


def iter_page_blobs(path: str | Path, dpi: int = DEFAULT_DPI, max_pixels: int = DEFAULT_MAX_PIXELS,
                    info: PDFInfo | None = None, passthrough: bool = True,
                    own: Sequence[bytes | None] | None = None) -> Iterator[PageBlob]:
    """Yield every page as stored JPEG bytes: a scanned page's own JPEG when it is drawn over the whole page at
    ``dpi`` (bit-exact, no render, no generational loss), poppler's render encoded as JPEG otherwise.

    ``info`` and ``own``: what :func:`inspect_pages` returned, to skip inspecting the file again."""
    path = Path(path)
    if info is None:
        info, own = inspect_pages(path, dpi=dpi, max_pixels=max_pixels, passthrough=passthrough)
    elif own is None:
        own = scanned_page_jpegs(path, info.n_pages, dpi) if passthrough else [None] * info.n_pages
    if len(own) != info.n_pages:
        raise ValueError(f"{len(own)} page JPEGs for {info.n_pages} pages")
    k = 0
    while k < info.n_pages:
        if own[k] is not None:
            h, w, _ = _jpeg_size(own[k])
            yield PageBlob(page=k + 1, data=own[k], width=w, height=h, passthrough=True)
            k += 1
            continue
        end = k  # a run of pages to render in one poppler call
        while end < info.n_pages and own[end] is None:
            end += 1
        for pg in _render_range(path, dpi, k + 1, end, info):
            yield PageBlob(page=pg.page, data=encode_page(pg.image), width=pg.width, height=pg.height,
                           passthrough=False)
        k = end
