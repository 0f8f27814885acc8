from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sigpipe import audit
from sigpipe.verify import enroll


def test_decide_with_band():
    assert audit.decide(0.80, 0.6) == "genuine"
    assert audit.decide(0.60, 0.6) == "genuine"
    assert audit.decide(0.59, 0.6) == "forgery"
    band = (0.05, 0.1)
    assert audit.decide(0.71, 0.6, band) == "genuine"
    assert audit.decide(0.65, 0.6, band) == "inconclusive"
    assert audit.decide(0.56, 0.6, band) == "inconclusive"
    assert audit.decide(0.54, 0.6, band) == "forgery"


def test_inconclusive_band_halves_both_errors():
    pos = np.linspace(0.4, 1.0, 601)  # genuine pairs
    neg = np.linspace(0.0, 0.6, 601)  # forgeries
    scores = np.concatenate([pos, neg])
    labels = np.r_[np.ones(601), np.zeros(601)]
    below, above = audit.inconclusive_band(scores, labels, threshold=0.5)
    frr_t = (pos < 0.5).mean()
    far_t = (neg >= 0.5).mean()
    assert (pos < 0.5 - below).mean() == pytest.approx(frr_t / 2, abs=0.01)
    assert (neg >= 0.5 + above).mean() == pytest.approx(far_t / 2, abs=0.01)
    with pytest.raises(ValueError):
        audit.inconclusive_band(pos, np.ones(601), 0.5)


def test_assign_is_one_to_one_best_first():
    scores = np.array([[0.9, 0.8], [0.95, 0.1]], np.float32)
    allowed = np.ones_like(scores, bool)
    # claim 1 takes signature 0 (0.95), claim 0 falls back to signature 1
    assert audit.assign(scores, allowed) == [1, 0]
    # more claims than signatures: the weakest claim gets none
    assert audit.assign(np.array([[0.9], [0.5]]), np.ones((2, 1), bool)) == [0, None]
    # a claim restricted to a page with no signature gets none
    assert audit.assign(np.array([[0.9, 0.8]]), np.array([[False, False]])) == [None]
    assert audit.assign(np.zeros((0, 3)), np.zeros((0, 3), bool)) == []


def _unit(v):
    v = np.asarray(v, np.float32)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def test_audit_document_decisions():
    rng = np.random.default_rng(0)
    a, b = _unit(rng.normal(size=8)), _unit(rng.normal(size=8))
    refs_a = _unit(a + 0.05 * rng.normal(size=(6, 8)))
    refs_b = _unit(b + 0.05 * rng.normal(size=(6, 8)))
    wd = {"aggregation": "mean", "threshold": 0.8}
    writers = {"A": (enroll("A", refs_a, wd), (0.0, 0.0)), "B": (enroll("B", refs_b, wd), (0.0, 0.0))}
    sigs = np.stack([_unit(b + 0.05 * rng.normal(size=8)), _unit(a + 0.05 * rng.normal(size=8)),
                     _unit(rng.normal(size=8))])
    pages = [1, 1, 2]
    claims = [audit.Claim("A"), audit.Claim("B", page=1), audit.Claim("C"), audit.Claim("A", page=3)]
    out = audit.audit_document(claims, pages, sigs, writers)
    assert [v.decision for v in out] == ["genuine", "genuine", "unknown_signer", "no_signature"]
    assert out[0].signature == 1 and out[1].signature == 0  # each signer got the signature written by them
    assert out[0].threshold_kind == "global" and out[0].threshold == pytest.approx(0.8)
    assert 0 <= out[0].best_ref < 6
    # a forged signature claimed for A: only the stranger's signature on the page
    forged = audit.audit_document([audit.Claim("A")], [1], sigs[2:], writers)
    assert forged[0].decision == "forgery" and forged[0].score < 0.8
    # no signature at all in the document
    assert audit.audit_document([audit.Claim("A")], [], np.zeros((0, 8)), writers)[0].decision == "no_signature"


