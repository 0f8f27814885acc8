from __future__ import annotations

import types

import numpy as np
import pytest
from pypdf import PdfWriter

from sigpipe import pdf


def test_pages_one_at_a_time_with_size_dpi_and_hash(make_pdf):
    path = make_pdf("three.pdf", [(850, 1100), (1100, 850), (850, 1100)], dpi=100)
    info = pdf.inspect_pdf(path, dpi=200)
    assert info.n_pages == 3 and info.sha256 == pdf.sha256_file(path) and len(info.sha256) == 64
    it = pdf.iter_pages(path, dpi=200, chunk=1, info=info)
    assert isinstance(it, types.GeneratorType)
    pages = list(it)
    assert [p.page for p in pages] == [1, 2, 3]
    # 8.5 x 11 in at 200 dpi, the landscape page rotated accordingly
    assert (pages[0].width, pages[0].height) == (1700, 2200)
    assert (pages[1].width, pages[1].height) == (2200, 1700)
    for p in pages:
        assert p.image.dtype == np.uint8 and p.image.ndim == 2 and p.dpi == 200 and p.doc_sha256 == info.sha256
        assert p.image.min() < 50 and np.median(p.image) > 200  # the ink bar and the paper survive


def test_dpi_is_configurable(make_pdf):
    path = make_pdf("one.pdf", [(850, 1100)], dpi=100)
    (page,) = pdf.iter_pages(path, dpi=72)
    assert (page.width, page.height) == (612, 792)


def test_encode_decode_page_roundtrip():
    img = np.full((300, 200), 240, np.uint8)
    img[100:120, 50:150] = 10
    data = pdf.encode_page(img)
    assert data[:3] == b"\xff\xd8\xff"  # JPEG, not PNG of scan noise
    back = pdf.decode_page(data)
    assert back.shape == img.shape and np.abs(back.astype(int) - img).max() < 12


def test_not_a_pdf(tmp_path):
    p = tmp_path / "letter.pdf"
    p.write_text("Dear sir, this is not a PDF at all.")
    with pytest.raises(pdf.NotAPDFError, match="letter.pdf.*not a PDF"):
        pdf.inspect_pdf(p)


def test_empty_file(tmp_path):
    p = tmp_path / "empty.pdf"
    p.write_bytes(b"")
    with pytest.raises(pdf.NotAPDFError, match="empty"):
        pdf.inspect_pdf(p)


def test_truncated(make_pdf):
    path = make_pdf("t.pdf", [(850, 1100)])
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(pdf.CorruptPDFError, match="t.pdf.*truncated"):
        pdf.inspect_pdf(path)


def test_garbage_after_header_is_corrupt(tmp_path):
    p = tmp_path / "junk.pdf"
    p.write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 40 + b"\n%%EOF\n")
    with pytest.raises(pdf.CorruptPDFError, match="junk.pdf"):
        pdf.inspect_pdf(p)


def test_encrypted(make_pdf, tmp_path):
    src = make_pdf("plain.pdf", [(850, 1100)])
    w = PdfWriter(clone_from=src)
    w.encrypt(user_password="secret", owner_password="owner", algorithm="AES-128")
    enc = tmp_path / "locked.pdf"
    with open(enc, "wb") as f:
        w.write(f)
    with pytest.raises(pdf.EncryptedPDFError, match="locked.pdf.*password"):
        pdf.inspect_pdf(enc)


def test_zero_pages(tmp_path):
    p = tmp_path / "zero.pdf"
    with open(p, "wb") as f:
        PdfWriter().write(f)
    with pytest.raises(pdf.EmptyPDFError, match="zero.pdf.*zero pages"):
        pdf.inspect_pdf(p)


def test_huge_page_refused_before_rendering(tmp_path):
    w = PdfWriter()
    w.add_blank_page(width=7200, height=7200)  # 100 x 100 inches: 20,000 x 20,000 px at 200 dpi
    p = tmp_path / "bomb.pdf"
    with open(p, "wb") as f:
        w.write(f)
    with pytest.raises(pdf.PageTooLargeError, match=r"bomb.pdf.*page 1 is 20000 x 20000 px"):
        list(pdf.iter_pages(p, dpi=200))
    # the same page at a low dpi under the limit is fine
    assert pdf.inspect_pdf(p, dpi=10).n_pages == 1


def test_error_carries_path_and_reason(tmp_path):
    p = tmp_path / "x.pdf"
    p.write_bytes(b"nope")
    with pytest.raises(pdf.PDFError) as e:
        pdf.inspect_pdf(p)
    assert e.value.path == str(p) and "not a PDF" in e.value.reason


# --------------------------------------------------------------------------- scanned pages stored as they are


def _scan(make_pdf, tmp_path, name="scan.pdf", sizes=((1700, 2200),), dpi=200):
    """A scanner-style PDF: each page one full-page greyscale JPEG at ``dpi`` (what PIL and img2pdf write)."""
    return make_pdf(name, list(sizes), dpi=dpi)


def test_scanned_jpeg_pages_are_stored_unchanged_and_match_poppler(make_pdf, tmp_path):
    path = _scan(make_pdf, tmp_path, sizes=((1700, 2200), (2200, 1700)))
    blobs = list(pdf.iter_page_blobs(path, dpi=200))
    assert [b.page for b in blobs] == [1, 2] and all(b.passthrough for b in blobs)
    assert [(b.width, b.height) for b in blobs] == [(1700, 2200), (2200, 1700)]
    own = pdf.scanned_page_jpegs(path, 2, 200)
    assert [b.data for b in blobs] == own and own[0][:2] == b"\xff\xd8"
    # the same pixels poppler renders, bar its resampling at stroke edges
    for blob, page in zip(blobs, pdf.iter_pages(path, dpi=200), strict=True):
        ours = pdf.decode_page(blob.data)
        assert ours.shape == page.image.shape
        assert np.abs(ours.astype(int) - page.image).mean() < 3


