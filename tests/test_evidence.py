from __future__ import annotations

from html.parser import HTMLParser

import cv2
import numpy as np

import storage
from sigpipe.evidence import EvidenceItem, agreement_map, evidence_png, html_report, ink_agreement, weight_map


def _stroke(shift: int = 0) -> np.ndarray:
    img = np.zeros((60, 90), np.uint8)
    cv2.line(img, (10 + shift, 30), (80 + shift, 35), 255, 3)
    return img


def test_agreement_map_aligns_before_comparing():
    amap, overlap = agreement_map(_stroke(4), _stroke(0))
    assert amap.shape == (60, 90, 3) and overlap > 0.95  # a shifted copy agrees after alignment
    other = np.zeros((60, 90), np.uint8)
    cv2.circle(other, (45, 30), 20, 255, 3)
    assert agreement_map(other, _stroke(0))[1] < 0.5  # a ring laid on a line: only where they cross and touch


def _signature() -> np.ndarray:
    img = np.zeros((150, 220), np.uint8)
    pts = np.array([[20, 100], [45, 40], [60, 105], [80, 45], [95, 100], [110, 50], [125, 100], [140, 50],
                    [155, 100], [200, 60]])
    cv2.polylines(img, [pts], False, 255, 2)
    return img


def test_agreement_map_finds_the_scale_and_shift_of_a_copy():
    """The cleaned crops are each fitted to their own ink, so the same signature may come back larger and
    shifted; strokes repeated at a regular pitch (the zigzag) give phase correlation of thin strokes a wrong peak."""
    r = _signature()
    q = cv2.warpAffine(r, cv2.getRotationMatrix2D((110, 75), 0, 1.1), (220, 150))
    q = cv2.warpAffine(q, np.float32([[1, 0, 9], [0, 1, -6]]), (220, 150))
    amap, share = agreement_map(q, r)
    assert ink_agreement(q, r)[4] < 0.4 and share > 0.9
    assert (amap == (30, 30, 30)).all(-1).sum() > 0.9 * (amap != 255).any(-1).sum()  # drawn dark: in both
    one_px = np.roll(r, 1, axis=1)
    assert ink_agreement(one_px, r)[4] == 1.0  # within 2 px agrees, unmoved


def test_agreement_map_never_agrees_less_than_the_crops_as_they_are():
    rng = np.random.default_rng(0)
    for _ in range(5):
        q, r = np.zeros((150, 220), np.uint8), np.zeros((150, 220), np.uint8)
        for img in (q, r):
            cv2.polylines(img, [rng.integers((0, 0), (220, 150), (6, 2)).astype(np.int32)], False, 255, 2)
        assert agreement_map(q, r)[1] >= ink_agreement(q, r)[4]
    blank = np.zeros((150, 220), np.uint8)
    assert agreement_map(blank, blank)[1] == 0.0


def test_evidence_png_is_a_png_with_everything_on_it():
    q = 255 - _stroke(0)
    png = evidence_png(q, q, _stroke(0), _stroke(2), "forgery: doc.pdf", ["score 0.1 vs threshold 0.5"])
    img = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and img.shape[0] > 400 and img.shape[1] > 1000
    assert evidence_png(q, None, _stroke(0), None, "t", []).startswith(b"\x89PNG")


def test_weight_map_colours_ink_by_how_erasing_it_moves_the_score():
    q = _stroke(0)  # ink high, a stroke across y ~30-35
    delta = np.zeros(q.shape, np.float32)
    delta[:, :45], delta[:, 45:] = 0.2, -0.1  # erasing the left half raises the score, the right half lowers it
    out = weight_map(q, delta, box=(0, 0, 45, 60))
    b, g, r = (int(c) for c in out[32, 20])
    assert out.shape == (60, 90, 3) and r > 180 and g < 80  # pulls away from the signer: red
    b, g, r = (int(c) for c in out[33, 70])
    assert g > r + 40  # matches: green, at half the saturation
    assert (out[10, 20] == 255).all() and tuple(int(c) for c in out[10, 0]) == (30, 30, 220)  # background, box edge
    grey = weight_map(q, delta * 1e-3)[32, 20].astype(int)  # changes far under the floor stay grey
    assert abs(grey[2] - grey[1]) < 10
    png = evidence_png(255 - q, 255 - q, q, q, "forgery: doc.pdf", ["x"], out)
    assert cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR).shape[1] >= 4 * 420


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.rows: list[list[str]] = []
        self._row: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self._row = []

    def handle_endtag(self, tag):
        if tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None

    def handle_data(self, data):
        if self._row is not None and data.strip():
            self._row.append(data.strip())