def test_second_look_accepts_only_a_weak_box_decided_genuine():
    """Claims left without a signature: a weak box is taken when it is decided genuine for the claimed signer
    (on the claimed page, one box per claim); a box that is not the signer's leaves the claim no_signature,
    never forgery; other decisions are left alone."""
    rng = np.random.default_rng(1)
    a, b = _unit(rng.normal(size=8)), _unit(rng.normal(size=8))
    wd = {"aggregation": "mean", "threshold": 0.8}
    writers = {"A": (enroll("A", _unit(a + 0.05 * rng.normal(size=(6, 8))), wd), (0.0, 0.05)),
               "B": (enroll("B", _unit(b + 0.05 * rng.normal(size=(6, 8))), wd), (0.0, 0.05))}
    claims = [audit.Claim("A", page=1), audit.Claim("B"), audit.Claim("A", page=2), audit.Claim("C")]
    first = audit.audit_document(claims, [], np.zeros((0, 8)), writers)
    assert [v.decision for v in first] == ["no_signature", "no_signature", "no_signature", "unknown_signer"]
    weak = np.stack([_unit(a + 0.05 * rng.normal(size=8)),   # A's signature on page 1
                     _unit(rng.normal(size=8)),                # a stamp on page 1: nobody's
                     _unit(a + 0.05 * rng.normal(size=8))])   # A's signature on page 3 (no claim there)
    out = audit.second_look(first, [1, 1, 3], weak, writers)
    assert [v.decision for v in out] == ["genuine", "no_signature", "no_signature", "unknown_signer"]
    assert out[0].second_look and out[0].signature == 0 and out[0].score >= 0.8 + 0.05
    assert out[0].threshold == pytest.approx(0.8) and 0 <= out[0].best_ref < 6
    assert not any(v.second_look for v in out[1:])
    # a decided claim is never looked at again, and nothing to look at changes nothing
    decided = audit.audit_document([audit.Claim("B")], [1], weak[1:2], writers)
    assert decided[0].decision == "forgery"
    assert audit.second_look(decided, [1], weak[:1], writers) == decided
    assert audit.second_look(first, [], np.zeros((0, 8)), writers) == first
    # a weak box inside the band is not enough: the claim stays unsigned
    near = _unit(a + 0.05 * rng.normal(size=8))
    w, _ = writers["A"]
    s = float(w.score(near[None])[0])
    tight = {"A": (w, (0.0, s - w.threshold + 0.01))}
    assert audit.second_look(first[:1], [1], near[None], tight)[0].decision == "no_signature"


def test_a_forgery_whose_signature_found_whole_is_not_one_becomes_inconclusive():
    """``look_again``: a claim decided forgery on a signature a stamp cut short becomes inconclusive, on the box found
    whole, when that box is not decided forgery (band included), and never genuine; when it is, the claim stays as
    it was. Only claims decided forgery on the document's own signatures are candidates; ``extends`` says which box
    is the same signature grown."""
    rng = np.random.default_rng(3)
    a = _unit(rng.normal(size=8))
    wd = {"aggregation": "mean", "threshold": 0.8}
    writers = {"A": (enroll("A", _unit(a + 0.05 * rng.normal(size=(6, 8))), wd), (0.05, 0.05))}
    cut = _unit(rng.normal(size=8))  # half the signature: not like the writer's
    claims = [audit.Claim("A", page=1), audit.Claim("A", page=2), audit.Claim("A", page=3)]
    sigs = np.stack([cut, _unit(a + 0.05 * rng.normal(size=8)), cut])
    first = audit.audit_document(claims, [1, 2, 3], sigs, writers)
    assert [v.decision for v in first] == ["forgery", "genuine", "forgery"]
    first[2] = audit.Verdict(claims[2], "inconclusive", 2, first[2].score, 0.8, "global", 0)
    assert audit.forgeries_on_signatures(first) == [0]  # not the genuine one, not the inconclusive one
    whole = np.stack([_unit(rng.normal(size=8)), _unit(a + 0.05 * rng.normal(size=8))])  # [0]: a second look's box
    out = audit.look_again(first, {0: 1}, whole, writers)
    assert out[0].decision == "inconclusive" and out[0].second_look and out[0].signature == 1  # genuine whole: a look
    assert out[0].score == pytest.approx(float(writers["A"][0].score(whole[1:2])[0])) and out[0].score > 0.85
    assert out[1:] == first[1:]
    assert audit.look_again(first, {0: 0}, whole, writers) == first  # forgery whole too: as it was
    assert audit.look_again(first, {}, whole, writers) == first
    box = (100, 50, 300, 110)
    assert audit.extends(box, (95, 45, 400, 112))          # the same signature, a third wider
    assert not audit.extends(box, (95, 45, 320, 112))      # hardly larger: the same box again
    assert not audit.extends(box, (200, 40, 500, 120))     # holds half of it: another box beside it
    assert audit.extends(box, (100, 20, 300, 110)) and not audit.extends((0, 0, 0, 10), (0, 0, 50, 50))