def test_pages_not_drawn_at_the_asked_dpi_are_rendered_by_poppler(make_pdf, tmp_path):
    path = _scan(make_pdf, tmp_path, sizes=((1700, 2200),), dpi=200)
    (blob,) = pdf.iter_page_blobs(path, dpi=100)
    assert not blob.passthrough and (blob.width, blob.height) == (850, 1100)
    assert pdf.decode_page(blob.data).shape == (1100, 850)
    (forced,) = pdf.iter_page_blobs(path, dpi=200, passthrough=False)
    assert not forced.passthrough and (forced.width, forced.height) == (1700, 2200)


def test_rotated_or_composed_pages_fall_back_to_poppler(make_pdf, tmp_path):
    path = _scan(make_pdf, tmp_path, sizes=((1700, 2200), (1700, 2200), (1700, 2200)))
    w = PdfWriter(clone_from=str(path))
    w.pages[0].rotate(90)                       # /Rotate: poppler turns the page
    w.pages[1].merge_page(w.pages[2])           # two images drawn on one page
    out = tmp_path / "mixed.pdf"
    w.write(out)
    blobs = list(pdf.iter_page_blobs(out, dpi=200))
    assert [b.passthrough for b in blobs] == [False, False, True]
    assert (blobs[0].width, blobs[0].height) == (2200, 1700)  # rotated by the renderer


def test_unparseable_structure_falls_back_instead_of_raising(tmp_path):
    p = tmp_path / "junk.pdf"
    p.write_bytes(b"%PDF-1.4\n garbage \n%%EOF\n")
    assert pdf.scanned_page_jpegs(p, 1, 200) == [None]


def test_reduced_decode_and_reduction_choice():
    img = np.full((2339, 1654), 250, np.uint8)
    img[1000:1100, 400:900] = 0
    data = pdf.encode_page(img)
    assert pdf.reduction_for(2339, 1654, 416) == 4       # 585 >= 416 > 292
    assert pdf.reduction_for(2339, 1654, 640) == 2
    assert pdf.reduction_for(500, 400, 416) == 1
    small = pdf.decode_page(data, reduce=4)
    assert small.shape == (585, 414) and small[260:265, 110:220].mean() < 30 and small[:100].mean() > 240
    with pytest.raises(ValueError, match="reduce"):
        pdf.decode_page(data, reduce=3)


def test_one_pdfinfo_call_still_names_zero_page_and_known_hash(tmp_path, make_pdf):
    path = make_pdf("one.pdf", [(850, 1100)], dpi=100)
    assert pdf.inspect_pdf(path, sha256="f" * 64).sha256 == "f" * 64  # the caller's hash is trusted


def test_a_file_of_whole_scan_jpegs_needs_no_poppler(make_pdf, tmp_path, monkeypatch):
    scan = _scan(make_pdf, tmp_path, sizes=((1700, 2200), (2200, 1700)))
    w = PdfWriter(clone_from=str(scan))
    w.pages[0].rotate(90)  # a page poppler must render
    mixed = tmp_path / "mixed.pdf"
    w.write(mixed)
    want = pdf.inspect_pdf(scan, dpi=200)
    monkeypatch.setenv("PATH", str(tmp_path / "no-such-dir"))  # no pdfinfo, no pdftoppm from here on
    info, own = pdf.inspect_pages(scan, dpi=200, sha256="a" * 64)
    assert (info.n_pages, info.page_sizes_pt, info.size_bytes) == (2, want.page_sizes_pt, want.size_bytes)
    assert info.sha256 == "a" * 64 and own == pdf.scanned_page_jpegs(scan, 2, 200)
    assert [b.passthrough for b in pdf.iter_page_blobs(scan, dpi=200, info=info, own=own)] == [True, True]
    with pytest.raises(pdf.PageTooLargeError, match="Mpx > limit"):  # the size limit holds on this path too
        pdf.inspect_pages(scan, dpi=200, max_pixels=3_000_000)
    with pytest.raises(RuntimeError, match="pdfinfo not found"):  # a page to render: poppler is asked
        pdf.inspect_pages(mixed, dpi=200)
    with pytest.raises(RuntimeError, match="pdfinfo not found"):  # passthrough off: poppler as before
        pdf.inspect_pages(scan, dpi=200, passthrough=False)


def test_a_scan_jpeg_cut_short_is_left_to_poppler(make_pdf, tmp_path):
    scan = _scan(make_pdf, tmp_path)
    data = scan.read_bytes()
    jpeg = pdf.scanned_page_jpegs(scan, 1, 200)[0]
    start = data.index(jpeg)
    # the image's last bytes (its end-of-image marker) zeroed in place: offsets and lengths stay valid
    cut = data[:start + len(jpeg) - 40] + b"\0" * 40 + data[start + len(jpeg):]
    p = tmp_path / "cut.pdf"
    p.write_bytes(cut)
    assert pdf.scanned_page_jpegs(p, 1, 200) == [None]
    info, own = pdf.inspect_pages(p, dpi=200)
    assert info.n_pages == 1 and own == [None]
