"""Training flows: composition only (the work is in sigpipe; these give it a Prefect run, retries, logs)."""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.logging import get_run_logger

from sigpipe.detect import TrainConfig as DetectorTrainConfig
from sigpipe.verifier.distill import DistillConfig
from sigpipe.verifier.doc_pairs import PairsConfig
from sigpipe.verifier.train import TrainConfig as VerifierTrainConfig

__all__ = ["distill_verifier", "train_detector", "train_verifier", "verifier_pairs"]


# ----------------------------------------------------------------------------------------------- verifier


@task(name="train-verifier", tags=["gpu"])
def _train_verifier_task(cfg: VerifierTrainConfig) -> dict[str, Any]:
    """Train (resuming from ``cfg.run_dir/last.pt`` when present) and export to ``cfg.out``."""
    from sigpipe.verifier.train import train

    log = get_run_logger()
    return train(cfg, log=log.info, progress=False)


@flow(name="train-verifier", log_prints=True)
def train_verifier(params: VerifierTrainConfig) -> dict[str, Any]:
    """Writer-independent verifier: PKFM batches, metric loss, EER early stopping, model folder export."""
    return _train_verifier_task(params)


@task(name="distill-verifier", tags=["gpu"])
def _distill_verifier_task(cfg: DistillConfig) -> dict[str, Any]:
    """Distil (resuming from ``cfg.run_dir/last.pt`` when present) and export to ``cfg.out``."""
    from sigpipe.verifier.distill import distill

    log = get_run_logger()
    return distill(cfg, log=log.info)


@flow(name="distill-verifier", log_prints=True)
def distill_verifier(params: DistillConfig) -> dict[str, Any]:
    """One network trained to give a verifier's (an ensemble's) embedding, calibrated and exported."""
    return _distill_verifier_task(params)


@flow(name="verifier-pairs", log_prints=True)
def verifier_pairs(params: PairsConfig) -> dict[str, Any]:
    """Documents of the verifier's training writers -> the detect flow -> (crop as the audit cleans it, its scan
    cleaned alone) pairs for ``sigpipe train verifier-distill --pairs``."""
    from pathlib import Path

    from flows.detect import detect
    from flows.params import DetectParams
    from flows.runners import subflow
    from tasks.pairs import compose_real_documents, cut_pairs

    roots, detector = [], None
    for seed in params.seeds:
        # one folder per composition: other writers or another document count never reuse these
        root = Path(params.work_dir) / f"writers-{params.writers}-documents-{params.documents}-seed-{seed}"
        compose_real_documents(params, seed, str(root / "data"))
        kw = {} if params.detector is None else {"detector": Path(params.detector)}
        dp = DetectParams(inbox=root / "data" / "inbox", lake=root / "lake", **kw)
        subflow(detect)(dp)
        roots.append(str(root))
        detector = str(dp.detector)
    return cut_pairs(params, roots, detector)


# ----------------------------------------------------------------------------------------------- detector


@task(name="train-detector", tags=["gpu"])
def _train_detector_task(cfg: DetectorTrainConfig, out: str, resume: bool, export_only: bool,
                         command: str) -> dict[str, Any]:
    """ultralytics training (resumable from ``cfg.run_dir/weights/last.pt``), then export to ``out``; the card
    records ``command`` or, when empty, the equivalent ``sigpipe train detector`` line."""
    from sigpipe.detect import train_detector as fit_and_export

    log = get_run_logger()
    card = fit_and_export(cfg, out, resume=resume, log=log.info, command=command, export_only=export_only)
    return card.data


@flow(name="train-detector", log_prints=True)
def train_detector(params: DetectorTrainConfig, out: str = "models/detector-yolo11n", resume: bool = False,
                   export_only: bool = False) -> dict[str, Any]:
    """Signature detector: yolo11n from random init, thresholds chosen on the validation split, model folder."""
    return _train_detector_task(params, out, resume, export_only, "")