def test_a_signature_on_a_page_the_orienter_was_not_sure_of_is_decided_inconclusive():
    """A claim answered by a signature of a page the page orienter left as it came without being sure (page_turn_sure
    false) is inconclusive whether it scored genuine or forgery, its score and threshold kept; signatures of pages
    it was sure of, or that no orienter looked at (None), keep their decisions, and so do other decisions."""
    rng = np.random.default_rng(3)
    a, b = _unit(rng.normal(size=8)), _unit(rng.normal(size=8))
    wd = {"aggregation": "mean", "threshold": 0.8}
    writers = {"A": (enroll("A", _unit(a + 0.05 * rng.normal(size=(6, 8))), wd), (0.0, 0.0)),
               "B": (enroll("B", _unit(b + 0.05 * rng.normal(size=(6, 8))), wd), (0.0, 0.0))}
    sigs = np.stack([_unit(a + 0.05 * rng.normal(size=8)), _unit(rng.normal(size=8))])  # A's own; a stranger's
    claims = [audit.Claim("A", page=1), audit.Claim("B", page=2), audit.Claim("A", page=3), audit.Claim("C")]
    first = audit.audit_document(claims, [1, 2], sigs, writers)
    assert [v.decision for v in first] == ["genuine", "forgery", "no_signature", "unknown_signer"]
    out = audit.unsure_pages(first, [False, False])
    assert [v.decision for v in out] == ["inconclusive", "inconclusive", "no_signature", "unknown_signer"]
    assert [v.page_unsure for v in out] == [True, True, False, False]
    assert [(v.score, v.threshold, v.signature, v.best_ref) for v in out] == [
        (v.score, v.threshold, v.signature, v.best_ref) for v in first]
    assert audit.unsure_pages(first, [True, None]) == first
    assert [v.decision for v in audit.unsure_pages(first, [None, False])] == [
        "genuine", "inconclusive", "no_signature", "unknown_signer"]
    # a second look's box indexes other boxes: it is never capped here (the task does not look at unsure pages)
    looked = [audit.Verdict(claims[0], "genuine", 0, 0.9, 0.8, "global", 0, second_look=True)]
    assert audit.unsure_pages(looked, [False]) == looked


def test_writer_model_uses_the_card_calibration_for_k_references():
    rng = np.random.default_rng(3)
    refs = _unit(rng.normal(size=(4, 8)))
    card = {"writer_dependent": {"aggregation": "mean", "by_references": {
        "3": {"aggregation": "mean", "threshold": 0.3, "inconclusive_band": [0.01, 0.02]},
        "10": {"aggregation": "max", "threshold": 0.7}}}}
    w, band = audit.writer_model(card, "A", refs)  # 4 references: the K=3 calibration is nearest
    assert w.threshold == pytest.approx(0.3) and w.aggregation == "mean" and band == (0.01, 0.02)
    w, band = audit.writer_model(card, "A", _unit(rng.normal(size=(9, 8))))
    assert w.threshold == pytest.approx(0.7) and w.aggregation == "max" and band == (0.0, 0.0)


