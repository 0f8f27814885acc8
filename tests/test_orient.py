"""Page orientation (sigpipe.orient): the geometry of quarter turns, the network's input, the turn decision, and
the product's orienter on pages it never saw."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sigpipe import orient
from sigpipe.detect import Box
from tasks.detect import stored_box, turned_shape


@pytest.mark.parametrize("k", [0, 1, 2, 3, -1, 5])
def test_turn_box_follows_the_pixels_a_quarter_turn_moves(k):
    img = np.zeros((37, 61), np.uint8)
    x0, y0, x1, y1 = 5, 7, 23, 19  # half-open pixel box
    img[y0:y1, x0:x1] = 1
    img[y0, x0] = 2  # a corner mark, so a flip would show
    turned = orient.turn_page(img, k)
    bx0, by0, bx1, by1 = (int(v) for v in orient.turn_box((x0, y0, x1, y1), k, img.shape))
    # the turned box holds exactly the box's pixels, turned (the corner mark where the turn puts it)
    np.testing.assert_array_equal(turned[by0:by1, bx0:bx1], np.rot90(img[y0:y1, x0:x1], k))
    assert turned.sum() == img.sum()
    np.testing.assert_array_equal(orient.turn_page(turned, -k), img)
    assert turned.flags["C_CONTIGUOUS"]


@pytest.mark.parametrize("q", [0, 1, 2, 3])
def test_stored_box_takes_a_box_on_the_upright_page_back_to_the_stored_page(q):
    stored = (400, 300)
    up_shape = turned_shape(stored, q)
    b = Box.from_pixels((30.0, 50.0, 130.0, 90.0), 0.8, up_shape)  # on the upright page
    sb = stored_box(b, q, stored)
    back = orient.turn_box(sb.xyxy, q, stored)  # the stored box turned upright again
    assert back == pytest.approx(b.xyxy)
    assert sb.confidence == pytest.approx(0.8)
    assert 0 <= sb.nx0 < sb.nx1 <= 1 and 0 <= sb.ny0 < sb.ny1 <= 1
    assert sb.nxyxy == pytest.approx((sb.x0 / 300, sb.y0 / 400, sb.x1 / 300, sb.y1 / 400))


def test_page_square_turns_with_the_page_and_makes_paper_zero():
    rng = np.random.default_rng(0)
    page = np.full((300, 200), 235, np.uint8)  # grey paper
    page[40:60, 20:180] = 20  # a printed rule near the top
    page[200:230, 120:180] = rng.integers(0, 80, (30, 60))
    x = orient.page_square(page, 64)
    assert x.shape == (64, 64) and x.dtype == np.float32
    assert x.max() <= 1 and x.min() >= 0
    assert np.count_nonzero(x[:, :10]) == 0  # the aspect is kept: the sides are padding
    assert x[:5].max() == 0  # paper is 0
    for k in (1, 2, 3):
        np.testing.assert_allclose(orient.page_square(orient.turn_page(page, k), 64), np.rot90(x, k), atol=1e-6)
    with pytest.raises(ValueError, match="uint8"):
        orient.page_square(page.astype(np.float32), 64)


def _probs(rows):
    return np.asarray(rows, np.float32)


def test_pick_conf_keeps_upright_pages_as_they_are():
    # four turns x 5 pages: upright pages whose best other turn has 0.3..0.9
    up = _probs([[0.7, 0.3, 0, 0], [0.4, 0.6, 0, 0], [0.1, 0, 0.9, 0], [0.95, 0, 0.05, 0], [0.5, 0, 0, 0.5]])
    probs = np.stack([up, up, up, up])
    assert orient.pick_conf(probs, max_false_turn=0.0) == pytest.approx(0.9001, abs=1e-4)
    assert orient.pick_conf(probs, max_false_turn=0.2) == pytest.approx(0.6001, abs=1e-4)  # one of 5 may turn
    assert orient.pick_conf(np.stack([np.eye(4)[[0, 0]]] * 4)) == 0.5  # never below 0.5


def test_at_conf_counts_each_outcome():
    up = _probs([[0.9, 0.1, 0, 0], [0.2, 0.8, 0, 0]])  # the second would be turned wrongly at 0.75
    t1 = _probs([[0, 0.9, 0.1, 0], [0.5, 0.4, 0.1, 0]])  # put right; left (0.4 < conf)
    t2 = _probs([[0, 0.05, 0.95, 0], [0, 0, 0.1, 0.9]])  # put right; turned wrongly
    t3 = _probs([[0, 0, 0, 1.0], [0.3, 0.3, 0, 0.4]])  # put right; left
    out = orient.at_conf(np.stack([up, t1, t2, t3]), 0.75)
    assert out == {"conf": 0.75, "upright_turned": 0.5, "turned_put_right": 0.5, "turned_left": 0.3333,
                   "turned_turned_wrongly": 0.1667}


def test_an_unsure_orienter_leaves_every_page_as_it_came():
    import torch

    torch.manual_seed(0)
    net = orient.OrientNet(widths=(4, 4), grid=2)
    net.eval()
    o = orient.Orienter(net=net, side=32, conf=1.01)  # no probability reaches it
    pages = [np.full((50, 40), 200, np.uint8), np.zeros((20, 90), np.uint8)]
    assert [k for k, _ in o.turns(pages)] == [0, 0]
    p = o.probabilities(pages)
    assert p.shape == (2, 4) and np.allclose(p.sum(1), 1, atol=1e-5)
    assert o.probabilities([]).shape == (0, 4)


def test_attach_names_the_orienter_in_a_new_detector_version(tmp_path):
    import json
    import shutil

    import torch

    from flows.params import DEFAULT_DETECTOR
    from sigpipe.detect import load_detector
    from sigpipe.weights import WeightsError, load_card

    src = tmp_path / "det"
    shutil.copytree(DEFAULT_DETECTOR, src)
    torch.manual_seed(0)
    net = orient.OrientNet(widths=(4, 4), grid=2)
    torch.save(net.state_dict(), tmp_path / "o.pt")
    record = {"arch_args": {"widths": [4, 4], "grid": 2}, "side": 32, "conf": 0.97, "best_epoch": 1,
              "val": {"pages": 3, "accuracy": 1.0}}
    before = load_card(src)
    card = orient.attach(src, tmp_path / "o.pt", src, record, command="sigpipe train detector-orienter ...")
    assert card["version"] == str(int(before.version.split(".")[0]) + 1)
    assert card["sha256"] == before.data["sha256"]  # the YOLO weights are the same
    o = card["orienter"]
    assert o["weights"] == "orient.pt" and o["side"] == 32 and o["conf"] == 0.97
    assert o["from"] == {"name": before.name, "version": before.version, "sha256": before.data["sha256"]}
    # attached again with a conf chosen elsewhere: one README section, the new conf
    card = orient.attach(src, tmp_path / "o.pt", src, record, version="9", conf=0.99)
    assert card["version"] == "9" and card["orienter"]["conf"] == 0.99
    assert (src / "README.md").read_text().count(orient._README_HEADING) == 1
    det = load_detector(src)
    turns = det.upright_turns([np.full((120, 90), 230, np.uint8), np.full((60, 200), 230, np.uint8)])
    assert turns == [0, 0]  # a random network is never sure at 0.99 on blank pages
    # the orienter's weights are checked like the detector's
    (src / "orient.pt").write_bytes((src / "orient.pt").read_bytes() + b"x")
    with pytest.raises(WeightsError, match="orienter"):
        load_detector(src)
    assert json.loads((src / "card.json").read_text())["orienter"]["sha256"] == card["orienter"]["sha256"]


def test_eval_orienter_errors_are_clear(stand_in_models, tmp_path):
    from typer.testing import CliRunner

    from flows.cli import app
    from flows.params import DEFAULT_DETECTOR

    runner = CliRunner()
    det, _ = stand_in_models
    (tmp_path / "pages").mkdir()
    res = runner.invoke(app, ["eval", "orienter", "--images", str(tmp_path / "pages"), "--model", str(det)])
    assert res.exit_code != 0 and "names no page orienter" in res.output
    res = runner.invoke(app, ["eval", "orienter", "--images", str(tmp_path / "pages"), "--model",
                              str(DEFAULT_DETECTOR)])
    assert res.exit_code != 0 and "no page images" in res.output
    (tmp_path / "pages" / "a.png").write_bytes(b"not a png")
    res = runner.invoke(app, ["eval", "orienter", "--images", str(tmp_path / "pages"), "--model",
                              str(DEFAULT_DETECTOR)])
    assert res.exit_code != 0 and "a.png: not a readable image" in res.output


def test_combine_reads_each_answer_as_the_same_page_turned_further():
    # a page turned by 2: the network asked about it turned j more quarter turns says "turned by 2 + j"
    answers = np.full((4, 4), 0.1)
    for j in range(4):
        answers[j, (2 + j) % 4] = 0.7
    post = orient.combine(answers)
    assert post.argmax() == 2 and post.sum() == pytest.approx(1) and post[2] > 0.99
    # answers that contradict one another leave no turn sure
    assert orient.combine(np.full((4, 4), 0.25)).max() == pytest.approx(0.25)


class _QuadrantNet:
    """Answers from where the ink is: an upright test page has its mark top left, and a page turned k quarter
    turns counter-clockwise has it in the k-th corner counted that way (top left, bottom left, bottom right, top
    right)."""

    def __init__(self):
        self.calls = 0

    def __call__(self, x):
        import torch

        self.calls += len(x)
        h = x.shape[-1] // 2
        q = torch.stack([x[:, 0, :h, :h].sum((1, 2)), x[:, 0, h:, :h].sum((1, 2)), x[:, 0, h:, h:].sum((1, 2)),
                         x[:, 0, :h, h:].sum((1, 2))], 1)
        return 4 * q / q.sum(1, keepdim=True)  # logits: ~4 on the marked corner, ~0 elsewhere


def test_the_orienter_asks_again_only_for_pages_not_called_upright():
    page = np.full((64, 64), 240, np.uint8)
    page[4:20, 4:20] = 10  # the mark, top left
    net = _QuadrantNet()
    o = orient.Orienter(net=net, side=32, conf=0.99, gate=0.5)
    got = o.turns([orient.turn_page(page, k) for k in range(4)])
    assert [k for k, _ in got] == [0, 1, 2, 3]
    assert got[0][1] >= 0.5 and all(p >= 0.99 for _, p in got[1:])  # the upright page: its one answer
    assert net.calls == 4 + 3 * 3  # one answer each, three more for each of the three turned pages
    # a page with marks in two corners looks the same turned by two: unsure, so left as it came
    both = page.copy()
    both[44:60, 44:60] = 10
    net = _QuadrantNet()
    (k, p), = orient.Orienter(net=net, side=32, conf=0.99, gate=0.5).turns([orient.turn_page(both, 2)])
    assert k == 0 and p == pytest.approx(0.5, abs=0.01) and net.calls == 4
    # a high gate asks about the upright page too, and it stays
    net = _QuadrantNet()
    assert orient.Orienter(net=net, side=32, conf=0.99, gate=0.999).turns([page])[0][0] == 0 and net.calls == 4


def test_the_orienter_is_sure_of_a_page_unless_it_left_it_as_it_came_unsure():
    """sure: a page called upright at the gate (one answer), a page turned (its turn reached conf), a page asked
    four times whose combined answer calls it upright at conf; not sure: a page asked four times and left as it
    came with no turn, none included, at conf (it may lie turned). A detector whose card names no orienter gives
    (0, None): nothing looked."""
    from flows.params import DEFAULT_DETECTOR
    from sigpipe.detect import load_detector

    page = np.full((64, 64), 240, np.uint8)
    page[4:20, 4:20] = 10
    both = page.copy()
    both[44:60, 44:60] = 10
    o = orient.Orienter(net=_QuadrantNet(), side=32, conf=0.99, gate=0.5)
    got = o.decide([orient.turn_page(page, k) for k in range(4)] + [orient.turn_page(both, 2)])
    assert [(t.k, t.sure) for t in got] == [(0, True), (1, True), (2, True), (3, True), (0, False)]
    assert got[-1].p == pytest.approx(0.5, abs=0.01)
    asked = orient.Orienter(net=_QuadrantNet(), side=32, conf=0.99, gate=0.999).decide([page])[0]
    assert asked.k == 0 and asked.sure and asked.p >= 0.99
    assert o.decide([]) == []
    plain = load_detector(Path(DEFAULT_DETECTOR).parent / "detector-yolo11n-640")
    assert plain.orienter is None
    assert plain.upright([page, both]) == [(0, None), (0, None)]


def test_at_turns_matches_the_orienter_on_every_turn():
    page = np.full((64, 64), 240, np.uint8)
    page[4:20, 4:20] = 10
    o = orient.Orienter(net=_QuadrantNet(), side=32, conf=0.99, gate=0.5)
    single = np.stack([o.probabilities([orient.turn_page(page, k)]) for k in range(4)])  # (4, 1, 4)
    decided = orient.at_turns(orient.single_to_turns(single), o.gate)
    assert [int(decided[k, 0].argmax()) for k in range(4)] == [k for k, _ in o.turns(
        [orient.turn_page(page, k) for k in range(4)])]


def test_a_lake_refuses_another_orienter_under_a_detector_version_it_knows(tmp_path):
    """Rows are keyed by the detector's name and version; the pages it turned depend on its orienter, so another
    orienter under the same version is refused as other YOLO weights are."""
    from sigpipe.weights import ModelVersionConflict
    from tasks.common import register_model

    lake = tmp_path / "lake"
    lake.mkdir()
    card = {"kind": "detector", "name": "det", "version": "2", "sha256": "a" * 64,
            "orienter": {"weights": "orient.pt", "sha256": "b" * 64}}
    register_model(str(lake), "run-1", card, str(tmp_path))
    register_model(str(lake), "run-2", card, str(tmp_path))  # the same: nothing to say
    with pytest.raises(ModelVersionConflict, match=r"page orienter sha256 cccccccccccc\.\.\..*bbbbbbbbbbbb"):
        register_model(str(lake), "run-3", {**card, "orienter": {"weights": "orient.pt", "sha256": "c" * 64}},
                       str(tmp_path))
    with pytest.raises(ModelVersionConflict, match="page orienter sha256 none"):
        register_model(str(lake), "run-4", {k: v for k, v in card.items() if k != "orienter"}, str(tmp_path))
    with pytest.raises(ModelVersionConflict, match="has weights sha256 dddd"):
        register_model(str(lake), "run-5", {**card, "sha256": "d" * 64}, str(tmp_path))
    register_model(str(lake), "run-6", {**card, "version": "3", "orienter": {"sha256": "c" * 64}}, str(tmp_path))
