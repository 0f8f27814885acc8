"""Train a writer-independent verifier: PKFM batches, metric losses, EER-based early stopping, export.

One call, :func:`train`, runs the whole thing from a :class:`TrainConfig`: load and clean (cached) the
training sources and the validation writers, train with warm-up + cosine LR and a weight EMA, validate on
all pairs of the validation writers every epoch (skilled EER, smoothed over epochs because 10 writers make it
swing), checkpoint every epoch (``<run_dir>/last.pt``, resumable), keep the best weights, and export a
model folder with a card: threshold at the validation EER point, writer-dependent settings, metrics.
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
from pydantic import BaseModel, ConfigDict, Field

from sigpipe import verify
from sigpipe.verifier.augment import AugmentConfig, augment_batch
from sigpipe.verifier.data import SignatureSet, cached_clean, discover
from sigpipe.verifier.evaluate import report, wi_pairs
from sigpipe.verifier.infer import Verifier, to_input
from sigpipe.verifier.losses import build_loss
from sigpipe.verifier.nets import build_model
from sigpipe.verifier.sampler import PKFMSampler, parse_writers

__all__ = ["DataSpec", "TrainConfig", "export", "load_sources", "record_metrics", "train"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DataSpec(_Frozen):
    """One data source: folder, layout (None: detect), writers (``"1-35"``; None: all), a writer-name prefix
    that keeps sources apart, and a sampling share (None: proportional to its number of writers)."""

    root: str
    layout: str | None = None
    writers: str | None = None
    prefix: str = ""
    share: float | None = None
    max_per_writer: int | None = None  # cap images per writer (e.g. crossmedia's 40) to bound cleaning time


class TrainConfig(_Frozen):
    name: str = "verifier-signet"
    version: str | None = None  # None: sigpipe.weights.next_version (1, or one more than --out's card)
    train_data: list[DataSpec] = Field(default_factory=lambda: [DataSpec(root="../shared/data/cedar",
                                                                          layout="cedar", writers="1-35",
                                                                          prefix="cedar:")])
    val_data: DataSpec = DataSpec(root="../shared/data/cedar", layout="cedar", writers="36-45", prefix="cedar:")
    arch: str = "signet"
    arch_args: dict[str, Any] = Field(default_factory=lambda: {"width": 0.5})
    size: tuple[int, int] = (150, 220)  # SigNet's input (h, w); larger keeps finer strokes, costs time
    canvas: tuple[int, int] | None = None  # None: the ink box fills the input (scale-invariant)
    clean_args: dict[str, Any] = Field(default_factory=dict)  # extra clean() kwargs (median, oversample...)
    ink_norm: float | None = None  # mean ink level per crop after scaling (None: keep the cleaned grey levels)
    loss: str = "lsc+"  # "name[:weight],..." from sigpipe.verifier.losses.LOSSES
    loss_args: dict[str, dict[str, Any]] = Field(default_factory=dict)
    P: int = 8  # writers per batch
    K: int = 4  # genuine per writer
    F: int = 3  # skilled forgeries per writer (the hard negatives of the target task)
    M: int = 8  # other writers' genuine (random negatives, and positives among themselves)
    epochs: int = 20  # 20 x 26 batches on CEDAR 1-35: best of 20 vs 40 (notes/verifier-experiments.md)
    batches_per_epoch: int | None = None  # None: about one pass over the genuine signatures
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_epochs: float = 2.0
    min_lr_frac: float = 0.02  # cosine floor, as a fraction of lr
    ema_decay: float = 0.995  # weight EMA per step (~4 epochs horizon); 0 disables. Steadies validation.
    val_smooth: float = 0.5  # EMA factor on the per-epoch validation EER used for model selection
    patience: int = 20  # epochs without a better smoothed validation EER before stopping (the cosine tail helps)
    augment: AugmentConfig = AugmentConfig()
    seed: int = 0
    threads: int = 1  # CPU threads (the machine is shared)
    device: str = "auto"  # auto | cpu | cuda
    run_dir: str = ".state/runs/verifier"
    cache_dir: str | None = ".state/cache"
    out: str | None = None  # export the best model to this folder (models/<name>)
    init_from: str | None = None  # start from these weights (a model folder or a state-dict file): fine-tuning
    max_minutes: float | None = None  # stop after the epoch that passes this wall time
    wd_references: tuple[int, ...] = (3, 5, 10, 12)  # writer-dependent calibrations stored in the card
    wd_aggregation: str = "mean"
    command: str = ""  # the command line that ran this training (recorded in the card)


def load_sources(specs: list[DataSpec], size: tuple[int, int], canvas: tuple[int, int] | None,
                 clean_args: dict[str, Any], cache_dir: str | None,
                 log: Callable[[str], None] | None = None,
                 pen: float = 1.0) -> tuple[SignatureSet, np.ndarray, list[float | None]]:
    """Discover, prefix, clean (cached) and concatenate sources -> (set, ``(N, h, w) uint8``, shares); ``pen``:
    every scan redrawn with a pen that many times as dark first (:func:`sigpipe.verifier.augment.redraw_pen`)."""
    sets, arrays = [], []
    for spec in specs:
        s = discover(spec.root, spec.layout, parse_writers(spec.writers))
        if spec.max_per_writer:
            keep = np.zeros(len(s), bool)
            for w in np.unique(s.writers):
                keep[np.flatnonzero(s.writers == w)[: spec.max_per_writer]] = True
            s = s.select(keep)
        arr = cached_clean(s, size, canvas, Path(cache_dir) if cache_dir else None, log=log, pen=pen, **clean_args)
        sets.append(s.prefixed(spec.prefix))
        arrays.append(arr)
    return SignatureSet.concat(sets), np.concatenate(arrays), [s.share for s in specs]


def _lr_factor(step: int, total: int, warmup: int, floor: float) -> float:
    if step < warmup:
        return (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, t)))


@torch.no_grad()
def _embed(model: torch.nn.Module, x: np.ndarray, device: torch.device, bs: int = 128,
           ink_norm: float | None = None) -> np.ndarray:
    model.eval()
    out = []
    for i in range(0, len(x), bs):
        with torch.autocast(device.type, enabled=device.type == "cuda"):
            out.append(model(to_input(x[i : i + bs], device, ink_norm=ink_norm)).float().cpu().numpy())
    return np.concatenate(out)


def _validate(model: torch.nn.Module, x: np.ndarray, vset: SignatureSet, device: torch.device,
              ink_norm: float | None = None) -> dict[str, float]:
    emb = _embed(model, x, device, ink_norm=ink_norm)
    pairs = wi_pairs(emb, vset.writers, vset.genuine, n_random=None, seed=0)
    m = pairs.kinds != "random"
    eer_s, thr = verify.eer_threshold(pairs.scores[m], pairs.labels[m])
    m = pairs.kinds != "skilled"
    eer_r, _ = verify.eer_threshold(pairs.scores[m], pairs.labels[m])
    return {"eer_skilled": eer_s, "eer_random": eer_r, "threshold": thr}


class _Ema:
    """Exponential moving average of the parameters; buffers (BatchNorm statistics) copied from the live net.

    Averaging BatchNorm's running statistics from their initial values (what ``AveragedModel(use_buffers=True)``
    does) leaves them far from the live ones for hundreds of steps and collapses the embedding in eval mode.
    The decay ramps up ``min(decay, (1 + t) / (10 + t))`` so early averages are not dominated by the init.
    """

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        import copy

        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.decay, self.updates = decay, 0

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for e, p in zip(self.module.parameters(), model.parameters(), strict=True):
            e.lerp_(p.detach(), 1 - d)
        for e, b in zip(self.module.buffers(), model.buffers(), strict=True):
            e.copy_(b)

    def state_dict(self) -> dict[str, Any]:
        return {"module": self.module.state_dict(), "updates": self.updates}

    def load_state_dict(self, sd: dict[str, Any]) -> None:
        self.module.load_state_dict(sd["module"])
        self.updates = sd["updates"]


def _console_log(msg: str) -> None:
    print(msg, flush=True)


def train(cfg: TrainConfig, log: Callable[[str], None] = _console_log, progress: bool = True) -> dict[str, Any]:
    """Train (or resume) per ``cfg``; returns a summary dict (best epoch, validation EERs, model folder)."""
    t_start = time.time()
    torch.set_num_threads(cfg.threads)
    device = torch.device("cuda" if cfg.device == "auto" and torch.cuda.is_available() else
                          (cfg.device if cfg.device != "auto" else "cpu"))
    run_dir = Path(cfg.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(cfg.model_dump_json(indent=2))
    torch.manual_seed(cfg.seed)

    tset, tx, shares = load_sources(cfg.train_data, cfg.size, cfg.canvas, cfg.clean_args, cfg.cache_dir, log)
    vset, vx, _ = load_sources([cfg.val_data], cfg.size, cfg.canvas, cfg.clean_args, cfg.cache_dir, log)
    overlap = set(tset.writers) & set(vset.writers)
    if overlap:
        raise ValueError(f"training and validation writers overlap: {sorted(overlap)[:5]}")
    names, codes = np.unique(tset.writers.astype(str), return_inverse=True)
    weights = None
    if any(s is not None for s in shares):
        weights = {}
        for spec in cfg.train_data:
            members = [i for i, n in enumerate(names) if n.startswith(spec.prefix)] if spec.prefix else []
            for i in members:
                weights[i] = (spec.share or 1.0) / max(1, len(members))
    sampler = PKFMSampler(codes, tset.genuine, cfg.P, cfg.K, cfg.F, cfg.M, cfg.batches_per_epoch, weights,
                          tset.groups, cfg.seed)
    log(f"train: {len(tset)} images, {len(names)} writers, {int((~tset.genuine).sum())} forgeries; "
        f"val: {len(vset)} images, {len(set(vset.writers))} writers; {len(sampler)} batches/epoch on {device}")

    model = build_model(cfg.arch, cfg.arch_args)
    if cfg.init_from:
        src = Path(cfg.init_from)
        model.load_state_dict(torch.load(src / "weights.pt" if src.is_dir() else src, map_location="cpu",
                                         weights_only=True))
        log(f"initialised from {src}")
    model = model.to(device).to(memory_format=torch.channels_last)
    loss_fn = build_loss(cfg.loss, cfg.loss_args).to(device)
    params = list(model.parameters()) + list(loss_fn.parameters())
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    ema = _Ema(model, cfg.ema_decay) if cfg.ema_decay > 0 else None
    scaler = torch.amp.GradScaler(enabled=device.type == "cuda")
    aug_rng = np.random.default_rng(cfg.seed + 1)
    total = cfg.epochs * len(sampler)
    warm = max(1, int(cfg.warmup_epochs * len(sampler)))
    state = {"epoch": 0, "step": 0, "history": [], "best": None, "smooth": None, "elapsed": 0.0}

    last = run_dir / "last.pt"
    if last.is_file():
        ck = torch.load(last, map_location=device, weights_only=False)
        model.load_state_dict(ck["model"])
        loss_fn.load_state_dict(ck["loss"])
        opt.load_state_dict(ck["opt"])
        if ema is not None and ck.get("ema"):
            ema.load_state_dict(ck["ema"])
        sampler.rng.bit_generator.state = ck["sampler_rng"]
        aug_rng.bit_generator.state = ck["aug_rng"]
        state = ck["state"]
        log(f"resumed from {last} at epoch {state['epoch']}")

    if state["epoch"] == 0 and "initial" not in state:
        # the untrained net: the floor training must beat
        state["initial"] = _validate(model, vx, vset, device, cfg.ink_norm)
        log(f"epoch 0 (untrained): val EER {state['initial']['eer_skilled']:.3f} "
            f"rand {state['initial']['eer_random']:.3f}")

    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    prog = Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                    TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                    disable=not progress)
    best_path = run_dir / "best.pt"
    stop_reason = "epochs"
    with prog:
        task = prog.add_task("verifier", total=cfg.epochs, completed=state["epoch"], info="")
        while state["epoch"] < cfg.epochs:
            t0 = time.time()
            model.train()
            losses = []
            for idx in sampler:
                for g in opt.param_groups:
                    g["lr"] = cfg.lr * _lr_factor(state["step"], total, warm, cfg.min_lr_frac)
                xb = to_input(augment_batch(tx[idx], aug_rng, cfg.augment), device, ink_norm=cfg.ink_norm)
                wb = torch.from_numpy(codes[idx]).to(device)
                gb = torch.from_numpy(tset.genuine[idx]).to(device)
                with torch.autocast(device.type, enabled=device.type == "cuda"):
                    emb = model(xb)
                loss, _ = loss_fn(emb.float(), wb, gb)
                opt.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
                if ema is not None:
                    ema.update(model)
                losses.append(float(loss.detach()))
                state["step"] += 1
            eval_model = ema.module if ema is not None else model
            val = _validate(eval_model, vx, vset, device, cfg.ink_norm)
            e = val["eer_skilled"]
            a = cfg.val_smooth
            state["smooth"] = e if state["smooth"] is None else a * state["smooth"] + (1 - a) * e
            state["epoch"] += 1
            state["elapsed"] += time.time() - t0
            rec = {"epoch": state["epoch"], "loss": float(np.mean(losses)), "lr": opt.param_groups[0]["lr"],
                   **val, "smooth": state["smooth"], "seconds": round(time.time() - t0, 1)}
            state["history"].append(rec)
            improved = state["best"] is None or state["smooth"] < state["best"]["smooth"] - 1e-6
            if improved:
                state["best"] = rec
                torch.save(eval_model.state_dict(), best_path)
            torch.save({"model": model.state_dict(), "loss": loss_fn.state_dict(), "opt": opt.state_dict(),
                        "ema": ema.state_dict() if ema is not None else None,
                        "sampler_rng": sampler.rng.bit_generator.state, "aug_rng": aug_rng.bit_generator.state,
                        "state": state}, run_dir / "last.tmp")
            (run_dir / "last.tmp").replace(last)
            with open(run_dir / "history.jsonl", "a") as f:
                f.write(json.dumps(rec) + "\n")
            info = (f"loss {rec['loss']:.3f} val EER {e:.3f} (smoothed {state['smooth']:.3f}, "
                    f"best {state['best']['smooth']:.3f})")
            prog.update(task, completed=state["epoch"], info=info)
            log(f"epoch {state['epoch']}/{cfg.epochs} {info} rand {val['eer_random']:.3f} {rec['seconds']}s")
            if state["epoch"] - state["best"]["epoch"] >= cfg.patience:
                stop_reason = f"early stop: no better smoothed validation EER for {cfg.patience} epochs"
                break
            if cfg.max_minutes and (time.time() - t_start) / 60 > cfg.max_minutes:
                stop_reason = f"time budget {cfg.max_minutes} min"
                break
    log(f"stopped ({stop_reason}); best epoch {state['best']['epoch']}: val EER {state['best']['eer_skilled']:.4f}"
        f" (smoothed {state['best']['smooth']:.4f})")
    summary = {"best": state["best"], "initial": state.get("initial"), "epochs_run": state["epoch"],
               "stop": stop_reason, "train_seconds": round(state["elapsed"], 1)}
    if cfg.out:
        summary["model"] = str(export(cfg, best_path, vset, vx, state, log))
    return summary


def _prior_destamp(out: Path) -> dict[str, Any] | None:
    """The ``destamp`` section of the card already in ``out``, when its remover's weights are there and match it."""
    from sigpipe.destamp import StampRemover
    from sigpipe.weights import WeightsError, load_card

    try:
        d = load_card(out, verify=False).get("destamp")
        if d:
            StampRemover.from_card(out, d)  # the checks a load makes: the file is there and matches the card
    except WeightsError:
        return None
    return d or None