def test_writer_model_scales_the_band_by_the_writers_spread():
    """A signer more erratic than the validation population gets a wider band (as its threshold is further
    below its references); a consistent one keeps the population's band, never a narrower one."""
    rng = np.random.default_rng(5)
    centre = _unit(rng.normal(size=(1, 16)))
    pw = {"z": 2.0, "sigma_pop": 0.05, "kappa": 4.0, "min_references": 5}
    card = {"writer_dependent": {"aggregation": "mean", "by_references": {
        "6": {"aggregation": "mean", "threshold": 0.5, "inconclusive_band": [0.04, 0.06], "per_writer": pw}}}}
    tight, band_t = audit.writer_model(card, "T", _unit(centre + 0.02 * rng.normal(size=(6, 16))))
    loose, band_l = audit.writer_model(card, "L", _unit(centre + 0.5 * rng.normal(size=(6, 16))))
    assert tight.per_writer and loose.per_writer
    assert tight.scale == 1.0 and band_t == pytest.approx((0.04, 0.06))
    assert loose.stats["sigma"] > pw["sigma_pop"] and loose.scale == pytest.approx(loose.stats["sigma"] / 0.05)
    assert band_l == pytest.approx((0.04 * loose.scale, 0.06 * loose.scale))
    # global threshold (too few references): the card's band as it is
    few, band_f = audit.writer_model(card, "F", _unit(centre + 0.5 * rng.normal(size=(3, 16))))
    assert not few.per_writer and few.scale == 1.0 and band_f == pytest.approx((0.04, 0.06))


def test_calibrate_bands_in_population_units():
    """Writers of different spreads: a band for every calibrated K, non-negative, and the band pooled over
    reference draws lies within the range of the single-draw ones."""
    rng = np.random.default_rng(2)
    emb, writers, genuine = [], [], []
    for w in range(8):
        c = _unit(rng.normal(size=(1, 32)))
        spread = 0.15 if w % 2 else 0.4
        emb += [_unit(c + spread * rng.normal(size=(14, 32))),
                _unit(c + spread * rng.normal(size=(10, 32)) + 0.5 * _unit(rng.normal(size=(1, 32))))]
        writers += [str(w)] * 24
        genuine += [True] * 14 + [False] * 10
    emb, writers, genuine = np.concatenate(emb), np.array(writers), np.array(genuine)
    from sigpipe.verify import calibrate_writer_dependent

    wd = calibrate_writer_dependent(emb, writers, genuine, references=6)
    wd["per_writer"]["min_references"] = 5
    card = {"writer_dependent": {"aggregation": "mean", "by_references": {"6": wd}}}
    bands = audit.calibrate_bands(card, emb, writers, genuine, draws=4, normalise=True)
    assert set(bands) == {"6"}
    below, above = bands["6"]
    assert below >= 0 and above >= 0 and below + above > 0
    one = [audit.calibrate_bands(card, emb, writers, genuine, seed=s, normalise=True)["6"] for s in range(4)]
    assert min(b for b, _ in one) <= below <= max(b for b, _ in one)


def test_eval_audit_rates_match_audit_decisions():
    """The evaluation's three-way rates on pooled, population-scaled scores equal the audit's per-signer
    decisions with its scaled band (sigpipe.verifier.evaluate.audit_rates over wd_pairs(normalise=True))."""
    from sigpipe.verifier.evaluate import audit_rates, wd_pairs

    rng = np.random.default_rng(4)
    emb, writers, genuine = [], [], []
    for w in range(6):
        c = _unit(rng.normal(size=(1, 16)))
        spread = (0.1, 0.3, 0.6)[w % 3]
        emb += [_unit(c + spread * rng.normal(size=(12, 16))), _unit(c + 0.6 * rng.normal(size=(8, 16)))]
        writers += [str(w)] * 20
        genuine += [True] * 12 + [False] * 8
    emb, writers, genuine = np.concatenate(emb), np.array(writers), np.array(genuine)
    pw = {"z": 2.0, "sigma_pop": 0.05, "kappa": 4.0, "min_references": 5}
    wd = {"aggregation": "mean", "threshold": 0.5, "per_writer": pw, "inconclusive_band": [0.03, 0.05]}
    card = {"writer_dependent": {"aggregation": "mean", "by_references": {"5": wd}}}
    rates = audit_rates(wd_pairs(emb, writers, genuine, 5, wd, normalise=True), 0.5, (0.03, 0.05))
    # the same queries decided one by one, as audit_document does
    counts = {("genuine", d): 0 for d in ("genuine", "forgery", "inconclusive")}
    counts.update({("skilled", d): 0 for d in ("genuine", "forgery", "inconclusive")})
    r = np.random.default_rng(0)  # wd_pairs' reference draw, writer by writer in sorted order
    for w in sorted(set(writers)):
        g = r.permutation(np.flatnonzero((writers == w) & genuine))
        f = np.flatnonzero((writers == w) & ~genuine)
        r.choice(np.flatnonzero(genuine & (writers != w)), size=len(g) - 5, replace=False)  # random negatives
        m, band = audit.writer_model(card, w, emb[g[:5]])
        for q, kind in ((g[5:], "genuine"), (f, "skilled")):
            for s in m.score(emb[q]):
                counts[(kind, audit.decide(float(s), m.threshold, band))] += 1
    for kind in ("genuine", "skilled"):
        n = sum(v for (k, _), v in counts.items() if k == kind)
        assert rates[f"audit_{kind}_as_forgery"] == pytest.approx(counts[(kind, "forgery")] / n, abs=1e-6)
        assert rates[f"audit_{kind}_inconclusive"] == pytest.approx(counts[(kind, "inconclusive")] / n, abs=1e-6)
        assert rates[f"audit_{kind}_as_genuine"] == pytest.approx(counts[(kind, "genuine")] / n, abs=1e-6)