def test_html_report_lists_flagged_first_and_escapes():
    items = [EvidenceItem("ok.pdf", 1, "S1", "genuine", 0.9, 0.5, None, None),
             EvidenceItem("<b>x</b>.pdf", 2, "S2", "forgery", 0.1, 0.5, "../blobs/e.png", b"\x89PNG"),
             EvidenceItem("maybe.pdf", 1, "S3", "inconclusive", 0.49, 0.5, "../blobs/f.png", None),
             EvidenceItem("late.pdf", 1, "S4", "genuine", 0.8, 0.5, "../blobs/g.png", None, "second <look>")]
    page = html_report("audit-1", items, "2026-01-01T00:00:00", made_by="Models: verifier <v> v1.")
    assert "<p>Models: verifier &lt;v&gt; v1.</p>" in page
    assert "Models" not in html_report("audit-1", items, "2026-01-01T00:00:00")
    p = _Collect()
    p.feed(page)
    body = [r for r in p.rows if r and r[0] in ("forgery", "inconclusive", "genuine")]
    assert [r[0] for r in body] == ["forgery", "inconclusive", "genuine", "genuine"]
    assert body[2][:3] == ["genuine", "second <look>", "late.pdf"]  # the note under the decision, escaped
    assert "second &lt;look&gt;" in page
    assert "<b>x</b>" not in page and "&lt;b&gt;x&lt;/b&gt;.pdf" in page
    assert 'href="../blobs/e.png"' in page and "data:image/png;base64," in page


def test_evidence_sheets_show_the_crop_as_the_verifier_saw_it(stand_in_models):
    """The audit's evidence sheet and the embedding share one cleaning: a printed rule and a faint stamp erased
    before embedding must not reappear on the sheet a reviewer reads."""
    from sigpipe.clean import remove_faint_marks, remove_rules
    from sigpipe.verifier.infer import Verifier
    from tasks.verify import _clean

    v = Verifier.load(stand_in_models[1])
    crop = np.full((120, 400), 235, np.uint8)
    cv2.polylines(crop, [np.array([[40, 80], [90, 30], [130, 85], [180, 35], [230, 80], [300, 40]])], False, 30, 3)
    cv2.line(crop, (0, 100), (399, 98), 40, 2)  # the printed line the signature sits on
    cv2.putText(crop, "PAID", (315, 60), cv2.FONT_HERSHEY_DUPLEX, 0.9, 130, 3, cv2.LINE_AA)  # a stamp's word, grey
    seen = _clean(v, [crop])[0]
    assert np.array_equal(seen, v.clean([remove_faint_marks(remove_rules(crop))])[0])
    assert not np.array_equal(seen, v.clean([remove_rules(crop)])[0])
    assert not np.array_equal(seen, v.clean([crop])[0])


def test_evidence_reads_the_kept_cleaned_crop_and_cleans_again_without_it(stand_in_models, tmp_path):
    """The cleaned crop kept at embedding time is what the sheet shows; a lake without it (crops embedded
    before it was kept) or with a damaged one gives the same pixels by cleaning again."""
    from sigpipe import pdf
    from sigpipe.verifier.infer import Verifier
    from tasks.verify import _clean, _cleaned, _keep_clean, clean_relpath

    v = Verifier.load(stand_in_models[1])
    lake = tmp_path / "lake"
    crop = np.full((120, 400), 235, np.uint8)
    cv2.polylines(crop, [np.array([[40, 80], [90, 30], [130, 85], [180, 35], [230, 80], [300, 40]])], False, 30, 3)
    cv2.line(crop, (0, 100), (399, 98), 40, 2)
    rel = storage.write_blob(lake, "blobs/crops/ab/abc/p00001-00.jpg", pdf.encode_page(crop))
    raw = pdf.decode_page(lake / rel)
    want = _clean(v, [raw])[0]
    kept = lake / clean_relpath(v.card, rel)
    assert kept.relative_to(lake).as_posix() == f"blobs/clean/{v.card.name}/{v.card.version}/crops/ab/abc/p00001-00.png"
    assert np.array_equal(_cleaned(str(lake), v, rel, raw), want)  # none kept: cleaned again
    _keep_clean(str(lake), v, [rel], want[None])
    assert np.array_equal(cv2.imread(str(kept), cv2.IMREAD_UNCHANGED), want)
    marked = want.copy()
    marked[0, 0] = 255 - marked[0, 0]  # a kept file that differs is what is read: no cleaning happened
    _keep_clean(str(lake), v, [rel], marked[None])
    assert np.array_equal(_cleaned(str(lake), v, rel, raw), marked)
    kept.write_bytes(b"\x89PNG damaged")
    assert np.array_equal(_cleaned(str(lake), v, rel, raw), want)