def export(cfg: TrainConfig, weights: Path, vset: SignatureSet, vx: np.ndarray, state: dict[str, Any],
           log: Callable[[str], None] = _console_log) -> Path:
    """Write ``cfg.out`` (weights + card + README): thresholds fixed on the validation writers."""
    from sigpipe.weights import next_version, write_card

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    model = build_model(cfg.arch, cfg.arch_args)
    sd = torch.load(weights, map_location="cpu", weights_only=True)
    sd = {k.removeprefix("module."): v for k, v in sd.items() if k != "n_averaged"}
    model.load_state_dict(sd)
    torch.save(model.state_dict(), out / "weights.pt")
    version = cfg.version or next_version(out, cfg.name, out / "weights.pt")
    preprocessing = {"function": "sigpipe.clean.clean", "size": list(cfg.size),
                     "canvas": list(cfg.canvas) if cfg.canvas else None, **cfg.clean_args,
                     "input": "x = cleaned / 255, shape (B, 1, h, w), ink high, background 0; with ink_norm each "
                              "crop is scaled so its mean ink value is ink_norm (sigpipe.verifier.infer.to_input)",
                     "ink_norm": cfg.ink_norm, "tta": False}
    v = Verifier(model, None, preprocessing, device="cpu")
    emb = v.embed_clean(vx)
    pairs = wi_pairs(emb, vset.writers, vset.genuine, n_random=None, seed=0)
    m = pairs.kinds != "random"
    val_eer, thr = verify.eer_threshold(pairs.scores[m], pairs.labels[m])
    wd = {}
    for k in cfg.wd_references:
        try:
            wd[str(k)] = verify.calibrate_writer_dependent(emb, vset.writers.astype(str), vset.genuine, k,
                                                           cfg.wd_aggregation)
        except ValueError:
            continue
    val_writers = cfg.val_data.writers or "all"
    eval_cmd = (f"sigpipe eval verifier --data {cfg.val_data.root} --layout {cfg.val_data.layout or 'cedar'} "
                f"--writers {val_writers} --model {out} --json")
    rep = report(wi_pairs(emb, vset.writers, vset.genuine, seed=0), thr)
    card = {
        "name": cfg.name, "version": version, "kind": "verifier", "weights": "weights.pt",
        "arch": cfg.arch, "arch_args": cfg.arch_args,
        "embedding_dim": int(emb.shape[1]), "similarity": "cosine (embeddings are L2-normalised)",
        "input_size": list(cfg.size), "preprocessing": preprocessing,
        "inference": "sigpipe.verifier.Verifier(precision='auto'): bf16 autocast on CPUs with native bf16, fp16 on "
                     "CUDA, else fp32; thresholds and metrics below were computed that way on the training machine",
        "threshold": {"value": thr, "decision": "same writer if cosine >= value",
                      "how": "EER point (genuine-genuine vs genuine-skilled pairs, all pairs) on validation "
                             f"writers {cfg.val_data.root} {val_writers}", "validation_eer_skilled": val_eer},
        "writer_dependent": {"aggregation": cfg.wd_aggregation, "by_references": wd,
                             "how": "per number of references K: global threshold at the EER point of "
                                    "aggregated scores on validation writers; per-writer thresholds "
                                    "mu_w - z*sigma_w from leave-one-out reference scores, z minimising HTER"},
        "training": {"data": [s.model_dump() for s in cfg.train_data], "validation": cfg.val_data.model_dump(),
                     "loss": cfg.loss, "loss_args": cfg.loss_args, "batch": {"P": cfg.P, "K": cfg.K, "F": cfg.F,
                                                                              "M": cfg.M},
                     "epochs_run": state["epoch"], "best_epoch": state["best"]["epoch"], "lr": cfg.lr,
                     "augment": cfg.augment.__dict__, "ema_decay": cfg.ema_decay, "seed": cfg.seed,
                     "train_seconds": round(state["elapsed"], 1), "command": cfg.command},
        "metrics": {"validation": {"command": eval_cmd, "note": "threshold fixed on these same writers: optimistic",
                                   **{k: rep[k] for k in rep if not isinstance(rep[k], (list, dict))}}},
        "licence": "Weights trained on CEDAR (research use, no explicit licence)"
                   + (" and crossmedia (MIT)" if any("crossmedia" in s.root for s in cfg.train_data) else "")
                   + (" and synthetic signers (generated)" if any("synth" in s.prefix for s in cfg.train_data) else "")
                   + ": research use only.",
    }
    from sigpipe.audit import add_bands

    card = add_bands(card, emb, vset.writers.astype(str), vset.genuine, f"validation writers {cfg.val_data.root} "
                     f"{val_writers}, references drawn with seed 0")
    prior = _prior_destamp(out)
    if prior:  # the folder's verifier had a stamp remover for page crops (sigpipe.destamp): a remade network keeps it
        card["destamp"] = prior
    write_card(out, card)
    _write_readme(out, card)
    log(f"exported {out} (threshold {thr:.4f}, validation skilled EER {val_eer:.4f})")
    return out