def test_even_chunks_split_work_evenly_and_never_fail_on_nothing():
    from flows.steps import even_chunks

    assert even_chunks([], 256) == []  # a rerun with nothing left to embed
    assert even_chunks(list(range(63)), 256) == [list(range(63))]
    for n, sizes in ((64, [32, 32]), (257, [129, 128]), (700, [175] * 4), (865, [217, 217, 217, 214])):
        chunks = even_chunks(list(range(n)), 256)
        assert [len(c) for c in chunks] == sizes
        assert [x for c in chunks for x in c] == list(range(n))  # every item once, in order
    assert max(len(c) for c in even_chunks(list(range(5000)), 100)) <= 100


def test_second_look_records_a_page_it_cannot_read_and_still_looks_at_the_others(tmp_path, strict_detector):
    """The audit task's second look reads stored pages the detect stage may have read in an earlier run: a page
    image lost or damaged since is reported (naming the page and its file), and the readable pages still get
    their weaker boxes, cropped and embedded."""
    import cv2

    from flows.params import DEFAULT_VERIFIER
    from sigpipe.synth import compose_page, make_signers
    from tasks.verify import _second_look_boxes

    lake = tmp_path / "lake"
    (lake / "pages").mkdir(parents=True)
    page = compose_page("letter", np.random.default_rng(12345), make_signers(4, 9999), n_signatures=1, dpi=200,
                        note=False, stamp=False)
    cv2.imwrite(str(lake / "pages" / "good.jpg"), page.image)
    (lake / "pages" / "damaged.jpg").write_bytes(b"\xff\xd8 not a jpeg any more")
    h, w = page.image.shape
    pages = [{"doc_id": d, "page": 1, "height": h, "width": w, "dpi": 200, "image_path": f"pages/{d}.jpg", "q": 0}
             for d in ("good", "damaged", "gone")]
    boxes, unread = _second_look_boxes(str(lake), str(strict_detector), str(DEFAULT_VERIFIER), pages)
    assert set(boxes) == {"good"} and all(b["embedding"].shape == (256,) for b in boxes["good"])
    x0, y0, x1, y1 = page.signatures[0].box
    assert any(b["x0"] <= x1 and b["x1"] >= x0 and b["y0"] <= y1 and b["y1"] >= y0 for b in boxes["good"])
    assert [u["doc_id"] for u in unread] == ["damaged", "gone"]
    assert all(f"pages/{u['doc_id']}.jpg could not be read" in u["reason"] and "page 1" in u["reason"]
               for u in unread)


