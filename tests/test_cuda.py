"""The GPU paths give the CPU's answers: verifier embeddings, detector boxes, catalogue top-k.

These run only where CUDA is present (the lent GPU machine, a production box with a GPU); CI has none, so they
skip there. Each compares the CUDA result with the CPU's fp32 result on the same inputs, with the committed models.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

# The committed models, named by path: flows.params (pydantic) is not needed to check the library's GPU paths.
MODELS = Path(__file__).resolve().parents[1] / "models"

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA not available on this machine")]


def _crops(n: int) -> list[np.ndarray]:
    from sigpipe.synth import make_signers, signature_crop

    signers = make_signers(4, 31)
    rng = np.random.default_rng(31)
    return [signature_crop(signers[i % 4], rng) for i in range(n)]


def test_verifier_embeds_on_cuda_as_on_the_cpu():
    """CUDA runs under autocast; the embeddings must stay the CPU fp32 ones to within rounding, so a score near
    the threshold gets the same decision on either machine."""
    from sigpipe.verifier.infer import Verifier

    cpu = Verifier.load(MODELS / "verifier-signet", device="cpu", precision="fp32")
    gpu = Verifier.load(MODELS / "verifier-signet", device="cuda")
    assert gpu.device.type == "cuda"
    cleaned = cpu.clean(_crops(24))
    a, b = cpu.embed_clean(cleaned, batch_size=8), gpu.embed_clean(cleaned, batch_size=8)
    assert a.shape == b.shape and np.isfinite(b).all()
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    assert cos.min() > 0.995, cos.min()
    sa, sb = a @ a.T, b @ b.T  # every pairwise score, as the audit computes them
    assert np.abs(sa - sb).max() < 0.02


def test_detector_finds_the_same_boxes_on_cuda():
    from sigpipe.detect import box_iou, load_detector
    from sigpipe.synth import compose_page, make_signers

    signers = make_signers(6, 1031)
    rng = np.random.default_rng(1031)
    pages = [compose_page(kind, rng, signers, dpi=150).image for kind in ("letter", "cheque", "contract", "letter")]
    cpu = load_detector(MODELS / "detector-yolo11n", device="cpu", precision="fp32").detect(pages)
    gpu = load_detector(MODELS / "detector-yolo11n", device="cuda:0").detect(pages)
    assert sum(len(b) for b in cpu) > 0
    for pc, pg in zip(cpu, gpu, strict=True):
        assert len(pc) == len(pg)
        for bc in pc:
            best = max(pg, key=lambda bg, bc=bc: box_iou(bc.xyxy, bg.xyxy))
            assert box_iou(bc.xyxy, best.xyxy) > 0.95
            assert abs(bc.confidence - best.confidence) < 0.02


def test_catalogue_topk_on_cuda_equals_the_cpu():
    from sigpipe.identify import topk_signers

    rng = np.random.default_rng(5)
    refs = rng.standard_normal((5000, 256)).astype(np.float32)
    refs /= np.linalg.norm(refs, axis=1, keepdims=True)
    queries = refs[rng.choice(5000, 300)] + 0.3 * rng.standard_normal((300, 256)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    signer = rng.integers(0, 700, 5000).astype(np.int32)
    a = topk_signers(queries, refs, signer, k=10, query_block=128, ref_block=1024, device="cpu")
    b = topk_signers(queries, refs, signer, k=10, query_block=128, ref_block=1024, device="cuda")
    np.testing.assert_array_equal(a.signers[:, 0], b.signers[:, 0])
    np.testing.assert_allclose(a.scores, b.scores, atol=1e-4)