_README_KEYS = ("eer_skilled", "eer", "eer_random", "auc_skilled", "eer_user_thresholds", "threshold", "frr",
                "far_skilled", "far_random", "hter_skilled", "hter", "n_writers", "n_pos", "n_skilled", "n_random")


def record_metrics(folder: str | Path, key: str, command: str, rep: dict[str, Any], note: str = "") -> None:
    """Add one measured evaluation (``sigpipe eval verifier --json`` output and its exact command) to a model
    folder's card under ``metrics[key]`` and rewrite its README. The weights (and sha256) are untouched."""
    from sigpipe.weights import load_card, write_card

    card = dict(load_card(folder).data)
    card["metrics"] = {**card.get("metrics", {}), key: {"command": command, **({"note": note} if note else {}),
                                                        **{k: v for k, v in rep.items()
                                                           if not isinstance(v, (list, dict))}}}
    write_card(folder, card)
    _write_readme(Path(folder), card)


def _fmt(v: Any) -> str:
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def _write_readme(out: Path, card: dict[str, Any]) -> None:
    tr = card["training"]
    lines = [f"# {card['name']} (verifier, version {card['version']})", "",
             f"Writer-independent offline signature verifier: `{card['arch']}` {json.dumps(card['arch_args'])}, a "
             f"{card['embedding_dim']}-d L2-normalised embedding of crops cleaned by `sigpipe.clean.clean` to "
             f"{card['input_size'][0]}x{card['input_size'][1]} (background exactly 0, ink high); two signatures are "
             f"compared by cosine similarity.", "",
             "## Use", "",
             "```python",
             "from sigpipe.verifier import Verifier",
             "from sigpipe import verify",
             f"v = Verifier.load('models/{out.name}')  # checks the sha256",
             "e = v.embed_images([crop_a, crop_b])  # raw (H, W) uint8 crops, cleaned per the card",
             "score = verify.pair_scores(e[:1], e[1:])[0]",
             "same = verify.decide(score, v.threshold)  # the card's writer-independent threshold",
             "```", "",
             f"Decision threshold: {card['threshold']['value']:.4f}, {card['threshold']['how']}. "
             "Writer-dependent mode (K enrolled references, `verify.enroll`): aggregation "
             f"`{card['writer_dependent']['aggregation']}`, thresholds per K in `card.writer_dependent.by_references`.",
             "", "## Measured", ""]
    for k, v in card.get("metrics", {}).items():
        lines += [f"### {k}", "", f"`{v.get('command', '')}`", ""]
        if v.get("note"):
            lines += [v["note"], ""]
        lines += ["| " + " | ".join(kk for kk in _README_KEYS if kk in v) + " |",
                  "|" + "---|" * sum(kk in v for kk in _README_KEYS),
                  "| " + " | ".join(_fmt(v[kk]) for kk in _README_KEYS if kk in v) + " |", ""]
    data = ", ".join(d["root"] + " " + (d.get("writers") or "all") for d in tr["data"])
    val = f"{tr['validation']['root']} {tr['validation'].get('writers')}"
    lines += ["## Training", "", f"`{tr['command']}`", ""]
    if tr.get("distilled_from"):
        t, b = tr["distilled_from"], tr["batch"]
        lines += [f"Distilled from `{t['folder']}` ({t['name']} version {t['version']}, sha256 {t['sha256'][:12]}..., "
                  f"validation skilled EER {t['validation_eer_skilled']:.4f}): one network trained to give its "
                  f"embedding of the same augmented images (loss `{tr['loss']}`), {tr['epochs_run']} epochs of "
                  f"{b.get('batches_per_epoch')} batches of {b.get('size')} ({b.get('p_augment', 0):.0%} augmented), "
                  f"{tr['train_seconds']} s of training; the last epoch is exported. Images: {data}"
                  + (f" (of which {', '.join(d['root'] for d in tr['extra_data'])} only for this, "
                     f"{b.get('extra_share', 0):.0%} of each batch)" if tr.get("extra_data") else "")
                  + f"; thresholds fixed on {val}.", ""]
        if tr.get("extra_data_made_by"):
            lines += [f"The synthetic images were made by `{tr['extra_data_made_by']}`.", ""]
    else:
        lines += [f"Data: {data}; validation (early stopping, thresholds): {val}. Loss `{tr['loss']}`, PKFM "
                  f"{tr['batch']}, {tr['epochs_run']} epochs (best {tr['best_epoch']}), {tr['train_seconds']} s of "
                  "training.", ""]
    if tr.get("members"):
        lines += [f"An ensemble of {len(tr['members'])} members (`sigpipe.verifier.nets.Ensemble`: the mean of their "
                  "cosines), each trained apart:", ""]
        lines += [f"- `{m['command']}` (seed {m['seed']}, sha256 {m['sha256'][:12]}..., validation skilled EER "
                  f"{m['validation_eer_skilled']:.4f})" for m in tr["members"]]
        lines += [""]
    if card.get("destamp"):
        d = card["destamp"]
        lines += ["## Stamp remover", "", f"`{d['weights']}` (`sigpipe.destamp`, {d['arch']} {json.dumps(d['args'])}, "
                  f"sha256 {d['sha256'][:12]}...) erases rubber stamps from {d['applies_to']}, before the cleaning "
                  f"above: {d['how']}; threshold {d['threshold']}, min_share {d['min_share']}, dpi {d['dpi']}. "
                  f"Attached to {d['from']['name']} version {d['from']['version']} by `{d['command']}`.", ""]
        if d.get("training"):
            lines += [f"Training: {d['training'].get('how', '')}", ""]
            lines += [f"- `{c}`" for c in d["training"].get("commands", [])] + [""]
        if d.get("measured"):
            lines += ["Measured:", ""] + [f"- {m}" for m in d["measured"]] + [""]
    lines += ["## Licence", "", card["licence"], ""]
    if card.get("limitations"):
        lines += ["## Limitations", "", card["limitations"], ""]
    (out / "README.md").write_text("\n".join(lines))