def test_second_look_turns_a_page_as_the_detect_stage_did(tmp_path, strict_detector):
    """A page stored upside down (the detect stage recorded page_turn 180): the second look turns it upright
    before looking, cuts the crop from the upright page and gives the box in the stored page's pixels."""
    import cv2

    from flows.params import DEFAULT_VERIFIER
    from sigpipe.detect import box_iou
    from sigpipe.orient import turn_box, turn_page
    from sigpipe.synth import compose_page, make_signers
    from tasks.verify import _second_look_boxes

    lake = tmp_path / "lake"
    (lake / "pages").mkdir(parents=True)
    page = compose_page("letter", np.random.default_rng(12345), make_signers(4, 9999), n_signatures=1, dpi=200,
                        note=False, stamp=False)
    h, w = page.image.shape
    cv2.imwrite(str(lake / "pages" / "up.jpg"), page.image)
    cv2.imwrite(str(lake / "pages" / "turned.jpg"), turn_page(page.image, 2))
    pages = [{"doc_id": d, "page": 1, "height": h, "width": w, "dpi": 200, "image_path": f"pages/{d}.jpg", "q": q}
             for d, q in (("up", 0), ("turned", 2))]
    boxes, unread = _second_look_boxes(str(lake), str(strict_detector), str(DEFAULT_VERIFIER), pages)
    assert not unread and boxes["up"] and boxes["turned"]
    truth = page.signatures[0].box
    up = max(boxes["up"], key=lambda b: box_iou((b["x0"], b["y0"], b["x1"], b["y1"]), truth))
    turned_truth = turn_box(truth, 2, (h, w))  # where the signature is on the stored (turned) page
    tb = max(boxes["turned"], key=lambda b: box_iou((b["x0"], b["y0"], b["x1"], b["y1"]), turned_truth))
    assert box_iou((up["x0"], up["y0"], up["x1"], up["y1"]), truth) > 0.5
    assert box_iou((tb["x0"], tb["y0"], tb["x1"], tb["y1"]), turned_truth) > 0.5
    # the crop is the upright signature: it matches the upright page's crop, not its turned self
    a, b = up["crop"].astype(np.float32), tb["crop"].astype(np.float32)
    assert abs(a.shape[0] - b.shape[0]) <= 4 and abs(a.shape[1] - b.shape[1]) <= 4
    hh, ww = min(a.shape[0], b.shape[0]), min(a.shape[1], b.shape[1])
    same = np.abs(a[:hh, :ww] - b[:hh, :ww]).mean()
    flipped = np.abs(a[:hh, :ww] - np.rot90(b, 2)[:hh, :ww]).mean()
    assert same < flipped


def _stamped_letter(tmp_path: Path) -> tuple[Path, list[dict], object]:
    """A lake holding one stored page: a synthetic letter whose one signature has a rubber stamp over it -> (lake,
    its ``pages`` rows as the audit's second look gets them, the composed page with its truth)."""
    import cv2

    from sigpipe.synth import compose_page, make_signers

    lake = tmp_path / "lake"
    (lake / "pages").mkdir(parents=True)
    page = compose_page("letter", np.random.default_rng(14), make_signers(4, 9999), n_signatures=1, dpi=200,
                        note=False, stamp=True)
    cv2.imwrite(str(lake / "pages" / "doc.jpg"), page.image)
    h, w = page.image.shape
    return lake, [{"doc_id": "doc", "page": 1, "height": h, "width": w, "dpi": 200, "image_path": "pages/doc.jpg",
                   "q": 0}], page


def test_second_look_finds_a_signature_a_stamp_hid_once_the_stamps_are_painted(tmp_path):
    """On this letter a stamp over the signature hides it from the committed detector (no box on it at all, down to
    the second look's region confidence). The second look of a verifier with a stamp remover paints the stamps
    around the page's boxes and asks again: the signature is found, marked ``destamped``, and cut (from the painted
    page) to about its size. A verifier without a remover (v3) has nothing to find there."""

    from flows.params import DEFAULT_DETECTOR, DEFAULT_VERIFIER
    from sigpipe.detect import box_iou
    from tasks.verify import _second_look_boxes

    lake, pages, page = _stamped_letter(tmp_path)
    truth = page.signatures[0].box

    def on_truth(boxes: dict) -> list[dict]:
        return [b for b in boxes.get("doc", []) if box_iou((b["x0"], b["y0"], b["x1"], b["y1"]), truth) > 0.3]

    boxes, unread = _second_look_boxes(str(lake), str(DEFAULT_DETECTOR), str(DEFAULT_VERIFIER), pages)
    found = on_truth(boxes)
    assert not unread and found and all(b["destamped"] for b in found)
    assert found[0]["confidence"] >= audit.SECOND_LOOK_CONF and found[0]["crop"].shape[:2] == (
        pytest.approx(truth[3] - truth[1], rel=0.6), pytest.approx(truth[2] - truth[0], rel=0.6))
    v3 = Path(DEFAULT_VERIFIER).parent / "verifier-signet-v3"
    without, _ = _second_look_boxes(str(lake), str(DEFAULT_DETECTOR), str(v3), pages)
    assert not on_truth(without) and not any(b["destamped"] for b in without.get("doc", []))


