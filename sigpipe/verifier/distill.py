"""Distil a verifier (an ensemble) into one network that reproduces its embedding, at one network's cost.

    sigpipe train verifier-distill models/verifier-signet-v2 --out models/verifier-signet --epochs 25 \
        --synth .state/data/distill-synth/signers --crossmedia ../shared/data/crossmedia/experiment

An ensemble of three networks scores better than any of them (notes/verifier-experiments.md, session 7) and costs
three networks' time to embed. The student, one network of the members' architecture, is trained to give the
teacher's embedding of the same (augmented) crop: the loss is ``1 - cos(student(x), teacher(x))`` on the
teacher's training writers' images and, for ``extra_share`` of each batch, any other signature images given
(``extra``), all augmented as the teacher's members were. No labels are used, so the student learns the
teacher's geometry rather than the 35 training writers again (session 11: cosine to the teacher on validation
writers 0.956 with CEDAR alone in 15 epochs, 0.958 with 8,798 more images in 25; not measured apart). It
starts from the teacher's first member, with its last layer mapped into the teacher's projected space, so it
starts where one member is.

The exported student is the weight average at the end of the schedule: the validation writers choose no epoch.
They are measured every epoch (skilled EER, and the mean cosine to the teacher's embedding of their crops), and
the card (thresholds, writer-dependent settings, inconclusive band: :func:`sigpipe.verifier.train.export`) is
calibrated on them, as training does. Checkpoints every epoch (``<run_dir>/last.pt``) are resumed.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field

__all__ = ["DistillConfig", "distill"]


class DistillConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    teacher: str  # a verifier model folder
    out: str  # the student's model folder
    name: str | None = None  # default: the --out folder's name
    version: str | None = None  # None: sigpipe.weights.next_version
    arch_args: dict[str, Any] | None = None  # the student's (signet) arguments; None: the teacher's members'
    init_from_member: bool = True  # start from the teacher's first member (an ensemble of the student's arch)
    init_from: str | None = None  # or from this verifier's weights (a model folder of the student's arch and args)
    epochs: int = 15
    batches_per_epoch: int = 80
    batch: int = 64
    lr: float = 5e-4
    weight_decay: float = 1e-4
    warmup_epochs: float = 0.5
    min_lr_frac: float = 0.02
    ema_decay: float = 0.995
    p_augment: float = 0.9  # share of batches augmented (the rest: the cleaned crops as an audit sees them)
    augment: dict[str, Any] | None = None  # AugmentConfig fields; None: the teacher's training augmentation
    # share of the student's images given a rubber stamp beside or over the signature (augment.stamp_beside), the
    # teacher seeing them without it: the student learns to give the signature's embedding through the stamp
    p_stamp: float = 0.0
    # share of the teacher's training images the student sees as if written with a fainter or darker pen (each scan
    # redrawn before cleaning, ``augment.redraw_pen``, at one of ``pen_factors``), the teacher seeing the scan as it
    # was written, both with the same augmentation: the student learns to give the hand's embedding whatever the pen
    # (session 34: a pen 0.4 times as dark raised v4's false rejections from 18% to 26%)
    p_pen: float = 0.0
    pen_factors: tuple[float, ...] = (0.3, 0.4, 0.5, 0.65, 1.6, 2.0, 2.5)
    # an .npz of signatures as the audit embeds them and the same signatures cleaned alone: ``crops`` and ``targets``
    # ``(N, h, w) uint8`` at the card's size. ``pairs_share`` of each batch is drawn from it: the student sees the
    # crop, the teacher the target (not augmented: the crops are what the flow cuts from documents)
    pairs: str | None = None
    pairs_share: float = 0.25
    seed: int = 0
    threads: int = 2
    device: str = "auto"
    extra: list[dict[str, Any]] = Field(default_factory=list)  # more images (DataSpec fields): their labels unused
    extra_share: float = 0.5  # share of each batch drawn from ``extra`` (when given)
    run_dir: str = ".state/runs/verifier-distill"
    cache_dir: str | None = ".state/cache"
    command: str = ""


def _student(teacher: torch.nn.Module, tcard: dict[str, Any], cfg: DistillConfig) -> tuple[str, dict[str, Any],
                                                                                            torch.nn.Module, bool]:
    """The student's arch, arguments and network; initialised from the teacher's first member when it can be."""
    from sigpipe.verifier.nets import build_model

    if tcard["arch"] == "ensemble":
        arch, args = tcard["arch_args"]["arch"], dict(tcard["arch_args"].get("arch_args") or {})
    else:
        arch, args = tcard["arch"], dict(tcard["arch_args"] or {})
    if cfg.arch_args is not None:
        args = dict(cfg.arch_args)
    args["dim"] = int(tcard["embedding_dim"])
    student = build_model(arch, args)
    if not (cfg.init_from_member and tcard["arch"] == "ensemble" and getattr(teacher, "proj", None) is not None):
        return arch, args, student, False
    m0 = teacher.members[0]
    try:
        student.load_state_dict(m0.state_dict())
    except RuntimeError:  # other arguments than the members': random start
        return arch, args, build_model(arch, args), False
    # the teacher's output is normalize(P @ [n(e_0), ..., n(e_n-1)] / sqrt(n)); start the student at P_0 e_0
    n, d = len(teacher.members), int(m0.dim)
    p0 = teacher.proj.weight[:, :d] / math.sqrt(n)
    last, src = student.head.proj[-1], m0.head.proj[-1]
    with torch.no_grad():
        last.weight.copy_(p0 @ src.weight)
        last.bias.copy_(p0 @ src.bias + teacher.proj.bias)
    return arch, args, student, True


def _pen_views(xs: np.ndarray, it: np.ndarray, pens: np.ndarray, p_pen: float, rng: np.random.Generator,
               aug: Any) -> tuple[np.ndarray, np.ndarray]:
    """The teacher's and the student's views of a batch ``xs (B, h, w)`` whose first ``len(it)`` images are the
    training images ``it``: in the student's, each of those with probability ``p_pen`` is the same scan cleaned
    after a pen redraw (``pens (F, N, h, w)``, a factor drawn per image). Both views get the same augmentation
    (``aug``; None: none): one seed per image, used for both."""
    from sigpipe.verifier.augment import augment

    redraw = np.flatnonzero(rng.random(len(it)) < p_pen)
    xp = xs.copy()
    xp[redraw] = pens[rng.integers(0, len(pens), len(redraw)), it[redraw]]
    if aug is None or not aug.enabled:
        return xs, xp
    seeds = rng.integers(0, 2**63 - 1, len(xs))
    xa = np.stack([augment(im, np.random.default_rng(int(s)), aug) for im, s in zip(xs, seeds, strict=True)])
    xpa = xa.copy()
    for i in redraw:
        xpa[i] = augment(xp[i], np.random.default_rng(int(seeds[i])), aug)
    return xa, xpa


def distill(cfg: DistillConfig, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Train (or resume) the student per ``cfg`` and export it to ``cfg.out``; return a summary."""
    from sigpipe.verifier.augment import AugmentConfig, augment_batch, stamp_beside
    from sigpipe.verifier.doc_pairs import load_pairs
    from sigpipe.verifier.infer import CLEAN_ARGS, Verifier, to_input
    from sigpipe.verifier.train import (
        DataSpec,
        TrainConfig,
        _Ema,
        _embed,
        _lr_factor,
        _validate,
        _write_readme,
        export,
        load_sources,
    )
    from sigpipe.weights import load_card, sha256_file, write_card

    t_start = time.time()
    torch.set_num_threads(cfg.threads)
    device = torch.device("cuda" if cfg.device == "auto" and torch.cuda.is_available() else
                          (cfg.device if cfg.device != "auto" else "cpu"))
    if Path(cfg.out).resolve() == Path(cfg.teacher).resolve():
        raise ValueError(f"--out {cfg.out} is the teacher: write the student to another folder")
    tcard = load_card(cfg.teacher)
    teacher = Verifier.load(cfg.teacher, device=device, precision="fp32").model.eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    pre, tr = tcard["preprocessing"], tcard["training"]
    size = tuple(pre["size"])
    canvas = tuple(pre["canvas"]) if pre.get("canvas") else None
    clean_args = {k: pre[k] for k in CLEAN_ARGS if k in pre}
    ink_norm = pre.get("ink_norm")
    train_specs = [DataSpec(**d) for d in tr["data"]]
    val_spec = DataSpec(**tr["validation"])
    extra_specs = [DataSpec(**d) for d in cfg.extra]
    tset, tx, _ = load_sources(train_specs, size, canvas, clean_args, cfg.cache_dir, log)
    eset, ex = (load_sources(extra_specs, size, canvas, clean_args, cfg.cache_dir, log)[:2] if extra_specs
                else (tset.select(np.zeros(len(tset), bool)), tx[:0]))
    n_extra = int(round(cfg.batch * cfg.extra_share)) if len(ex) else 0
    px, pt = load_pairs(cfg.pairs, size)[:2] if cfg.pairs else (tx[:0], tx[:0])
    n_pairs = int(round(cfg.batch * cfg.pairs_share)) if len(px) else 0
    if n_pairs and n_extra + n_pairs >= cfg.batch:  # (without pairs, extra_share behaves as it always did)
        raise ValueError(f"extra_share {cfg.extra_share} + pairs_share {cfg.pairs_share} leave no training image")
    vset, vx, _ = load_sources([val_spec], size, canvas, clean_args, cfg.cache_dir, log)
    # (F, N, h, w): the training images cleaned from scans redrawn with each pen
    pens = np.stack([load_sources(train_specs, size, canvas, clean_args, cfg.cache_dir, log, pen=f)[1]
                     for f in cfg.pen_factors]) if cfg.p_pen > 0 else None
    overlap = (set(tset.writers) | set(eset.writers)) & set(vset.writers)
    if overlap:
        raise ValueError(f"training and validation writers overlap: {sorted(overlap)[:5]}")
    aug_args = {**(tr.get("augment") or {}), **(cfg.augment or {})}  # the card's JSON holds lists for tuples
    aug = AugmentConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in aug_args.items()})

    torch.manual_seed(cfg.seed)
    arch, args, student, from_member = _student(teacher, tcard.data, cfg)
    init_card = None
    if cfg.init_from:
        init = Verifier.load(cfg.init_from, device="cpu", precision="fp32")
        init_card = init.card
        if init_card["arch"] != arch or dict(init_card["arch_args"] or {}) != args:
            raise ValueError(f"--init-from {cfg.init_from} is a {init_card['arch']} {init_card['arch_args']}, "
                             f"not the student's {arch} {args}")
        student.load_state_dict(init.model.state_dict())
        from_member = False
    student = student.to(device).to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(student.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    ema = _Ema(student, cfg.ema_decay) if cfg.ema_decay > 0 else None
    rng = np.random.default_rng(cfg.seed + 1)
    total = cfg.epochs * cfg.batches_per_epoch
    warm = max(1, int(cfg.warmup_epochs * cfg.batches_per_epoch))
    run_dir = Path(cfg.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(cfg.model_dump_json(indent=2))
    state: dict[str, Any] = {"epoch": 0, "step": 0, "history": [], "elapsed": 0.0}
    last, final = run_dir / "last.pt", run_dir / "student.pt"
    if last.is_file():
        ck = torch.load(last, map_location=device, weights_only=False)
        student.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        if ema is not None and ck.get("ema"):
            ema.load_state_dict(ck["ema"])
        rng.bit_generator.state = ck["rng"]
        state = ck["state"]
        log(f"resumed from {last} at epoch {state['epoch']}")
    more = f" (+ {len(ex)} more images, {n_extra} of each batch)" if len(ex) else ""
    log(f"distil {cfg.teacher} (version {tcard['version']}) into one {arch} {json.dumps(args)}"
        f"{' from its first member' if from_member else ''}: {len(tset)} training images{more}, "
        f"{cfg.batches_per_epoch} batches of {cfg.batch} an epoch on {device}")
    target_val = _embed(teacher, vx, device, ink_norm=ink_norm)
    with torch.no_grad():  # the teacher's view of the pairs' scans does not change: embedded once, not every batch
        target_pairs = torch.cat([teacher(to_input(pt[i : i + 256], device, ink_norm=ink_norm))
                                  for i in range(0, len(pt), 256)]) if n_pairs else None

    def agreement(model: torch.nn.Module) -> float:
        """Mean cosine of the model's and the teacher's embeddings of the validation crops."""
        return float(np.mean(np.sum(_embed(model, vx, device, ink_norm=ink_norm) * target_val, axis=1)))

    if state["epoch"] == 0 and "teacher" not in state:
        state["teacher"] = _validate(teacher, vx, vset, device, ink_norm)
        state["initial"] = {**_validate(student, vx, vset, device, ink_norm), "teacher_cos": agreement(student)}
        log(f"validation skilled EER: teacher {state['teacher']['eer_skilled']:.4f}, student at the start "
            f"{state['initial']['eer_skilled']:.4f} (mean cosine to the teacher {state['initial']['teacher_cos']:.4f})")

    while state["epoch"] < cfg.epochs:
        t0 = time.time()
        student.train()
        losses = []
        for _ in range(cfg.batches_per_epoch):
            for g in opt.param_groups:
                g["lr"] = cfg.lr * _lr_factor(state["step"], total, warm, cfg.min_lr_frac)
            it = rng.integers(0, len(tx), cfg.batch - n_extra - n_pairs)
            xs = np.concatenate([tx[it], ex[rng.integers(0, max(1, len(ex)), n_extra)]])
            if pens is None:
                xa = augment_batch(xs, rng, aug) if rng.random() < cfg.p_augment else xs
                x_student = None
            else:
                xa, x_student = _pen_views(xs, it, pens, cfg.p_pen, rng, aug if rng.random() < cfg.p_augment
                                           else None)
            xb = to_input(xa, device, ink_norm=ink_norm)
            with torch.no_grad():
                target = teacher(xb)
            if x_student is not None:  # the teacher saw the scans as written; the student sees some redrawn
                xa = x_student
                xb = to_input(xa, device, ink_norm=ink_norm)
            if cfg.p_stamp > 0:  # the teacher saw xa; the student sees some of them stamped
                stamped = np.nonzero(rng.random(len(xa)) < cfg.p_stamp)[0]
                if len(stamped):
                    xa = xa.copy()
                    xa[stamped] = np.stack([stamp_beside(xa[i], rng) for i in stamped])
                    xb = to_input(xa, device, ink_norm=ink_norm)
            if n_pairs:  # signatures cut from documents by the flow, against the teacher's view of them alone
                pick = rng.integers(0, len(px), n_pairs)
                target = torch.cat([target, target_pairs[torch.from_numpy(pick).to(device)]])
                xb = torch.cat([xb, to_input(px[pick], device, ink_norm=ink_norm)])
            loss = (1 - (F.normalize(student(xb), dim=1) * target).sum(1)).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if ema is not None:
                ema.update(student)
            losses.append(float(loss.detach()))
            state["step"] += 1
        eval_model = ema.module if ema is not None else student
        val = {**_validate(eval_model, vx, vset, device, ink_norm), "teacher_cos": agreement(eval_model)}
        state["epoch"] += 1
        state["elapsed"] += time.time() - t0
        rec = {"epoch": state["epoch"], "loss": float(np.mean(losses)), **val, "seconds": round(time.time() - t0, 1)}
        state["history"].append(rec)
        torch.save({"model": student.state_dict(), "opt": opt.state_dict(),
                    "ema": ema.state_dict() if ema is not None else None, "rng": rng.bit_generator.state,
                    "state": state}, run_dir / "last.tmp")
        (run_dir / "last.tmp").replace(last)
        log(f"epoch {state['epoch']}/{cfg.epochs} loss {rec['loss']:.4f} val EER {val['eer_skilled']:.4f} rand "
            f"{val['eer_random']:.4f} cosine to the teacher {val['teacher_cos']:.4f} {rec['seconds']}s")

    out = Path(cfg.out)
    tcfg = TrainConfig(name=cfg.name or out.name, version=cfg.version, train_data=train_specs + extra_specs,
                       val_data=val_spec, arch=arch, arch_args=args, size=size, canvas=canvas, clean_args=clean_args,
                       ink_norm=ink_norm, lr=cfg.lr, seed=cfg.seed, ema_decay=cfg.ema_decay, augment=aug, out=str(out),
                       cache_dir=cfg.cache_dir, command=cfg.command, epochs=cfg.epochs)
    # the student is the end of its schedule (the weight average): its target is the teacher, not the validation
    # writers, so they choose no epoch (their EER swings by a point between epochs: notes/verifier-experiments.md)
    if not state["history"]:
        raise ValueError("no epoch to export: --epochs must be at least 1")
    torch.save((ema.module if ema is not None else student).state_dict(), final)
    state["best"] = state["history"][-1]
    export(tcfg, final, vset, vx, state, log)
    card = dict(load_card(out).data)
    card["training"] = {**card["training"], "loss": "1 - cosine to the teacher's embedding (no labels)",
                        "batch": {"size": cfg.batch, "batches_per_epoch": cfg.batches_per_epoch,
                                  "p_augment": cfg.p_augment, "extra_share": cfg.extra_share if len(ex) else 0.0,
                                  "p_stamp": cfg.p_stamp, "pairs_share": cfg.pairs_share if n_pairs else 0.0,
                                  "p_pen": cfg.p_pen, "pen_factors": list(cfg.pen_factors) if cfg.p_pen else None},
                        "extra_data": [d.model_dump() for d in extra_specs],
                        "pairs": None if not n_pairs else {"path": str(cfg.pairs), "n": len(px),
                                                           "sha256": sha256_file(cfg.pairs)},
                        "distilled_from": {"folder": str(cfg.teacher), "name": tcard["name"],
                                           "version": tcard["version"], "sha256": tcard["sha256"],
                                           "command": tr.get("command", ""),
                                           "validation_eer_skilled": tcard["threshold"]["validation_eer_skilled"],
                                           "initialised_from_first_member": from_member,
                                           "initialised_from": None if init_card is None else {
                                               "folder": str(cfg.init_from), "name": init_card["name"],
                                               "version": init_card["version"], "sha256": init_card["sha256"]}}}
    card = dict(write_card(out, card).data)
    _write_readme(out, card)
    return {"last": state["history"][-1], "teacher": state.get("teacher"), "initial": state.get("initial"),
            "epochs_run": state["epoch"],
            "train_seconds": round(state["elapsed"], 1), "minutes": round((time.time() - t_start) / 60, 1),
            "model": str(out), "version": card["version"]}
