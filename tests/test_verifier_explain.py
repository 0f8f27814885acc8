from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from sigpipe.verifier.explain import occlusion, windows


@pytest.mark.parametrize("size", [(150, 220), (7, 5), (1, 1), (149, 301)])
@pytest.mark.parametrize("grid,overlap", [((3, 5), 1), ((3, 5), 2), ((4, 7), 1), ((10, 10), 3)])
def test_windows_cover_every_pixel_inside_the_crop(size, grid, overlap):
    boxes = windows(size, grid, overlap)
    cover = np.zeros(size, np.int32)
    for x0, y0, x1, y1 in boxes:
        assert 0 <= x0 < x1 <= size[1] and 0 <= y0 < y1 <= size[0]
        cover[y0:y1, x0:x1] += 1
    assert cover.min() >= 1
    if overlap == 1 and size[0] % grid[0] == 0 and size[1] % grid[1] == 0:
        assert cover.max() == 1 and len(boxes) == grid[0] * grid[1]  # cells: each pixel in exactly one


def _toy(bad: tuple[slice, slice]):
    """An 'embedding' that is the ink inside ``bad`` and a score that falls with it: erasing ink there raises the
    score, erasing ink elsewhere changes nothing."""
    calls: list[int] = []

    def embed(batch: np.ndarray) -> np.ndarray:
        calls.append(len(batch))
        return batch[:, bad[0], bad[1]].reshape(len(batch), -1).sum(1, dtype=np.float64)[:, None] / 255.0

    return embed, (lambda e: -e[:, 0]), calls


def test_occlusion_finds_the_window_that_costs_the_score():
    crop = np.zeros((150, 250), np.uint8)
    crop[60:70, 10:240] = 200  # a stroke across the crop
    crop[100:140, 160:200] = 255  # a blob in the cell rows 100-150, columns 150-200
    embed, score, calls = _toy((slice(100, 150), slice(150, 200)))
    occ = occlusion(crop, embed, score, grid=(3, 5))
    assert occ.base == pytest.approx(-(crop[100:150, 150:200].sum() / 255.0))
    assert calls == [1 + len(occ.windows)] and len(occ.windows) == 5 + 1  # only the cells with ink, one batch
    assert tuple(occ.windows[occ.top]) == (150, 100, 200, 150)
    assert occ.top_gain == pytest.approx(-occ.base)  # erasing it gives back all the blob cost
    assert occ.delta[120, 180] == pytest.approx(occ.top_gain)
    assert occ.delta[65, 20] == 0 and occ.delta[0, 0] == 0  # ink that does not matter, and no ink
    assert (np.sort(occ.scores)[:-1] == occ.base).all()


def test_occlusion_with_overlap_averages_the_windows_over_a_pixel():
    crop = np.zeros((60, 60), np.uint8)
    crop[25:35, 25:35] = 255
    embed, score, _ = _toy((slice(0, 60), slice(0, 60)))
    occ = occlusion(crop, embed, score, grid=(2, 2), overlap=2)  # 30 px windows stepped by 15: 9 windows
    assert occ.windows.shape == (9, 4) and occ.top_gain == pytest.approx(100.0)
    assert 0 < occ.delta[30, 30] <= occ.top_gain


def test_occlusion_of_a_blank_crop_and_bad_input():
    embed, score, _ = _toy((slice(0, 10), slice(0, 10)))
    occ = occlusion(np.zeros((40, 60), np.uint8), embed, score)
    assert occ.top is None and occ.top_gain == 0.0 and len(occ.scores) == 0 and not occ.delta.any()
    with pytest.raises(ValueError, match="uint8"):
        occlusion(np.zeros((40, 60), np.float32), embed, score)
    with pytest.raises(ValueError, match=r"\(h, w\)"):
        occlusion(np.zeros((2, 40, 60), np.uint8), embed, score)


def test_the_committed_verifier_points_at_a_mark_over_a_signature():
    """With the shipped verifier and a writer enrolled as the audit enrols one, a mark drawn into one cell of a
    genuine signature's cleaned crop (a ring and a letter, as a stamp leaves) is, for most signers, the cell whose
    erasure raises the score most: chance would pick it about one time in 11 (the cells holding ink)."""
    from sigpipe.audit import writer_model
    from sigpipe.synth import signers
    from sigpipe.verifier import Verifier

    v = Verifier.load(Path(__file__).resolve().parents[1] / "models" / "verifier-signet")
    cells = windows(v.clean_kwargs["size"])  # the default grid's cells, as the audit's sheets use them
    hits = tried = 0
    for seed in range(8):
        rng = np.random.default_rng(seed)
        style = signers.make_signer(signers.signer_id(seed), rng)
        refs = v.clean([signers.signature_crop(style, rng) for _ in range(5)])
        model, _ = writer_model(v.card.data, style.signer_id, v.embed_clean(refs))
        genuine = v.clean([signers.signature_crop(style, rng)])[0]
        for cell in cells[[5, 9]]:  # the second cell of the middle row and of the bottom row
            x0, y0, x1, y1 = (int(t) for t in cell)
            cw, ch = x1 - x0, y1 - y0
            q = genuine.copy()
            cv2.circle(q, (x0 + cw // 2, y0 + ch // 2), min(ch, cw) * 2 // 5, 255, 3)
            cv2.putText(q, "X", (x0 + cw // 4, y0 + ch * 7 // 10), cv2.FONT_HERSHEY_SIMPLEX, 0.8, 255, 2)
            occ = occlusion(q, v.embed_clean, model.score)
            tried += 1
            hits += tuple(int(t) for t in occ.windows[occ.top]) == (x0, y0, x1, y1) and occ.top_gain > 0
    assert hits >= 11 and tried == 16, hits
