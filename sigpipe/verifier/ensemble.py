"""Combine trained verifiers of one architecture into one model folder (:class:`sigpipe.verifier.nets.Ensemble`).

    sigpipe train verifier-ensemble MEMBER [MEMBER ...] --out models/verifier-signet

The members must share architecture, input and cleaning (models trained with other ``--seed`` values). The
combined model is calibrated on the members' validation writers as training calibrates one (thresholds,
writer-dependent settings, the audit's inconclusive band: :func:`sigpipe.verifier.train.export`); its card
records each member's training command, seed and sha256, so every weight in it traces to a training command.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

__all__ = ["combine"]

_SAME = ("arch", "arch_args", "input_size")
_SAME_PREPROCESSING = ("function", "size", "canvas", "ink_norm")  # and CLEAN_ARGS


def _fit_projection(model: Any, x: Any, dim: int, ink_norm: float | None) -> None:
    """Set ``model.proj`` to the ``dim`` principal directions (not centred: the cosines are those of the joined
    embeddings, less what the dropped directions held) of the joined embeddings of cleaned crops ``x``."""
    from sigpipe.verifier.infer import to_input

    model.eval()
    with torch.inference_mode():
        e = torch.cat([model.joined(to_input(x[i : i + 128], "cpu", ink_norm=ink_norm))
                       for i in range(0, len(x), 128)]).double()
    _, sv, vt = torch.linalg.svd(e, full_matrices=False)
    with torch.no_grad():
        model.proj.weight.copy_(vt[:dim].float())  # (dim, joined)
        model.proj.bias.zero_()
    model.proj_variance = round(float((sv[:dim] ** 2).sum() / (sv**2).sum()), 4)


def combine(members: Sequence[str | Path], out: str | Path, name: str | None = None, version: str | None = None,
            cache_dir: str | None = ".state/cache", command: str = "", dim: int | None = None,
            log: Callable[[str], None] = print) -> dict[str, Any]:
    """Write the ensemble of ``members`` (model folders) to ``out``; return its card. With ``dim`` the joined
    embedding is projected to its ``dim`` principal directions on the members' training writers."""
    from sigpipe.verifier.infer import CLEAN_ARGS
    from sigpipe.verifier.nets import Ensemble
    from sigpipe.verifier.train import DataSpec, TrainConfig, _write_readme, export, load_sources
    from sigpipe.weights import load_card, write_card

    if len(members) < 2:
        raise ValueError("an ensemble needs at least two member models")
    cards = [load_card(m) for m in members]
    first = cards[0].data
    for m, c in zip(members, cards, strict=True):
        if c.get("kind") != "verifier" or c.get("arch") == "ensemble":
            raise ValueError(f"{m}: not a plain verifier (kind {c.get('kind')!r}, arch {c.get('arch')!r})")
        for k in _SAME:
            if c.get(k) != first.get(k):
                raise ValueError(f"{m}: {k} {c.get(k)!r} differs from {members[0]}'s {first.get(k)!r}")
        for k in (*_SAME_PREPROCESSING, *CLEAN_ARGS):
            if c["preprocessing"].get(k) != first["preprocessing"].get(k):
                raise ValueError(f"{m}: preprocessing {k} {c['preprocessing'].get(k)!r} differs from "
                                 f"{members[0]}'s {first['preprocessing'].get(k)!r}")
        if c["training"]["validation"] != first["training"]["validation"]:
            raise ValueError(f"{m}: validated on other writers than {members[0]}")
    shas = [c["sha256"] for c in cards]
    if len(set(shas)) < len(shas):
        raise ValueError("the same weights are given twice")

    arch_args = {"arch": first["arch"], "arch_args": first["arch_args"], "n": len(cards),
                 **({"dim": dim} if dim else {})}
    model = Ensemble(**arch_args)
    for member, c in zip(model.members, cards, strict=True):
        member.load_state_dict(torch.load(c.weights_path, map_location="cpu", weights_only=True))
    pre = first["preprocessing"]
    tr = first["training"]
    out = Path(out)
    cfg = TrainConfig(
        name=name or out.name, version=version, arch="ensemble", arch_args=arch_args, size=tuple(pre["size"]),
        canvas=tuple(pre["canvas"]) if pre.get("canvas") else None, ink_norm=pre.get("ink_norm"),
        clean_args={k: pre[k] for k in CLEAN_ARGS if k in pre},
        train_data=[DataSpec(**d) for d in tr["data"]], val_data=DataSpec(**tr["validation"]), loss=tr["loss"],
        loss_args=tr.get("loss_args") or {}, P=tr["batch"]["P"], K=tr["batch"]["K"], F=tr["batch"]["F"],
        M=tr["batch"]["M"], lr=tr["lr"], seed=tr["seed"], ema_decay=tr["ema_decay"], augment=tr["augment"],
        out=str(out), cache_dir=cache_dir, command=command)
    vset, vx, _ = load_sources([cfg.val_data], cfg.size, cfg.canvas, cfg.clean_args, cfg.cache_dir, log)
    if dim:
        _, tx, _ = load_sources(cfg.train_data, cfg.size, cfg.canvas, cfg.clean_args, cfg.cache_dir, log)
        _fit_projection(model, tx, dim, cfg.ink_norm)
        log(f"projection to {dim} dimensions keeps {model.proj_variance:.1%} of the joined embeddings' energy")
    state = {"epoch": max(int(c["training"]["epochs_run"]) for c in cards),
             "best": {"epoch": [int(c["training"]["best_epoch"]) for c in cards]},
             "elapsed": sum(float(c["training"]["train_seconds"]) for c in cards)}
    with tempfile.TemporaryDirectory() as tmp:
        weights = Path(tmp) / "ensemble.pt"
        torch.save(model.state_dict(), weights)
        export(cfg, weights, vset, vx, state, log)
    card = dict(load_card(out).data)
    card["training"] = {**card["training"], "command": command or card["training"]["command"],
                        "members": [{"folder": str(m), "sha256": c["sha256"], "version": c["version"],
                                     "command": c["training"]["command"], "seed": c["training"]["seed"],
                                     "best_epoch": c["training"]["best_epoch"],
                                     "validation_eer_skilled": c["threshold"]["validation_eer_skilled"]}
                                    for m, c in zip(members, cards, strict=True)],
                        **({"projection": f"the {dim} principal directions (not centred) of the joined embeddings "
                                          f"of the training writers' images, keeping {model.proj_variance:.1%} of "
                                          "their energy"}
                           if dim else {})}
    card = dict(write_card(out, card).data)
    _write_readme(out, card)
    return card