def test_a_signature_box_a_stamp_cut_short_is_found_whole_once_the_stamps_are_painted(tmp_path):
    """The letter of the test above, with a stored signature box over the left 60% of the signature (as the detector
    gives it when a stamp's ring stops it): ``_recut_boxes`` paints the stamps around that box, asks the detector
    again and finds a box that holds the short one and reaches further, cut from the painted page, the whole
    signature. A box already whole is not cut again, and a verifier without a stamp remover (v3) looks at
    nothing."""

    from flows.params import DEFAULT_DETECTOR, DEFAULT_VERIFIER
    from tasks.verify import _recut_boxes, _second_look_note

    lake, pages, page = _stamped_letter(tmp_path)
    x0, y0, x1, y1 = (int(v) for v in page.signatures[0].box)
    short = {"page": 1, "x0": x0, "y0": y0, "x1": x0 + int(0.6 * (x1 - x0)), "y1": y1}
    todo = [{"doc_id": "doc", "k": 3, "sig": short}]
    boxes, unread = _recut_boxes(str(lake), str(DEFAULT_DETECTOR), str(DEFAULT_VERIFIER), pages, todo)
    assert not unread and len(boxes["doc"]) == 1
    b = boxes["doc"][0]
    assert b["k"] == 3 and b["destamped"] and b["recut_from"] == [short[k] for k in ("x0", "y0", "x1", "y1")]
    held = max(0, min(b["x1"], x1) - max(b["x0"], x0)) * max(0, min(b["y1"], y1) - max(b["y0"], y0))
    assert held >= 0.9 * (x1 - x0) * (y1 - y0) and b["x1"] - b["x0"] < 2.5 * (x1 - x0)  # the whole signature
    assert b["confidence"] >= 0.2 and b["embedding"].shape == (256,) and b["crop"].shape[1] >= x1 - x0
    assert "stopped at a stamp" in _second_look_note(b) and "inconclusive" in _second_look_note(b)
    whole = {"page": 1, **{k: b[k] for k in ("x0", "y0", "x1", "y1")}}
    again, _ = _recut_boxes(str(lake), str(DEFAULT_DETECTOR), str(DEFAULT_VERIFIER), pages,
                            [{"doc_id": "doc", "k": 3, "sig": whole}])
    assert not again.get("doc")
    v3 = Path(DEFAULT_VERIFIER).parent / "verifier-signet-v3"
    assert _recut_boxes(str(lake), str(DEFAULT_DETECTOR), str(v3), pages, todo) == ({}, [])
    # a page whose stored image is lost since is recorded, and the other pages are looked at all the same
    lost = {**pages[0], "doc_id": "gone", "image_path": "pages/gone.jpg"}
    boxes, unread = _recut_boxes(str(lake), str(DEFAULT_DETECTOR), str(DEFAULT_VERIFIER), [lost, *pages],
                                 [{**todo[0], "doc_id": "gone"}, *todo])
    assert len(boxes["doc"]) == 1 and not boxes.get("gone")
    assert [u["doc_id"] for u in unread] == ["gone"] and "pages/gone.jpg" in unread[0]["reason"]


def test_the_evidence_line_of_a_second_look_box_says_how_it_was_found():
    """The evidence sheet of a box found once the stamps were painted says so (its crop is the painted page's);
    a weak box's says its confidence was under the card's."""
    from tasks.verify import _second_look_note

    painted = _second_look_note({"destamped": True, "confidence": 0.41, "card_conf": 0.29})
    weak = _second_look_note({"destamped": False, "confidence": 0.12, "card_conf": 0.29})
    assert "stamps around it were painted out" in painted and "0.41" in painted and "0.29" in painted
    assert "painted" not in weak and "0.12 under the card's 0.29" in weak
