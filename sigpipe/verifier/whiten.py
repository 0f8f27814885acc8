"""Within-class covariance normalisation (WCCN) of a verifier's embedding, folded into its last layer.

    sigpipe train verifier-whiten models/verifier-signet --out DIR \
        --folders .state/data/synth200/signers --crossmedia ../shared/data/crossmedia/experiment

Two signatures of one writer differ along some directions of the embedding more than along others (the pen, the
medium, the day). Those directions carry little about who wrote a signature, yet they move its cosine to the
writer's references as much as any other. WCCN, from speaker verification, measures them as the covariance of
embeddings around their writer's mean, ``S_w`` (pooled over writers with several genuine signatures), and scores
in the space where that covariance is the identity: ``z = l2(T e)`` with ``T = (S_w / mean(diag S_w) + lam I)^-1/2``.
Only genuine signatures of many writers are needed (no forgeries), from writers the network never trained on:
on its training writers the network has shrunk exactly those directions, so they hide what other writers do
(notes/verifier-experiments.md, session 18).

Because the embedding is ``e = l2(A h + b)`` and ``l2(T l2(y)) = l2(T y)``, the transform folds into the last
linear layer (``A <- T A``, ``b <- T b``): the whitened verifier is the same architecture at the same speed, and
every consumer (enrolment, audit, catalogue, evaluation) uses it unchanged. The folded model is calibrated on the
source model's validation writers as training calibrates one (:func:`sigpipe.verifier.train.export`).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["fold", "last_linear", "wccn_transform", "whiten", "within_covariance"]


def within_covariance(emb: np.ndarray, writers: np.ndarray) -> tuple[np.ndarray, int, int]:
    """Pooled within-writer covariance of unit embeddings ``(N, D)`` -> ``((D, D) float64, writers used, rows used)``.

    Writers with a single signature carry no within-writer spread and are left out.
    """
    emb = np.asarray(emb, np.float64)
    writers = np.asarray(writers).astype(str)
    names, inverse, counts = np.unique(writers, return_inverse=True, return_counts=True)
    keep = counts[inverse] >= 2
    if keep.sum() < 2 or (counts >= 2).sum() < 2:
        raise ValueError("within-writer covariance needs at least two writers with two or more signatures each")
    e, inv = emb[keep], inverse[keep]
    means = np.zeros((len(names), emb.shape[1]))
    np.add.at(means, inv, e)
    means /= np.maximum(np.bincount(inv, minlength=len(names)), 1)[:, None]
    r = e - means[inv]
    return r.T @ r / len(r), int((counts >= 2).sum()), int(keep.sum())


def wccn_transform(cov: np.ndarray, lam: float) -> np.ndarray:
    """``(D, D)`` covariance -> symmetric ``T = (C / mean(diag C) + lam I)^-1/2`` (``lam`` > 0 keeps it bounded)."""
    if lam <= 0:
        raise ValueError(f"lam must be > 0, got {lam}")
    cov = np.asarray(cov, np.float64)
    scale = np.trace(cov) / len(cov)
    if not np.isfinite(scale) or scale <= 0:
        raise ValueError("the within-writer covariance is zero: every writer's signatures embed identically")
    vals, vecs = np.linalg.eigh(cov / scale + lam * np.eye(len(cov)))
    return (vecs * vals ** -0.5) @ vecs.T


def last_linear(model: torch.nn.Module) -> torch.nn.Linear:
    """The linear layer whose output is L2-normalised into the embedding (``head.proj[-1]``, an ensemble's ``proj``)."""
    head = getattr(model, "head", None)
    proj = getattr(head, "proj", None) if head is not None else getattr(model, "proj", None)
    layer = proj[-1] if isinstance(proj, torch.nn.Sequential) and len(proj) else proj
    if not isinstance(layer, torch.nn.Linear):
        raise ValueError(f"{type(model).__name__} has no final linear projection to fold a transform into")
    return layer


def fold(model: torch.nn.Module, t: np.ndarray) -> None:
    """Fold ``T (D, D)`` into the last linear layer in place: the embedding becomes ``l2(T y)`` for ``y = A h + b``."""
    layer = last_linear(model)
    tt = torch.as_tensor(np.asarray(t), dtype=torch.float64)
    if tt.shape != (layer.out_features, layer.out_features):
        raise ValueError(f"transform {tuple(tt.shape)} does not match the embedding size {layer.out_features}")
    with torch.no_grad():
        layer.weight.copy_((tt @ layer.weight.double()).to(layer.weight.dtype))
        if layer.bias is not None:
            layer.bias.copy_((tt @ layer.bias.double()).to(layer.bias.dtype))


def whiten(source: str | Path, within: Sequence[Any], out: str | Path, lam: float = 0.1, name: str | None = None,
           version: str | None = None, cache_dir: str | None = ".state/cache", command: str = "",
           pairs: str | Path | None = None, pairs_weight: float = 0.5,
           log: Callable[[str], None] = print) -> dict[str, Any]:
    """Write ``source`` (a verifier folder) whitened by the genuine signatures of ``within`` (``DataSpec``s) to
    ``out``, calibrated on the source's validation writers; return the new card.

    ``pairs``: a ``sigpipe train verifier-pairs`` file; each scan's crops cut from documents and the scan cleaned
    alone are one class, so the spread a document adds to a signature counts as within-writer spread too; its
    covariance is mixed in with weight ``pairs_weight``."""
    from sigpipe.verifier.infer import CLEAN_ARGS, Verifier
    from sigpipe.verifier.train import DataSpec, TrainConfig, _write_readme, export, load_sources
    from sigpipe.weights import load_card, write_card

    if pairs is not None and not 0 < pairs_weight < 1:
        raise ValueError(f"pairs_weight must be in (0, 1), got {pairs_weight}")
    src = load_card(source)
    if src.get("kind") != "verifier":
        raise ValueError(f"{source}: card kind is {src.get('kind')!r}, not 'verifier'")
    v = Verifier.load(source, device="cpu", precision="fp32")  # the transform from full-precision embeddings
    pre = src["preprocessing"]
    size = tuple(pre["size"])
    canvas = tuple(pre["canvas"]) if pre.get("canvas") else None
    clean_args = {k: pre[k] for k in CLEAN_ARGS if k in pre}
    specs = [DataSpec(**s) if isinstance(s, dict) else s for s in within]
    if not specs:
        raise ValueError("give at least one source of genuine signatures (--folders or --crossmedia)")
    wset, wx, _ = load_sources(specs, size, canvas, clean_args, cache_dir, log)
    wx, wwriters = wx[wset.genuine], wset.writers[wset.genuine]
    emb = v.embed_clean(wx)
    cov, n_writers, n_rows = within_covariance(emb, wwriters)
    pairs_info = None
    if pairs is not None:
        from sigpipe.verifier.doc_pairs import load_pairs
        from sigpipe.weights import sha256_file

        crops, targets, scans = load_pairs(pairs, size)
        _, first = np.unique(scans, return_index=True)  # one clean view per scan, beside all its crops
        pemb = v.embed_clean(np.concatenate([crops, targets[first]]))
        pcov, n_scans, _ = within_covariance(pemb, np.concatenate([scans, scans[first]]))
        cov = (1 - pairs_weight) * cov / np.trace(cov) + pairs_weight * pcov / np.trace(pcov)
        pairs_info = {"path": str(pairs), "sha256": sha256_file(Path(pairs)), "scans": n_scans, "crops": len(crops),
                      "weight": pairs_weight}
        log(f"document pairs: {len(crops)} crops of {n_scans} scans, weight {pairs_weight}")
    t = wccn_transform(cov, lam)
    vals = np.linalg.eigvalsh(cov / (np.trace(cov) / len(cov)))
    log(f"within-writer covariance of {n_rows} genuine signatures of {n_writers} writers; relative eigenvalues "
        f"{vals.min():.3g}..{vals.max():.3g}; lam {lam}")
    model = v.model.float().to(memory_format=torch.contiguous_format)
    fold(model, t)

    tr = src["training"]
    out = Path(out)
    cfg = TrainConfig(name=name or out.name, version=version, arch=src["arch"], arch_args=src["arch_args"],
                      size=size, canvas=canvas, ink_norm=pre.get("ink_norm"), clean_args=clean_args,
                      train_data=[DataSpec(**d) for d in tr["data"]], val_data=DataSpec(**tr["validation"]),
                      out=str(out), cache_dir=cache_dir, command=command)
    vset, vx, _ = load_sources([cfg.val_data], size, canvas, clean_args, cache_dir, log)
    state = {"epoch": tr.get("epochs_run", 0), "best": {"epoch": tr.get("best_epoch")},
             "elapsed": float(tr.get("train_seconds", 0.0))}
    with tempfile.TemporaryDirectory() as tmp:
        weights = Path(tmp) / "whitened.pt"
        torch.save(model.state_dict(), weights)
        export(cfg, weights, vset, vx, state, log)
    card = dict(load_card(out).data)
    # the network's training is the source's; this step adds a fixed linear map measured on other writers
    card["training"] = {**tr, "whitened_from": {"folder": str(source), "name": src["name"], "version": src["version"],
                                                "sha256": src["sha256"], "command": tr.get("command", ""),
                                                "validation_eer_skilled": src["threshold"]["validation_eer_skilled"]},
                        "whitening": {"method": "WCCN: embedding l2(T e), T = (S_w / mean(diag S_w) + lam I)^-1/2, "
                                                "S_w the pooled within-writer covariance of unit embeddings; folded "
                                                "into the last linear layer (sigpipe.verifier.whiten)",
                                      "lam": lam, "data": [s.model_dump() for s in specs], "writers": n_writers,
                                      "signatures": n_rows, "pairs": pairs_info},
                        "command": command}
    card["licence"] = src.get("licence", card.get("licence", "")) + (
        " The whitening also used crossmedia (MIT)." if any(s.layout == "crossmedia" for s in specs) else "")
    card = dict(write_card(out, card).data)
    _write_readme(out, card)
    return card
