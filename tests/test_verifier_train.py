"""A tiny end-to-end training run on synthetic signers: it must lower the validation EER, export a model
folder whose card drives inference, and resume from its checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from sigpipe.verifier.augment import AugmentConfig, augment
from sigpipe.verifier.train import DataSpec, TrainConfig, train

SIZE = (64, 96)


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory):
    from sigpipe.synth import generate

    out = tmp_path_factory.mktemp("synth")
    generate(out, signers=20, documents=0, seed=5, genuine_per_signer=8, forged_per_signer=6,
             references_per_signer=0)
    return out / "signers"


def _cfg(root, tmp_path, **kw) -> TrainConfig:
    names = sorted(p.name for p in root.iterdir())
    base = dict(
        train_data=[DataSpec(root=str(root), layout="folders", writers=",".join(names[:14]), prefix="s:")],
        val_data=DataSpec(root=str(root), layout="folders", writers=",".join(names[14:]), prefix="s:"),
        arch="signet", arch_args={"width": 0.25, "hidden": 128, "dim": 64}, size=SIZE, loss="lsc+",
        P=6, K=3, F=2, M=4, epochs=6, batches_per_epoch=12, lr=3e-3, warmup_epochs=0.5, patience=99,
        run_dir=str(tmp_path / "run"), cache_dir=str(tmp_path / "cache"), out=str(tmp_path / "model"),
        wd_references=(3,), seed=0,
    )
    base.update(kw)
    return TrainConfig(**base)


def test_training_lowers_eer_and_exports(synth_root, tmp_path):
    cfg = _cfg(synth_root, tmp_path)
    summary = train(cfg, log=lambda m: None, progress=False)
    assert summary["best"]["eer_skilled"] < summary["initial"]["eer_skilled"] - 0.02
    assert summary["best"]["eer_random"] < summary["initial"]["eer_random"]
    card = json.loads((tmp_path / "model" / "card.json").read_text())
    assert card["kind"] == "verifier" and card["preprocessing"]["size"] == list(SIZE) and card["version"] == "1"
    assert -1 < card["threshold"]["value"] < 1 and card["writer_dependent"]["by_references"]["3"]["aggregation"]
    assert card["metrics"]["validation"]["command"].startswith("sigpipe eval verifier")
    # the audit's inconclusive band is calibrated at export: a card without it decides nothing inconclusive
    below, above = card["writer_dependent"]["by_references"]["3"]["inconclusive_band"]
    assert below >= 0 and above >= 0 and below + above > 0
    assert "inconclusive_band_how" in card["writer_dependent"]

    from sigpipe.verifier.evaluate import evaluate_folder
    from sigpipe.verifier.sampler import parse_writers

    names = sorted(p.name for p in synth_root.iterdir())
    rep = evaluate_folder(tmp_path / "model", synth_root, "folders", parse_writers(",".join(names[14:])))
    for k in ("eer", "eer_threshold", "far_skilled", "far_random", "frr", "hter", "auc", "eer_user_thresholds",
              "n_writers", "n_pos", "n_neg"):
        assert k in rep
    assert rep["n_writers"] == 6
    # the card's figures are what `sigpipe eval verifier` measures
    assert rep["eer"] == pytest.approx(card["metrics"]["validation"]["eer"], abs=1e-6)
    wd = evaluate_folder(tmp_path / "model", synth_root, "folders", parse_writers(",".join(names[14:])),
                         references=3)
    assert wd["mode"] == "writer-dependent" and 0 <= wd["eer"] <= 1

    # resume: the finished run continues from last.pt for two more epochs
    more = train(cfg.model_copy(update={"epochs": 8, "out": None}), log=lambda m: None, progress=False)
    assert more["epochs_run"] == 8


def test_ensemble_scores_the_mean_of_its_members_cosines():
    import torch

    from sigpipe.verifier.nets import Ensemble

    torch.manual_seed(0)
    ens = Ensemble("signet", {"width": 0.25, "hidden": 0, "dim": 16}, n=3).eval()
    x = torch.rand(4, 1, *SIZE)
    with torch.no_grad():
        e = ens(x)
        members = [torch.nn.functional.normalize(m(x), dim=1) for m in ens.members]
    assert e.shape == (4, 48) and ens.dim == 48
    assert torch.allclose(e.norm(dim=1), torch.ones(4), atol=1e-5)
    mean_cos = sum(m @ m.T for m in members) / 3
    assert torch.allclose(e @ e.T, mean_cos, atol=1e-5)
    with pytest.raises(ValueError):
        Ensemble("ensemble", {}, n=2)
    with pytest.raises(ValueError, match="projected dim"):
        Ensemble("signet", {"width": 0.25, "hidden": 0, "dim": 16}, n=3, dim=49)
    small = Ensemble("signet", {"width": 0.25, "hidden": 0, "dim": 16}, n=3, dim=8).eval()
    with torch.no_grad():
        assert small(x).shape == (4, 8) and torch.allclose(small(x).norm(dim=1), torch.ones(4), atol=1e-5)


@pytest.fixture(scope="module")
def members(synth_root, tmp_path_factory):
    """Two tiny verifiers trained apart (seeds 0 and 1)."""
    tmp = tmp_path_factory.mktemp("members")
    folders = []
    for seed in (0, 1):
        cfg = _cfg(synth_root, tmp / f"m{seed}", epochs=3, seed=seed, out=str(tmp / f"m{seed}" / "model"))
        train(cfg, log=lambda m: None, progress=False)
        folders.append(tmp / f"m{seed}" / "model")
    return folders


def test_combine_members_into_one_calibrated_model(synth_root, members, tmp_path):
    from sigpipe.verifier.ensemble import combine
    from sigpipe.verifier.evaluate import evaluate_folder
    from sigpipe.verifier.infer import Verifier
    from sigpipe.verifier.sampler import parse_writers

    folders = members
    card = combine(folders, tmp_path / "ens", cache_dir=str(tmp_path / "cache"), command="test", log=lambda m: None)
    assert card["arch"] == "ensemble" and card["arch_args"]["n"] == 2 and card["embedding_dim"] == 128
    assert [m["seed"] for m in card["training"]["members"]] == [0, 1]
    assert card["writer_dependent"]["by_references"]["3"]["inconclusive_band"]  # calibrated as training does
    assert card["version"] == "1" and (tmp_path / "ens" / "README.md").read_text().count("seed") >= 2
    v = Verifier.load(tmp_path / "ens")
    names = sorted(p.name for p in synth_root.iterdir())
    rep = evaluate_folder(tmp_path / "ens", synth_root, "folders", parse_writers(",".join(names[14:])))
    assert rep["eer"] == pytest.approx(card["metrics"]["validation"]["eer"], abs=1e-6)
    assert v.embed_images([np.full((60, 90), 255, np.uint8)]).shape == (1, 128)

    # projected to the joined embeddings' principal directions: one member's size, nearly the same cosines
    small = combine(folders, tmp_path / "ens64", cache_dir=str(tmp_path / "cache"), dim=64, log=lambda m: None)
    assert small["embedding_dim"] == 64 and small["arch_args"]["dim"] == 64
    assert "principal directions" in small["training"]["projection"]
    from sigpipe.verifier.data import discover, load_clean

    crops = load_clean(discover(synth_root, "folders").paths[:40], SIZE, None, 1)
    full, proj = v.embed_clean(crops), Verifier.load(tmp_path / "ens64").embed_clean(crops)
    assert np.abs(full @ full.T - proj @ proj.T).max() < 0.05

    # members must be alike: another width is refused, and so are the same weights twice
    other = _cfg(synth_root, tmp_path / "m2", epochs=1, arch_args={"width": 0.25, "hidden": 128, "dim": 32},
                 out=str(tmp_path / "m2" / "model"))
    train(other, log=lambda m: None, progress=False)
    with pytest.raises(ValueError, match="arch_args"):
        combine([folders[0], tmp_path / "m2" / "model"], tmp_path / "bad", cache_dir=str(tmp_path / "cache"))
    with pytest.raises(ValueError, match="twice"):
        combine([folders[0], folders[0]], tmp_path / "bad", cache_dir=str(tmp_path / "cache"))


def test_next_version_never_gives_other_weights_a_used_version(tmp_path):
    from sigpipe.weights import next_version, write_card

    (tmp_path / "w.pt").write_bytes(b"first")
    assert next_version(tmp_path, "m", tmp_path / "w.pt") == "1"  # no card yet
    write_card(tmp_path, {"name": "m", "version": "1", "kind": "verifier", "weights": "w.pt"})
    assert next_version(tmp_path, "m", tmp_path / "w.pt") == "1"  # the same weights exported again
    (tmp_path / "w.pt").write_bytes(b"retrained")
    assert next_version(tmp_path, "m", tmp_path / "w.pt") == "2"
    assert next_version(tmp_path, "other", tmp_path / "w.pt") == "1"  # another model's folder reused
    for old, new in (("v1.3", "v1.4"), ("9", "10"), ("2-rc", "3-rc"), ("beta", "beta.1")):
        (tmp_path / "w.pt").write_bytes(old.encode())
        write_card(tmp_path, {"name": "m", "version": old, "kind": "verifier", "weights": "w.pt"})
        assert next_version(tmp_path, "m", tmp_path / "w.pt") == old
        (tmp_path / "w.pt").write_bytes(b"x" + old.encode())
        assert next_version(tmp_path, "m", tmp_path / "w.pt") == new


def test_augment_keeps_background_zero():
    rng = np.random.default_rng(0)
    img = np.zeros((64, 96), np.uint8)
    img[26:38, 30:66] = 180
    for _ in range(20):
        out = augment(img, rng, AugmentConfig())
        assert out.shape == img.shape and out.dtype == np.uint8
        assert out[:3].max() == 0 and out[:, :2].max() == 0  # border stays background
    assert augment(img, rng, AugmentConfig(enabled=False)) is img


def test_clutter_adds_marks_and_keeps_the_pen():
    from sigpipe.verifier.augment import clutter

    img = np.zeros((64, 96), np.uint8)
    cv2.line(img, (8, 40), (88, 30), 150, 2)
    cv2.line(img, (20, 20), (30, 50), 150, 2)
    rng = np.random.default_rng(0)
    added = 0
    for _ in range(30):
        out = clutter(img, rng)
        assert out.shape == img.shape and out.dtype == np.uint8
        assert (out >= img).all()  # marks are drawn over the pen, never erase it
        assert out.max() <= 255 and out[out > img].max() <= int(150 * 1.1) + 1  # about the pen's level
        added += int(((out > 0) & (img == 0)).sum() > 0)
    assert added >= 25  # nearly every call leaves a mark inside the crop


def test_stamp_beside_shrinks_the_signature_beside_a_stamp():
    from sigpipe.verifier.augment import stamp_beside

    img = np.zeros((150, 220), np.uint8)
    img[60:90, 10:210] = 200  # a signature filling the canvas's width, as the cleaner fits it
    rng = np.random.default_rng(2)
    shrunk, marked = 0, 0
    for _ in range(30):
        out = stamp_beside(img, rng)
        assert out.shape == img.shape and out.dtype == np.uint8
        assert out.max() <= 255 and (out > 0).any()
        xs = np.nonzero((out >= 190).sum(axis=0) >= 3)[0]  # the bar's columns (the stamp is mostly lighter)
        shrunk += int(xs.max() - xs.min() < 210)  # cropped with (part of) the stamp, or an end cut: not the width
        marked += int(((out > 0) & (out < 150)).sum() > 50)
    assert shrunk >= 10 and marked >= 20
    empty = np.zeros((150, 220), np.uint8)
    assert stamp_beside(empty, rng) is empty  # nothing to stamp beside

    # as a training augmentation (``--augment '{"p_stamp": 1}'``): the signature no longer fills the canvas
    from sigpipe.verifier.augment import AugmentConfig, augment

    plain = AugmentConfig(rotate_deg=0, scale=0, shear=0, shift=0, p_elastic=0, p_morph=0, ink_gain=(1.0, 1.0))
    assert np.array_equal(augment(img, np.random.default_rng(5), plain), img)
    cols = [np.nonzero((augment(img, np.random.default_rng(k), AugmentConfig(**{**plain.__dict__, "p_stamp": 1.0}))
                        >= 190).sum(axis=0) >= 3)[0] for k in range(10)]
    assert sum(int(c.max() - c.min() < 210) for c in cols) >= 3


def test_redraw_pen_scales_the_ink_contrast_about_white():
    from sigpipe.verifier.augment import redraw_pen

    grey = np.array([[255, 235, 155, 55]], np.uint8)  # paper, a faint edge, a stroke, the stroke's core
    np.testing.assert_array_equal(redraw_pen(grey, 0.5), [[255, 245, 205, 155]])
    np.testing.assert_array_equal(redraw_pen(grey, 2.0), [[255, 215, 55, 0]])  # clipped at black
    np.testing.assert_array_equal(redraw_pen(grey, 1.0), grey)


def test_pen_views_redraw_the_students_images_and_augment_both_alike():
    from sigpipe.verifier.distill import _pen_views

    rng = np.random.default_rng(0)
    tx = np.zeros((6, 40, 60), np.uint8)
    for i in range(6):
        cv2.line(tx[i], (5, 10 + i), (55, 30 - i), 200, 3)
    pens = np.stack([tx // 4, np.minimum(tx.astype(int) * 2, 255).astype(np.uint8)])  # (F=2, N, h, w)
    xs = np.concatenate([tx[[0, 3, 5]], tx[[1]]])  # three training images, then one other image
    it = np.array([0, 3, 5])
    teacher, student = _pen_views(xs, it, pens, 1.0, rng, None)
    np.testing.assert_array_equal(teacher, xs)  # no augmentation: the teacher sees the scans as written
    for j, i in enumerate(it):  # every training image redrawn with one of the pens, the other image left alone
        assert any(np.array_equal(student[j], pens[f, i]) for f in range(2))
    np.testing.assert_array_equal(student[3], xs[3])
    aug = AugmentConfig()
    teacher, student = _pen_views(xs, it, pens, 0.0, np.random.default_rng(1), aug)
    np.testing.assert_array_equal(student, teacher)  # nothing redrawn: the same augmentation for both
    assert not np.array_equal(teacher, xs)
    teacher, student = _pen_views(xs, it, np.stack([tx, tx]), 1.0, np.random.default_rng(2), aug)
    np.testing.assert_array_equal(student, teacher)  # a "redraw" that changes nothing: augmented alike


def test_cut_end_removes_one_end_and_refits():
    from sigpipe.verifier.augment import cut_end

    img = np.zeros((64, 96), np.uint8)
    img[30:34, 8:48] = 100  # a bar: its left half lighter than its right
    img[30:34, 48:88] = 200
    rng = np.random.default_rng(1)
    sides = []
    for _ in range(30):
        out = cut_end(img, rng, (0.2, 0.3))
        ys, xs = np.nonzero(out)
        assert xs.min() <= 1 and xs.max() >= 94  # what is left is re-fitted to the width, as the cleaner fits
        bright = (out[:, xs].max(axis=0) > 150).mean()  # share of the kept bar from the right half
        # a fifth to 0.3 of the bar went from one end: the right one leaves 0.25-0.43 bright, the left 0.57-0.75
        assert 0.2 < bright < 0.46 or 0.54 < bright < 0.8, bright
        sides.append("right" if bright < 0.5 else "left")
    assert sides.count("right") > sides.count("left") > 0  # flourishes end signatures: the right end more often


@pytest.mark.slow
def test_train_verifier_flow(synth_root, tmp_path, prefect_harness):
    from flows.train import train_verifier

    cfg = _cfg(synth_root, tmp_path, epochs=2, batches_per_epoch=4)
    summary = train_verifier(cfg)
    assert summary["epochs_run"] == 2 and (tmp_path / "model" / "card.json").is_file()


@pytest.mark.slow
def test_distill_verifier_flow(synth_root, members, tmp_path, prefect_harness):
    from flows.train import distill_verifier
    from sigpipe.verifier.distill import DistillConfig
    from sigpipe.verifier.ensemble import combine

    combine(members, tmp_path / "ens", cache_dir=str(tmp_path / "cache"), dim=64, log=lambda m: None)
    summary = distill_verifier(DistillConfig(teacher=str(tmp_path / "ens"), out=str(tmp_path / "student"), epochs=1,
                                             batches_per_epoch=3, batch=16, threads=1, run_dir=str(tmp_path / "run"),
                                             cache_dir=str(tmp_path / "cache")))
    assert summary["epochs_run"] == 1 and (tmp_path / "student" / "card.json").is_file()


def test_distil_an_ensemble_into_one_network(synth_root, members, tmp_path):
    from sigpipe.verifier.distill import DistillConfig, distill
    from sigpipe.verifier.ensemble import combine
    from sigpipe.verifier.infer import Verifier

    teacher = combine(members, tmp_path / "ens", cache_dir=str(tmp_path / "cache"), dim=64, log=lambda m: None)
    cfg = DistillConfig(teacher=str(tmp_path / "ens"), out=str(tmp_path / "student"), epochs=3, batches_per_epoch=10,
                        batch=32, lr=2e-3, threads=1, run_dir=str(tmp_path / "run"), cache_dir=str(tmp_path / "cache"),
                        command="test")
    s = distill(cfg, log=lambda m: None)
    # it learns the teacher's embedding: closer to it than where it started (the first member, mapped)
    assert s["last"]["teacher_cos"] > s["initial"]["teacher_cos"] + 0.1
    card = json.loads((tmp_path / "student" / "card.json").read_text())
    assert card["arch"] == "signet" and card["embedding_dim"] == teacher["embedding_dim"] == 64
    src = card["training"]["distilled_from"]
    assert src["sha256"] == teacher["sha256"] and src["initialised_from_first_member"] is True
    assert card["preprocessing"]["size"] == teacher["preprocessing"]["size"]
    assert card["writer_dependent"]["by_references"]["3"]["inconclusive_band"]  # calibrated as training does
    assert card["training"]["best_epoch"] == card["training"]["epochs_run"] == 3  # the end of the schedule
    v = Verifier.load(tmp_path / "student")
    assert v.embed_images([np.full((60, 90), 255, np.uint8)]).shape == (1, 64)

    # resumed from its checkpoint for one more epoch; the teacher itself is never overwritten
    assert distill(cfg.model_copy(update={"epochs": 4}), log=lambda m: None)["epochs_run"] == 4
    with pytest.raises(ValueError, match="teacher"):
        distill(cfg.model_copy(update={"out": str(tmp_path / "ens")}), log=lambda m: None)

    # more images to imitate the teacher on: recorded in the card; the validation writers are refused
    names = sorted(p.name for p in synth_root.iterdir())
    more = {"root": str(synth_root), "layout": "folders", "writers": ",".join(names[:14]), "prefix": "more:"}
    cfg2 = cfg.model_copy(update={"out": str(tmp_path / "s2"), "run_dir": str(tmp_path / "run2"), "epochs": 1,
                                  "batches_per_epoch": 3, "extra": [more]})
    distill(cfg2, log=lambda m: None)
    card2 = json.loads((tmp_path / "s2" / "card.json").read_text())
    assert card2["training"]["extra_data"][0]["prefix"] == "more:" and card2["training"]["batch"]["extra_share"] == 0.5
    leak = {**more, "writers": ",".join(names[14:]), "prefix": "s:"}
    with pytest.raises(ValueError, match="overlap"):
        distill(cfg2.model_copy(update={"run_dir": str(tmp_path / "run3"), "extra": [leak]}), log=lambda m: None)

    # stamped inputs for the student (the teacher sees them clean), starting from the first student: recorded
    cfg3 = cfg.model_copy(update={"out": str(tmp_path / "s3"), "run_dir": str(tmp_path / "run4"), "epochs": 1,
                                  "batches_per_epoch": 3, "p_stamp": 0.5, "p_pen": 0.5, "pen_factors": (0.4, 2.0),
                                  "init_from": str(tmp_path / "student")})
    s3 = distill(cfg3, log=lambda m: None)
    assert s3["initial"]["teacher_cos"] > s["initial"]["teacher_cos"] + 0.1  # it starts where the first student is
    card3 = json.loads((tmp_path / "s3" / "card.json").read_text())
    src3 = card3["training"]["distilled_from"]
    assert card3["training"]["batch"]["p_stamp"] == 0.5 and src3["initialised_from_first_member"] is False
    assert card3["training"]["batch"]["p_pen"] == 0.5 and card3["training"]["batch"]["pen_factors"] == [0.4, 2.0]
    first = json.loads((tmp_path / "student" / "card.json").read_text())  # re-exported after its resume
    assert src3["initialised_from"]["sha256"] == first["sha256"]
    with pytest.raises(ValueError, match="not the student's"):  # another architecture cannot seed the student
        distill(cfg3.model_copy(update={"run_dir": str(tmp_path / "run5"), "init_from": str(tmp_path / "ens")}),
                log=lambda m: None)

    # pairs: the student sees a crop as the audit cuts it, the teacher the same signature alone; recorded
    from sigpipe.verifier.doc_pairs import save

    rng = np.random.default_rng(0)
    alone = rng.integers(0, 2, (6, *SIZE), dtype=np.uint8) * 255
    cut = alone.copy()
    cut[:, :, : SIZE[1] // 4] = 0  # a stroke cut off
    save(tmp_path / "pairs.npz", cut, alone, [f"s{i}.png" for i in range(6)])
    cfg4 = cfg.model_copy(update={"out": str(tmp_path / "s4"), "run_dir": str(tmp_path / "run6"), "epochs": 1,
                                  "batches_per_epoch": 2, "pairs": str(tmp_path / "pairs.npz"), "pairs_share": 0.25})
    distill(cfg4, log=lambda m: None)
    card4 = json.loads((tmp_path / "s4" / "card.json").read_text())
    assert card4["training"]["batch"]["pairs_share"] == 0.25 and card4["training"]["pairs"]["n"] == 6
    assert len(card4["training"]["pairs"]["sha256"]) == 64
    np.savez(tmp_path / "bad.npz", crops=cut[:, :10])
    for bad, why in ((tmp_path / "bad.npz", "'crops', 'targets'"), (tmp_path / "none.npz", "not an .npz")):
        with pytest.raises(ValueError, match=why):
            distill(cfg4.model_copy(update={"run_dir": str(tmp_path / "run7"), "pairs": str(bad)}), log=lambda m: None)
    with pytest.raises(ValueError, match="leave no training image"):
        distill(cfg4.model_copy(update={"run_dir": str(tmp_path / "run8"), "extra": [more], "pairs_share": 0.5}),
                log=lambda m: None)


def test_distil_cli_refuses_a_missing_teacher_and_overwriting_it(tmp_path):
    from typer.testing import CliRunner

    from flows.cli import app

    res = CliRunner().invoke(app, ["train", "verifier-distill", str(tmp_path / "none"), "--out", str(tmp_path / "s")])
    assert res.exit_code == 2 and "no card.json" in res.output
    res = CliRunner().invoke(app, ["train", "verifier-distill", str(tmp_path), "--out", str(tmp_path)])
    assert res.exit_code == 2 and "is the teacher" in res.output
    # verifier-pairs: a folder that is not CEDAR, writers that are not CEDAR's numbers
    pairs = ["train", "verifier-pairs", "--data", str(tmp_path), "--out", str(tmp_path / "p.npz")]
    res = CliRunner().invoke(app, pairs)
    assert res.exit_code == 2 and "not a CEDAR folder" in res.output
    (tmp_path / "full_org").mkdir()
    (tmp_path / "full_forg").mkdir()
    res = CliRunner().invoke(app, [*pairs, "--writers", "alice,bob"])
    assert res.exit_code == 2 and "CEDAR writer numbers" in res.output


def test_match_gives_each_detection_the_scan_it_mostly_covers():
    from sigpipe.verifier.doc_pairs import match

    truth = [{"document": "a.pdf", "page": "1", "x0": 100, "y0": 100, "x1": 200, "y1": 150},
             {"document": "a.pdf", "page": "1", "x0": 300, "y0": 100, "x1": 400, "y1": 150},
             {"document": "a.pdf", "page": "2", "x0": 100, "y0": 100, "x1": 200, "y1": 150}]
    dets = [{"file_name": "a.pdf", "page": 1, "x0": 290, "y0": 95, "x1": 405, "y1": 160},  # the second, whole
            {"file_name": "a.pdf", "page": 1, "x0": 100, "y0": 100, "x1": 140, "y1": 150},  # 40% of the first
            {"file_name": "a.pdf", "page": 1, "x0": 500, "y0": 500, "x1": 600, "y1": 600},  # a stamp
            {"file_name": "a.pdf", "page": 2, "x0": 90, "y0": 90, "x1": 180, "y1": 160},  # 80% of page 2's
            {"file_name": "b.pdf", "page": 1, "x0": 100, "y0": 100, "x1": 200, "y1": 150}]  # another document
    assert match(truth, ["s1", "s2", "s3"], dets) == [(0, "s2"), (3, "s3")]
    assert match(truth, ["s1", "s2", "s3"], dets, min_cover=0.3) == [(0, "s2"), (1, "s1"), (3, "s3")]
    with pytest.raises(ValueError, match="truth rows"):
        match(truth, ["s1"], dets)


@pytest.mark.slow
def test_verifier_pairs_flow_cuts_crops_from_composed_documents(synth_root, tmp_path, prefect_harness):
    """A CEDAR-shaped folder of synthetic signers, composed into documents, detected by the product's detector:
    every pair is a crop the flow cut and the scan it came from, at the verifier's input size; a rerun composes
    nothing again."""
    from flows.train import verifier_pairs
    from sigpipe.verifier.doc_pairs import PairsConfig
    from sigpipe.verifier.infer import Verifier

    cedar = tmp_path / "cedar"
    for kind, folder, prefix in (("genuine", "full_org", "original"), ("forged", "full_forg", "forgeries")):
        (cedar / folder).mkdir(parents=True)
        for w, signer in enumerate(sorted(synth_root.iterdir())[:3], start=1):
            for n, img in enumerate(sorted((signer / kind).iterdir())[:6], start=1):
                cv2.imwrite(str(cedar / folder / f"{prefix}_{w}_{n}.jpg"), cv2.imread(str(img), cv2.IMREAD_GRAYSCALE))
    model = Path(__file__).resolve().parents[1] / "models" / "verifier-signet"
    cfg = PairsConfig(cedar=str(cedar), writers="1-3", documents=8, seeds=[3], scans_per_writer=6,
                      out=str(tmp_path / "pairs.npz"), work_dir=str(tmp_path / "work"), verifier=str(model))
    s = verifier_pairs(cfg)
    with np.load(tmp_path / "pairs.npz") as z:
        crops, targets, scans = z["crops"], z["targets"], z["scans"]
    assert s["pairs"] == len(crops) == len(targets) == len(scans) > 0
    assert s["pairs"] + s["detections_unmatched"] == s["detections"]
    v = Verifier.load(model)
    assert crops.shape[1:] == tuple(v.clean_kwargs["size"]) and crops.dtype == np.uint8
    assert all((cedar / str(x)).is_file() for x in scans)
    # the crop and its scan are the same signature: closer than the crop and another writer's scan
    e, t = v.embed_clean(crops), v.embed_clean(targets)
    same = (e * t).sum(1)
    writer = np.array([str(x).split("_")[1] for x in scans])
    other = [(e[i] * t[j]).sum() for i in range(len(e)) for j in range(len(t)) if writer[i] != writer[j]]
    assert np.median(same) > np.median(other)
    placed = tmp_path / "work" / "writers-1-3-documents-8-seed-3" / "data" / "scans.csv"
    before = placed.stat().st_mtime_ns
    again = verifier_pairs(cfg)
    assert again["pairs"] == s["pairs"] and placed.stat().st_mtime_ns == before


def test_within_covariance_and_wccn_transform_known_values():
    from sigpipe.verifier.whiten import wccn_transform, within_covariance

    # writer a: (1, 0), (3, 0) around (2, 0); writer b: (0, 1), (0, 3) around (0, 2); c has one signature (left out)
    emb = np.array([[1, 0], [3, 0], [0, 1], [0, 3], [5, 5]], np.float64)
    cov, n_writers, n_rows = within_covariance(emb, np.array(["a", "a", "b", "b", "c"]))
    assert (n_writers, n_rows) == (2, 4)
    np.testing.assert_allclose(cov, [[0.5, 0], [0, 0.5]])  # residuals (+-1, 0) and (0, +-1), divided by 4
    with pytest.raises(ValueError, match="two writers"):
        within_covariance(emb[:2], np.array(["a", "a"]))
    # T (C / mean(diag C) + lam I) T = I, and T is symmetric
    c = np.array([[4.0, 1.0], [1.0, 0.5]])
    t = wccn_transform(c, 0.1)
    np.testing.assert_allclose(t @ (c / c.trace() * 2 + 0.1 * np.eye(2)) @ t, np.eye(2), atol=1e-12)
    np.testing.assert_allclose(t, t.T)
    with pytest.raises(ValueError, match="lam"):
        wccn_transform(c, 0.0)
    with pytest.raises(ValueError, match="zero"):
        wccn_transform(np.zeros((2, 2)), 0.1)


def test_fold_gives_the_whitened_embedding():
    import torch

    from sigpipe.verifier.nets import build_model
    from sigpipe.verifier.whiten import fold

    torch.manual_seed(0)
    model = build_model("signet", {"width": 0.25, "hidden": 0, "dim": 16}).eval()
    x = torch.rand(5, 1, *SIZE)
    t = np.random.default_rng(0).normal(size=(16, 16))
    t = t @ t.T + np.eye(16)
    with torch.no_grad():
        before = model(x).double().numpy()
        fold(model, t)
        after = model(x).double().numpy()
    want = before @ t.T
    want /= np.linalg.norm(want, axis=1, keepdims=True)
    np.testing.assert_allclose(after, want, atol=1e-5)
    with pytest.raises(ValueError, match="does not match"):
        fold(model, np.eye(8))
    with pytest.raises(ValueError, match="no final linear"):
        fold(torch.nn.Conv2d(1, 1, 1), np.eye(16))


def test_whiten_a_verifier_into_a_calibrated_model(synth_root, members, tmp_path):
    from sigpipe.verifier.data import discover, load_clean
    from sigpipe.verifier.evaluate import evaluate_folder
    from sigpipe.verifier.infer import Verifier
    from sigpipe.verifier.sampler import parse_writers
    from sigpipe.verifier.whiten import wccn_transform, whiten, within_covariance
    from sigpipe.weights import load_card

    names = sorted(p.name for p in synth_root.iterdir())
    within = [DataSpec(root=str(synth_root), layout="folders", writers=",".join(names[:14]), prefix="w:")]
    card = whiten(members[0], within, tmp_path / "white", lam=0.3, cache_dir=str(tmp_path / "cache"),
                  command="test", log=lambda m: None)
    src = load_card(members[0])
    assert card["arch"] == src["arch"] and card["arch_args"] == src["arch_args"] and card["version"] == "1"
    assert card["training"]["whitened_from"]["sha256"] == src["sha256"] != card["sha256"]
    w = card["training"]["whitening"]
    assert w["lam"] == 0.3 and w["writers"] == 14 and w["signatures"] == 14 * 8
    assert card["training"]["data"] == src["training"]["data"]  # the network's own training data
    assert card["writer_dependent"]["by_references"]["3"]["inconclusive_band"]  # calibrated as training does

    # the whitened model's embedding is l2(T e) of the source's, T measured on the within-writer spread
    sset = discover(synth_root, "folders", parse_writers(",".join(names[:14])))
    crops = load_clean(sset.paths[sset.genuine], SIZE, None, 1)
    e = Verifier.load(members[0], precision="fp32").embed_clean(crops).astype(np.float64)
    t = wccn_transform(within_covariance(e, sset.writers[sset.genuine])[0], 0.3)
    want = e @ t.T
    want /= np.linalg.norm(want, axis=1, keepdims=True)
    got = Verifier.load(tmp_path / "white", precision="fp32").embed_clean(crops)
    np.testing.assert_allclose(got, want, atol=2e-4)
    # its card's validation figures are what eval measures on those writers
    rep = evaluate_folder(tmp_path / "white", synth_root, "folders", parse_writers(",".join(names[14:])))
    assert rep["eer"] == pytest.approx(card["metrics"]["validation"]["eer"], abs=1e-6)

    with pytest.raises(ValueError, match="at least one source"):
        whiten(members[0], [], tmp_path / "bad", cache_dir=str(tmp_path / "cache"))

    # document pairs: each scan's crops and the scan alone are one more class; the card names the file
    from sigpipe.verifier.doc_pairs import save

    alone = load_clean(sset.paths[sset.genuine][:6], SIZE, None, 1)
    cut = alone.copy()
    cut[:, :, : SIZE[1] // 4] = 0  # a stroke cut off, as a box that stops short cuts it
    save(tmp_path / "pairs.npz", cut, alone, [f"s{i // 2}.png" for i in range(6)])  # two crops per scan
    card = whiten(members[0], within, tmp_path / "white-pairs", lam=0.3, cache_dir=str(tmp_path / "cache"),
                  pairs=tmp_path / "pairs.npz", pairs_weight=0.25, log=lambda m: None)
    p = card["training"]["whitening"]["pairs"]
    assert (p["scans"], p["crops"], p["weight"], len(p["sha256"])) == (3, 6, 0.25, 64)
    assert card["sha256"] != load_card(tmp_path / "white")["sha256"]
    with pytest.raises(ValueError, match="pairs_weight"):
        whiten(members[0], within, tmp_path / "bad", pairs=tmp_path / "pairs.npz", pairs_weight=1.0)


def test_whiten_cli_refuses_overwriting_its_source_and_a_missing_one(tmp_path):
    from typer.testing import CliRunner

    from flows.cli import app

    res = CliRunner().invoke(app, ["train", "verifier-whiten", str(tmp_path), "--out", str(tmp_path)])
    assert res.exit_code == 2 and "is the source" in res.output
    res = CliRunner().invoke(app, ["train", "verifier-whiten", str(tmp_path / "none"), "--out", str(tmp_path / "w"),
                                   "--folders", str(tmp_path)])
    assert res.exit_code == 2 and "no card.json" in res.output


def test_document_rows_enrol_scans_and_query_the_crops_of_the_others():
    from sigpipe.verifier.recalibrate import cedar_scan, document_rows

    assert cedar_scan("full_org/original_12_3.png") == ("12", True)
    assert cedar_scan("full_forg/forgeries_7_24.jpg") == ("7", False)
    with pytest.raises(ValueError, match="not a CEDAR scan"):
        cedar_scan("a.png")
    scans = [f"full_org/original_{w}_{n}.png" for w in (40, 41) for n in range(1, 5)] + ["full_forg/forgeries_40_1.png"]
    scan_emb = np.arange(len(scans) * 2, dtype=np.float32).reshape(-1, 2)
    # every scan of writer 40 cut once from a document, its forgery twice; writer 41 has no forged crop
    crop_scans = [s for s in scans if "_40_" in s] + ["full_forg/forgeries_40_1.png"] + [scans[4]]
    crop_emb = -np.arange(len(crop_scans) * 2, dtype=np.float32).reshape(-1, 2)
    rows = document_rows(crop_emb, crop_scans, scan_emb, scans, references=2, seed=0)
    assert [r[0] for r in rows] == ["40"]
    w, refs, pos, neg = rows[0]
    enrolled = [scans[int(i)] for i in (refs[:, 0] // 2)]
    assert len(enrolled) == 2 and all("original_40_" in s for s in enrolled)
    # the genuine queries are the crops of the two scans not enrolled; the forgery's two crops are skilled
    want = [crop_emb[i] for i, s in enumerate(crop_scans) if "original_40_" in s and s not in enrolled]
    np.testing.assert_array_equal(pos, np.array(want))
    assert len(neg) == 2
    assert document_rows(crop_emb, crop_scans, scan_emb, scans, references=4) == []  # nothing left to query
    with pytest.raises(ValueError, match="distinct"):
        document_rows(crop_emb, crop_scans, scan_emb[:2], scans[:1] * 2, references=1)


def test_recalibrate_a_verifier_on_document_crops(synth_root, members, tmp_path):
    """The same weights under a new version, the writer-dependent settings fixed on crops against scans by
    training's rules, what it was calibrated on recorded; refusals for its training writers and its own folder."""
    from sigpipe import verify
    from sigpipe.verifier.doc_pairs import save
    from sigpipe.verifier.infer import Verifier
    from sigpipe.verifier.recalibrate import document_rows, recalibrate
    from sigpipe.weights import load_card

    v = Verifier.load(members[0])
    signers = sorted(synth_root.iterdir())[14:]  # the tiny verifier's validation signers
    scans, images = [], []
    for w, signer in enumerate(signers, start=50):
        for kind, prefix in (("genuine", "full_org/original"), ("forged", "full_forg/forgeries")):
            for n, img in enumerate(sorted((signer / kind).iterdir())[:5], start=1):
                scans.append(f"{prefix}_{w}_{n}.png")
                images.append(img)
    alone = v.clean(images)
    cut = alone.copy()
    cut[:, :, : SIZE[1] // 5] = 0  # the document's box stops short of the first strokes
    save(tmp_path / "pairs.npz", cut, alone, scans)

    card = recalibrate(members[0], tmp_path / "pairs.npz", tmp_path / "cal", draws=2, command="test",
                       log=lambda m: None)
    src = dict(load_card(members[0]).data)
    assert card["version"] == f"{src['version']}.1" and card["sha256"] == src["sha256"]
    assert card["threshold"] == src["threshold"] and card["arch_args"] == src["arch_args"]
    new, old = card["writer_dependent"]["by_references"]["3"], src["writer_dependent"]["by_references"]["3"]
    assert new["threshold"] != old["threshold"] and new["queries"]["writers"] == len(signers)
    rec = card["recalibrated"]
    assert rec["from"]["sha256"] == src["sha256"] and rec["pairs"]["crops"] == len(scans) and rec["draws"] == 2
    assert rec["source_writer_dependent"]["3"] == old and len(rec["pairs"]["sha256"]) == 64
    assert not any("writer_dependent" in k for k in card["metrics"])
    # the threshold and z are training's rules applied to the crops against the scans
    e = v.embed_clean(alone)
    rows = [r for d in range(2) for r in document_rows(v.embed_clean(cut), scans, e, scans, 3, seed=d)]
    want = verify.calibrate_rows(rows, 3, old["aggregation"])
    assert new["threshold"] == pytest.approx(want["threshold"]) and new["per_writer"]["z"] == want["per_writer"]["z"]
    assert Verifier.load(tmp_path / "cal").writer_dependent["by_references"]["3"]["threshold"] == new["threshold"]

    with pytest.raises(ValueError, match="is the source"):
        recalibrate(members[0], tmp_path / "pairs.npz", members[0])
    trained_on = dict(src)
    trained_on["training"] = {**src["training"], "data": [{"root": "../shared/data/cedar", "writers": "1-52"}]}
    (tmp_path / "src2").mkdir()
    (tmp_path / "src2" / "weights.pt").write_bytes((members[0] / src["weights"]).read_bytes())
    from sigpipe.weights import write_card

    write_card(tmp_path / "src2", trained_on)
    with pytest.raises(ValueError, match=r"\['50', '51', '52'\] are among"):
        recalibrate(tmp_path / "src2", tmp_path / "pairs.npz", tmp_path / "cal2", log=lambda m: None)


def test_verifier_calibrate_cli_refuses_its_source_and_a_missing_pairs_file(members, tmp_path):
    from typer.testing import CliRunner

    from flows.cli import app

    res = CliRunner().invoke(app, ["train", "verifier-calibrate", str(members[0]), "--pairs", str(tmp_path / "p.npz"),
                                   "--out", str(members[0])])
    assert res.exit_code == 2 and "is the source" in res.output
    res = CliRunner().invoke(app, ["train", "verifier-calibrate", str(members[0]), "--pairs", str(tmp_path / "p.npz"),
                                   "--out", str(tmp_path / "cal")])
    assert res.exit_code == 2 and "p.npz" in res.output and not (tmp_path / "cal").exists()
