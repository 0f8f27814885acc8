"""PDF -> greyscale page images, one bounded chunk at a time. The only module that knows the renderer.

poppler (through pdf2image) renders; ``pdfinfo`` is asked first for the page count, encryption and every
page's size, so bad files are refused with a typed error before any pixel is rendered:

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
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "DEFAULT_DPI", "DEFAULT_MAX_PIXELS", "PDFError", "NotAPDFError", "CorruptPDFError", "EncryptedPDFError",
    "EmptyPDFError", "PageTooLargeError", "PDFInfo", "PageImage", "inspect_pdf", "iter_pages", "sha256_file",
    "PAGE_IMAGE_EXT", "encode_page", "decode_page",
]

DEFAULT_DPI = 200
# 120 Mpx: an A0 sheet at 300 dpi is ~140 Mpx; an A3 at 600 dpi ~70 Mpx. One uint8 page this size is 120 MB.
DEFAULT_MAX_PIXELS = 120_000_000
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


def inspect_pdf(path: str | Path, dpi: int = DEFAULT_DPI, max_pixels: int = DEFAULT_MAX_PIXELS) -> PDFInfo:
    """Check a PDF before rendering: raises a :class:`PDFError` subclass naming the file and the reason."""
    path = Path(path)
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
    out = _pdfinfo(path)
    m = re.search(r"^Pages:\s+(\d+)", out, re.M)
    if not m:
        raise CorruptPDFError(path, "poppler reports no page count")
    n_pages = int(m.group(1))
    if n_pages == 0:
        raise EmptyPDFError(path, "the PDF has zero pages")
    sizes_out = _pdfinfo(path, "-f", "1", "-l", str(n_pages))
    sizes = {int(p): (float(w), float(h)) for p, w, h in _SIZE.findall(sizes_out)}
    rots = {int(p): int(r) for p, r in _ROT.findall(sizes_out)}
    page_sizes = []
    for p in range(1, n_pages + 1):
        if p not in sizes:
            raise CorruptPDFError(path, f"page {p} has no size")
        w, h = sizes[p]
        if rots.get(p, 0) % 180 == 90:
            w, h = h, w
        px = (w * dpi / 72.0) * (h * dpi / 72.0)
        if px > max_pixels:
            raise PageTooLargeError(
                path, f"page {p} is {w * dpi / 72:.0f} x {h * dpi / 72:.0f} px at {dpi} dpi "
                f"({px / 1e6:.0f} Mpx > limit {max_pixels / 1e6:.0f} Mpx)")
        page_sizes.append((w, h))
    return PDFInfo(path=path, sha256=sha256_file(path), size_bytes=size, n_pages=n_pages,
                   page_sizes_pt=tuple(page_sizes))


def iter_pages(path: str | Path, dpi: int = DEFAULT_DPI, max_pixels: int = DEFAULT_MAX_PIXELS,
               chunk: int = 4, info: PDFInfo | None = None) -> Iterator[PageImage]:
    """Yield greyscale pages one at a time, rendering ``chunk`` pages per poppler call.

    At most ``chunk`` pages are in memory, so a 1,000-page PDF never sits in memory whole. Pass the
    ``info`` from :func:`inspect_pdf` to skip a second inspection.
    """
    from pdf2image import convert_from_path
    from pdf2image.exceptions import (
        PDFInfoNotInstalledError,
        PDFPageCountError,
        PDFPopplerTimeoutError,
        PDFSyntaxError,
    )

    path = Path(path)
    info = info or inspect_pdf(path, dpi=dpi, max_pixels=max_pixels)
    for first in range(1, info.n_pages + 1, chunk):
        last = min(first + chunk - 1, info.n_pages)
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


def decode_page(data: bytes | Path) -> np.ndarray:
    """JPEG bytes or a stored page file -> (H, W) uint8."""
    import cv2

    if isinstance(data, Path | str):
        data = Path(data).read_bytes()
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
    if img is None:
        raise ValueError("cannot decode page image")
    return img
