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
