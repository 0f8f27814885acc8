"""Verifier throughput: crops/s for clean + embed, cleaning alone and embedding alone, batch-size sweep.

    .venv/bin/python bench/embed.py --model models/verifier-signet [--threads 2] [--batches 16,32,64,128]
        [--device cpu --device cuda] [--json]

Crops are real CEDAR scans when ../shared/data/cedar exists (else synthetic signers). Embedding runs in
``channels_last`` on the CPU (and on CUDA when present); "clean+embed" cleans each batch with
``clean_batch(workers=threads)`` then embeds it, the way a pipeline does.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sigpipe.runtime import configure  # noqa: E402

configure()

import numpy as np  # noqa: E402
import torch  # noqa: E402


def _crops(n: int) -> tuple[list[np.ndarray], str]:
    from sigpipe.clean import load_image

    cedar = ROOT.parent / "shared" / "data" / "cedar" / "full_org"
    if cedar.is_dir():
        paths = sorted(cedar.glob("*.jpg"))[:n]
        return [load_image(p) for p in paths], f"CEDAR full_org ({len(paths)} scans)"
    import tempfile

    from sigpipe.synth import generate

    tmp = Path(tempfile.mkdtemp())
    generate(tmp, signers=max(1, n // 24), documents=0, seed=0)
    paths = sorted((tmp / "signers").glob("*/*/*.png"))[:n]
    return [load_image(p) for p in paths], f"synthetic signers ({len(paths)} crops)"


def _rate(fn, n: int, repeat: int) -> float:
    fn()  # warm-up (allocator, oneDNN kernels)
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return n / best


def _sweep(v, images: list[np.ndarray], threads: int, batches: str, repeat: int) -> list[dict]:  # noqa: ANN001
    """One device: cleaning rate, then embed and clean+embed rates per batch size."""
    from sigpipe.clean import clean_batch

    n = len(images)
    kw = v.clean_kwargs
    size, canvas = kw.pop("size"), kw.pop("canvas")
    cleaned = clean_batch(images, size, canvas, workers=threads, **kw)
    clean_rate = _rate(lambda: clean_batch(images, size, canvas, workers=threads, **kw), n, repeat)
    rows = []
    for bs in (int(b) for b in batches.split(",")):
        emb_rate = _rate(lambda bs=bs: v.embed_clean(cleaned, batch_size=bs, tta=False), n, repeat)

        def both(bs: int = bs) -> None:
            for i in range(0, n, bs):
                v.embed_clean(clean_batch(images[i : i + bs], size, canvas, workers=threads, **kw), batch_size=bs,
                              tta=False)

        rows.append({"device": v.device.type, "batch": bs, "threads": threads, "clean_per_s": round(clean_rate, 1),
                     "embed_per_s": round(emb_rate, 1), "clean_embed_per_s": round(_rate(both, n, repeat), 1)})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(ROOT / "models" / "verifier-signet"))
    ap.add_argument("--n", type=int, default=512, help="crops per measurement")
    ap.add_argument("--threads", type=int, default=2, help="torch threads and cleaning workers")
    ap.add_argument("--batches", default="16,32,64,128")
    ap.add_argument("--repeat", type=int, default=3, help="best of this many runs")
    ap.add_argument("--precision", default="auto", help="auto | fp32 | bf16 | fp16 (Verifier precision)")
    ap.add_argument("--device", action="append", choices=["cpu", "cuda"],
                    help="measure on this device (repeatable) [the CPU, and CUDA when present]")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()

    from sigpipe.verifier.infer import Verifier

    torch.set_num_threads(a.threads)
    images, source = _crops(a.n)
    n = len(images)
    devices = a.device or ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    rows = []
    for dev in devices:
        v = Verifier.load(a.model, device=dev, precision=a.precision)
        rows += [{**r, "precision": str(v.amp_dtype or "fp32").replace("torch.", "")}
                 for r in _sweep(v, images, a.threads, a.batches, a.repeat)]
    size = Verifier.load(a.model).size
    meta = {"model": a.model, "source": source, "n": n, "input": list(size), "torch": torch.__version__}
    if a.json:
        print(json.dumps({**meta, "rows": rows}))
        return
    print(f"{a.model}: {source}, input {size[0]}x{size[1]}, best of {a.repeat}")
    print(f"{'device':>6} {'precision':>9} {'batch':>5} {'threads':>7} {'clean/s':>8} {'embed/s':>8} "
          f"{'clean+embed/s':>13}")
    for r in rows:
        print(f"{r['device']:>6} {r['precision']:>9} {r['batch']:>5} {r['threads']:>7} {r['clean_per_s']:>8} "
              f"{r['embed_per_s']:>8} {r['clean_embed_per_s']:>13}")


if __name__ == "__main__":
    main()
