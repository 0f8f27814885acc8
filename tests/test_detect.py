"""sigpipe.detect: box geometry, page and data.yaml validation, model folder loading and detection on a rendered page.

The detection tests use the committed model folder (skipped when it is absent) and synthetic pages from sigpipe.synth,
so they need neither the network nor ../shared/data.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from sigpipe.detect import (
    Box,
    DetectError,
    Letterbox,
    box_iou,
    check_dataset,
    check_page,
    crop,
    crop_bounds,
    load_detector,
    to_normalised,
    to_pixels,
)
from sigpipe.weights import WeightsError

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "detector-yolo11n"
needs_model = pytest.mark.skipif(not (MODEL / "card.json").is_file(), reason=f"no committed detector at {MODEL}")


# ------------------------------------------------------------------------------------------------ geometry
def test_box_iou_by_hand():
    assert box_iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert box_iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(50 / 150)
    assert box_iou((0, 0, 10, 10), (20, 20, 30, 30)) == 0.0
    assert box_iou((0, 0, 0, 0), (0, 0, 0, 0)) == 0.0  # no area, no division by zero


def test_pixels_normalised_round_trip():
    shape = (2339, 1654)  # (H, W): A4 at 200 dpi
    xyxy = (100.0, 2000.5, 600.25, 2200.0)
    n = to_normalised(xyxy, shape)
    assert n == pytest.approx((100 / 1654, 2000.5 / 2339, 600.25 / 1654, 2200 / 2339))
    assert to_pixels(n, shape) == pytest.approx(xyxy)
    assert to_normalised((0, 0, 1654, 2339), shape) == (0, 0, 1, 1)  # x by width, y by height
    with pytest.raises(DetectError, match="positive"):
        to_normalised(xyxy, (0, 10))


def test_box_from_pixels_clips_orders_and_normalises():
    b = Box.from_pixels((1700.0, -5.0, 1500.0, 40.0), 0.8, (100, 1600))
    assert b.xyxy == (1500.0, 0.0, 1600.0, 40.0)  # x sorted and clipped to W, y clipped at 0
    assert b.nxyxy == pytest.approx((1500 / 1600, 0.0, 1.0, 0.4))
    assert (b.width, b.height, b.confidence) == (100.0, 40.0, pytest.approx(0.8))


@pytest.mark.parametrize("shape", [(2339, 1654), (1654, 2339), (900, 2000), (416, 416), (5000, 300), (37, 3000)])
def test_letterbox_keeps_aspect_and_maps_back(shape):
    lb = Letterbox(shape[0], shape[1], 416)
    assert max(lb.new_h, lb.new_w) == 416  # long side fills the input
    assert lb.new_w / lb.new_h == pytest.approx(shape[1] / shape[0], rel=0.05 if min(lb.new_h, lb.new_w) > 20 else 1)
    assert lb.pad_x + lb.new_w <= 416 and lb.pad_y + lb.new_h <= 416
    assert abs(lb.pad_x - (416 - lb.new_w - lb.pad_x)) <= 1 and abs(lb.pad_y - (416 - lb.new_h - lb.pad_y)) <= 1
    page = (0.0, 0.0, float(shape[1]), float(shape[0]))
    assert lb.to_input(page) == pytest.approx((lb.pad_x, lb.pad_y, lb.pad_x + lb.new_w, lb.pad_y + lb.new_h))
    box = (shape[1] * 0.3, shape[0] * 0.6, shape[1] * 0.55, shape[0] * 0.7)
    assert lb.to_page(lb.to_input(box)) == pytest.approx(box)
    small = (box[0] * lb.new_w / shape[1], box[1] * lb.new_h / shape[0], box[2] * lb.new_w / shape[1],
             box[3] * lb.new_h / shape[0])
    assert lb.to_page(small, padded=False) == pytest.approx(box)
    resized = lb.resize(np.full(shape, 255, np.uint8))
    assert resized.shape == (lb.new_h, lb.new_w) and resized.dtype == np.uint8


def test_letterbox_shrink_keeps_thin_strokes():
    page = np.full((3508, 2480), 250, np.uint8)  # A4 at 300 dpi: shrunk by ~0.12
    page[1000:1003, 200:2200] = 20  # a 3-pixel pen line
    small = Letterbox(*page.shape, 416).resize(page)
    assert small.min() < 200  # area averaging keeps it visible (nearest/linear sampling can skip it entirely)


def test_crop_bounds_margin_and_clipping():
    shape = (1000, 800)
    assert crop_bounds((100, 200, 300, 300), shape, margin=0.1) == (80, 190, 320, 310)
    assert crop_bounds((100.2, 200.7, 299.5, 299.1), shape, margin=0.0) == (100, 200, 300, 300)  # rounded outwards
    assert crop_bounds((-20, 950, 790, 1100), shape, margin=0.1) == (0, 935, 800, 1000)  # clipped to the page
    with pytest.raises(DetectError, match="outside"):
        crop_bounds((900, 10, 950, 20), shape)
    with pytest.raises(DetectError, match="margin"):
        crop_bounds((1, 1, 2, 2), shape, margin=-0.1)
    page = np.arange(1000 * 800, dtype=np.int64).reshape(shape).astype(np.uint8)
    box = Box.from_pixels((700, 900, 800, 1000), 0.9, shape)
    c = crop(page, box, margin=0.2)
    assert c.shape == (120, 120)  # 20 px margin on the open sides only
    assert np.array_equal(c, page[880:1000, 680:800])


@pytest.mark.parametrize(
    ("page", "message"),
    [
        (np.zeros((10, 10), np.float32), "dtype float32"),
        (np.zeros((10, 10, 3), np.uint8), r"expected \(H, W\)"),
        (np.zeros((0, 10), np.uint8), "empty"),
        (np.zeros((1, 10), np.uint8), "empty"),
        ([[0, 1], [2, 3]], "numpy array"),
    ],
)
def test_check_page_rejects_bad_input(page, message):
    with pytest.raises(DetectError, match=message):
        check_page(page)


# ------------------------------------------------------------------------------------------------- data.yaml
def _dataset(root: Path, labels: dict[str, str]) -> Path:
    (root / "images" / "val").mkdir(parents=True)
    (root / "labels" / "val").mkdir(parents=True)
    for stem, text in labels.items():
        (root / "images" / "val" / f"{stem}.jpg").write_bytes(b"")  # content is not read by check_dataset
        if text is not None:
            (root / "labels" / "val" / f"{stem}.txt").write_text(text)
    yml = root / "data.yaml"
    yml.write_text("path: .\ntrain: images/val\nval: images/val\nnames: [signature]\n")
    return yml


def test_check_dataset_counts(tmp_path):
    yml = _dataset(tmp_path, {"a": "0 0.5 0.5 0.2 0.1\n0 0.2 0.2 0.1 0.1\n", "b": "", "c": None})
    ds = check_dataset(yml, "val")
    assert (len(ds.images), ds.n_boxes, ds.n_background, ds.names) == (3, 2, 2, ["signature"])


@pytest.mark.parametrize(
    ("label", "message"),
    [
        ("0 0.5 0.5 0.2\n", "expected 5 fields"),
        ("0 0.5 0.5 0.2 x\n", "not numbers"),
        ("1 0.5 0.5 0.2 0.1\n", "class 1 outside 0..0"),
        ("0 0.5 1.5 0.2 0.1\n", "not normalised"),
        ("0 0.5 0.5 0.0 0.1\n", "not normalised"),
    ],
)
def test_check_dataset_names_the_bad_label_file(tmp_path, label, message):
    yml = _dataset(tmp_path, {"good": "0 0.5 0.5 0.2 0.1\n", "bad": label})
    with pytest.raises(DetectError, match=message) as e:
        check_dataset(yml, "val")
    assert "bad.txt:1" in str(e.value)


def test_check_dataset_yaml_errors(tmp_path):
    with pytest.raises(DetectError, match="no such data.yaml"):
        check_dataset(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("val: [images,\n")
    with pytest.raises(DetectError, match="not valid YAML"):
        check_dataset(bad)
    bad.write_text("- just\n- a list\n")
    with pytest.raises(DetectError, match="expected a mapping"):
        check_dataset(bad)
    yml = _dataset(tmp_path / "ds", {"a": ""})
    with pytest.raises(DetectError, match="no 'test' split"):
        check_dataset(yml, "test")
    yml.write_text("val: nowhere/images\nnames: [signature]\n")
    with pytest.raises(DetectError, match="does not exist"):
        check_dataset(yml, "val")
    yml.write_text("val: images/val\n")
    with pytest.raises(DetectError, match="names"):
        check_dataset(yml, "val")


# ----------------------------------------------------------------------------------------------- the model
@pytest.fixture(scope="module")
def detector():
    return load_detector(MODEL, device="cpu")


@pytest.fixture(scope="module")
def signed_page():
    """A synthetic scanned letter at 200 dpi with exactly one signature: ``(page (H, W) uint8, box xyxy)``."""
    from sigpipe.synth import compose_page, make_signers

    page = compose_page("letter", np.random.default_rng(12345), make_signers(4, 9999), n_signatures=1, dpi=200,
                        note=False, stamp=False)
    assert len(page.signatures) == 1
    return page.image, tuple(float(v) for v in page.signatures[0].box)


@needs_model
def test_load_refuses_weights_that_do_not_match_the_card(tmp_path):
    folder = tmp_path / "det"
    shutil.copytree(MODEL, folder)
    card = json.loads((folder / "card.json").read_text())
    with open(folder / card["weights"], "ab") as f:
        f.write(b"\0")
    with pytest.raises(WeightsError, match="sha256"):
        load_detector(folder)


@needs_model
def test_card_thresholds_are_used(detector):
    card = json.loads((MODEL / "card.json").read_text())
    assert (detector.conf, detector.iou, detector.imgsz) == (card["thresholds"]["conf"], card["thresholds"]["iou"],
                                                            card["input"]["imgsz"])
    assert 0.05 <= detector.conf <= 0.95  # chosen on the validation split, not the library default


@needs_model
def test_finds_the_signature_on_a_rendered_page(detector, signed_page):
    page, truth = signed_page
    boxes = detector.detect_page(page)
    assert boxes, "no signature found"
    best = max(boxes, key=lambda b: box_iou(b.xyxy, truth))
    assert box_iou(best.xyxy, truth) > 0.5, (best, truth)
    assert best.nxyxy == pytest.approx(to_normalised(best.xyxy, page.shape))
    assert all(detector.conf <= b.confidence <= 1 for b in boxes)


@needs_model
def test_higher_confidence_returns_a_subset(detector, signed_page):
    page, _ = signed_page
    low = load_detector(MODEL, device="cpu", conf=0.05).detect_page(page)
    high = detector.detect_page(page)
    assert len(high) <= len(low)
    for b in high:
        assert max(box_iou(b.xyxy, a.xyxy) for a in low) > 0.99


@needs_model
def test_a_lower_confidence_for_one_call_adds_weaker_boxes_and_keeps_the_others(detector, signed_page):
    """The audit's second look asks one call for weaker boxes: the boxes at the card's confidence are the same
    (non-maximum suppression is the card's either way), over several batches, and the detector keeps its card's
    confidence for the next call."""
    from sigpipe.synth import compose_page, make_signers

    page, _ = signed_page
    blank = np.full((900, 2000), 245, np.uint8)
    signers = make_signers(4, 9999)
    noted = compose_page("letter", np.random.default_rng(1), signers, n_signatures=1, dpi=200,
                         note=True, stamp=True).image
    # unsigned pages with a handwritten note and a stamp: weaker boxes (the signed ones may have none)
    unsigned = [compose_page(kind, np.random.default_rng(1), signers, n_signatures=0, dpi=200, note=True,
                             stamp=True).image for kind in ("contract", "cheque")]
    pages = [page, blank, noted, page[: page.shape[0] // 2], *unsigned]
    plain = detector.detect(pages, batch=1)
    low = detector.detect(pages, batch=1, conf=0.01)
    for p, q in zip(plain, low, strict=True):
        strong = [b for b in q if b.confidence >= detector.conf]
        assert len(strong) == len(p)
        for a, b in zip(p, strong, strict=True):
            assert box_iou(a.xyxy, b.xyxy) > 0.99 and abs(a.confidence - b.confidence) < 1e-4
    assert sum(len(q) for q in low) > sum(len(p) for p in plain)
    assert all(b.confidence >= 0.01 for q in low for b in q)
    assert detector.detect(pages, batch=1) == plain


@needs_model
@pytest.mark.parametrize(("pad", "name"), [((0, 0, 0, 1), "wide"), ((0, 0, 1, 0), "wide, page on the right"),
                                           ((0.5, 0, 0, 0), "tall, page at the bottom"), ((0, 0.5, 0, 0), "tall")])
def test_boxes_are_in_page_pixels_for_any_aspect(detector, signed_page, pad, name):
    """The page pasted into a canvas of another aspect (A4 portrait -> landscape 2:1.4 or 1:2.1): the box moves by
    exactly the paste offset."""
    page, truth = signed_page
    h, w = page.shape
    top, bottom, left, right = int(pad[0] * h), int(pad[1] * h), int(pad[2] * w), int(pad[3] * w)
    canvas = np.pad(page, ((top, bottom), (left, right)), constant_values=int(np.median(page)))
    boxes = detector.detect_page(canvas)
    assert boxes, name
    best = max(boxes, key=lambda b: box_iou(b.xyxy, (truth[0] + left, truth[1] + top, truth[2] + left, truth[3] + top)))
    back = (best.x0 - left, best.y0 - top, best.x1 - left, best.y1 - top)
    assert box_iou(back, truth) > 0.5, name


@needs_model
def test_batches_of_mixed_pages(detector, signed_page):
    page, truth = signed_page
    blank = np.full((900, 2000), 245, np.uint8)
    out = detector.detect([page, blank, page[: page.shape[0] // 2]], batch=2)
    assert len(out) == 3
    assert out[1] == []  # nothing to find on an empty cheque-sized page
    assert max(box_iou(b.xyxy, truth) for b in out[0]) > 0.5
    with pytest.raises(DetectError, match="page 1"):
        detector.detect([page, page.astype(np.float32)])


@needs_model
def test_a_pages_boxes_do_not_depend_on_the_pages_batched_with_it(detector, signed_page):
    """A letter batched with a cheque-sized page, in either order and in a batch of one, gets the same boxes with
    the same confidences: the network sees pages of one input shape at a time (a mixed batch is padded to a common
    shape, which moved confidences by up to 0.04 on bench/real_documents.py's pages). Equal to float rounding, not to
    the bit: two pages of one shape go through the network as a batch of two, and oneDNN may pick another kernel for
    it than for one (on an AMD EPYC host a box's edge moved by 6e-5 px)."""
    from sigpipe.synth import compose_page, make_signers

    page, _ = signed_page
    cheque = compose_page("cheque", np.random.default_rng(7), make_signers(4, 9999), n_signatures=1, dpi=200,
                          note=False, stamp=False).image
    assert cheque.shape[0] < cheque.shape[1] and page.shape[0] > page.shape[1]
    alone = [detector.detect([p], conf=0.01)[0] for p in (page, cheque)]
    for pages, at in (([page, cheque], (0, 1)), ([cheque, page, cheque], (1, 0)), ([page, page, cheque], (0, 2))):
        mixed = detector.detect(pages, batch=8, conf=0.01)
        for i, j in enumerate(at):
            assert len(mixed[j]) == len(alone[i])
            for got, want in zip(mixed[j], alone[i], strict=True):
                assert got.xyxy == pytest.approx(want.xyxy, abs=1e-2) and got.confidence == pytest.approx(
                    want.confidence, abs=1e-5)
    assert alone[0] and alone[1]


@needs_model
def test_bf16_finds_the_same_boxes_as_fp32(signed_page):
    page, truth = signed_page
    fp32 = load_detector(MODEL, device="cpu", precision="fp32")
    bf16 = load_detector(MODEL, device="cpu", precision="bf16")
    assert not fp32.bf16 and bf16.bf16
    a, b = fp32.detect_page(page), bf16.detect_page(page)
    assert len(a) == len(b) and a
    for x in a:  # the head runs in fp32: boxes agree to a pixel or two, confidences to ~0.01
        y = max(b, key=lambda y: box_iou(x.xyxy, y.xyxy))
        assert box_iou(x.xyxy, y.xyxy) > 0.95 and abs(x.confidence - y.confidence) < 0.03
    with pytest.raises(ValueError, match="precision"):
        load_detector(MODEL, device="cpu", precision="int8")


@needs_model
def test_reduced_page_gives_boxes_in_full_page_pixels(detector):
    """The detect task decodes each page JPEG at 1/2..1/8 size for the detector, keeping the long side at least
    twice the detector's input (``decode_side``): boxes come back in the full page's pixels, where the crop is
    taken. A 300 dpi letter: big enough to be reduced at an input size of 640 too."""
    from sigpipe import pdf
    from sigpipe.synth import compose_page, make_signers

    composed = compose_page("letter", np.random.default_rng(12345), make_signers(4, 9999), n_signatures=1, dpi=300,
                            note=False, stamp=False)
    page, truth = composed.image, tuple(float(v) for v in composed.signatures[0].box)
    assert detector.decode_side == 2 * detector.imgsz
    r = pdf.reduction_for(*page.shape, detector.decode_side)
    assert r > 1 and max(page.shape) // r >= detector.decode_side
    small = pdf.decode_page(pdf.encode_page(page), reduce=r)
    (boxes,) = detector.detect([small], shapes=[page.shape])
    best = max(boxes, key=lambda b: box_iou(b.xyxy, truth))
    assert box_iou(best.xyxy, truth) > 0.5
    assert best.nxyxy == pytest.approx(to_normalised(best.xyxy, page.shape))
    with pytest.raises(DetectError, match="shapes"):
        detector.detect([small, small], shapes=[page.shape])


# ------------------------------------------------------------------------------------------------------ the CLI
def test_cli_eval_errors_name_the_file(tmp_path):
    from typer.testing import CliRunner

    from flows.cli import app

    runner = CliRunner()
    res = runner.invoke(app, ["eval", "detector", "--data", str(tmp_path / "nope.yaml"), "--json"])
    assert res.exit_code != 0 and "nope.yaml: no such data.yaml" in res.output
    assert "Traceback" not in res.output
    yml = _dataset(tmp_path / "ds", {"a": "0 0.5 0.5 0.2\n"})
    res = runner.invoke(app, ["eval", "detector", "--data", str(yml), "--json"])
    assert res.exit_code != 0 and "a.txt:1: expected 5 fields" in res.output
    res = runner.invoke(app, ["eval", "detector", "--data", str(yml), "--split", "test", "--json"])
    assert res.exit_code != 0 and "no 'test' split" in res.output


@pytest.mark.slow
def test_cli_train_then_eval_tiny(tmp_path):
    """1 epoch at imgsz 128 on 12 synthetic pages: the whole train -> export -> card -> eval path (~1-2 min)."""
    from typer.testing import CliRunner

    from flows.cli import app
    from sigpipe.synth import export_yolo
    from sigpipe.weights import load_card

    export_yolo(tmp_path / "data", 8, 4, seed=3, imgsz=128)
    out = tmp_path / "models" / "det-tiny"
    runner = CliRunner()
    args = ["train", "detector", "--data", str(tmp_path / "data" / "data.yaml"), "--out", str(out), "--epochs", "1",
            "--imgsz", "128", "--batch", "4", "--run-dir", str(tmp_path / "run"), "--device", "cpu"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    card = load_card(out)
    assert card["kind"] == "detector" and card["architecture"] == "yolo11n" and card["input"]["imgsz"] == 128
    assert {"conf", "iou", "chosen_by", "f1"} <= set(card["thresholds"])
    assert {"precision", "recall", "map50", "map50_95"} <= set(card["metrics"]["valid"])
    assert "AGPL-3.0" in card["licence"] and (out / "README.md").is_file()
    assert card.weights_path.stat().st_size < 50e6
    res = runner.invoke(app, args + ["--resume"])  # a finished run is not trained again, only re-exported
    assert res.exit_code == 0 and "already finished" in res.output, res.output
    res = runner.invoke(app, ["eval", "detector", "--data", str(tmp_path / "data" / "data.yaml"), "--model", str(out),
                              "--json"])
    assert res.exit_code == 0, res.output
    m = json.loads(res.stdout.strip().splitlines()[-1])
    assert {"precision", "recall", "map50", "map50_95", "n_images", "n_boxes"} <= set(m)
    assert m["n_images"] == 4


@pytest.mark.slow
def test_train_detector_flow_tiny(tmp_path, prefect_harness):
    """The Prefect flow composes the same library call: 1 epoch at imgsz 128, then a model folder."""
    from flows.train import train_detector
    from sigpipe.detect import TrainConfig
    from sigpipe.synth import export_yolo
    from sigpipe.weights import load_card

    export_yolo(tmp_path / "data", 8, 4, seed=5, imgsz=128)
    cfg = TrainConfig(data=tmp_path / "data" / "data.yaml", run_dir=tmp_path / "run", epochs=1, imgsz=128, batch=4,
                      device="cpu")
    card = train_detector(cfg, out=str(tmp_path / "det"))
    assert card["kind"] == "detector" and card["training"]["command"].startswith("sigpipe train detector --data")
    assert load_card(tmp_path / "det")["sha256"] == card["sha256"]


def test_the_recorded_training_command_uses_only_flags_the_cli_has(tmp_path):
    """The card records the command that trained the model; every flag in it must be one `sigpipe train detector`
    takes, the fine-tuning ones included (--weights, --lr0, --optimizer, --warmup-epochs)."""
    import typer

    from flows.cli import app
    from sigpipe.detect import TrainConfig, train_command

    cfg = TrainConfig(data=tmp_path / "data.yaml", run_dir=tmp_path / "run", weights=tmp_path / "v1.pt", lr0=0.002,
                      optimizer="AdamW", warmup_epochs=0.0, device="cpu", workers=12, hours=0.12, cache=True,
                      infer_imgsz=416)
    cmd = train_command(cfg, tmp_path / "out").split()
    assert cmd[:3] == ["sigpipe", "train", "detector"] and "--warmup-epochs" in cmd
    assert cmd[cmd.index("--optimizer") + 1] == "AdamW"
    assert {"--workers", "--hours", "--cache", "--infer-imgsz"} <= set(cmd)
    detector = typer.main.get_command(app).commands["train"].commands["detector"]
    known = {o for p in detector.params for o in p.opts}
    assert {a for a in cmd if a.startswith("--")} <= known
    assert "--warmup-epochs" not in train_command(TrainConfig(data=cfg.data, run_dir=cfg.run_dir), tmp_path / "out")
    # SGD, the optimizer an --lr0 alone always meant, is not written
    sgd = train_command(TrainConfig(data=cfg.data, run_dir=cfg.run_dir, lr0=0.002), tmp_path / "out")
    assert "--lr0" in sgd and "--optimizer" not in sgd


def test_the_confidence_is_the_lowest_within_the_f1_tie():
    """Thresholds: the best F1, but of confidences within the tolerance of it the lowest (a missed signature costs
    more than a false box); an exact best is taken when nothing else is close."""
    from sigpipe.detect import pick_confidence

    f1 = np.array([0.80, 0.896, 0.9021, 0.899, 0.9056, 0.90])  # an ascending confidence grid
    assert pick_confidence(f1, 0.005) == 2
    assert pick_confidence(f1, 0.0) == 4
    assert pick_confidence(f1, 0.2) == 0
    with pytest.raises(ValueError, match="F1 curve"):
        pick_confidence(np.array([]))
