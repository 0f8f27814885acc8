"""Session 36: the verifier's conv + BatchNorm + ReLU fused for inference (torch.ao.quantization.fuse_modules), against
the network as loaded, on a batch of 64 random 150x220 inputs, fp32, 2 threads, alternated three times each:

    .venv/bin/python notes/embed-speed/fuse.py

On the host of sessions 33-36 (AMD EPYC, no AVX512), two runs: embed alone 408/395/372 and 354/361/385 crops/s as
loaded, 458/451/386 and 389/431/448 fused (4-19% more); the embeddings within 2.4e-7 of each other (cosine >=
0.9999998). Not built: clean + embed ran 235-274 crops/s there (bench/embed.py), and 4-19% on the embedding alone
does not bring it near the 500 target.
"""

from __future__ import annotations

import copy
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.ao.quantization import fuse_modules

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sigpipe.verifier.infer import Verifier  # noqa: E402


def crops_per_s(model: nn.Module, x: torch.Tensor, n: int = 12) -> float:
    with torch.inference_mode():
        for _ in range(2):
            model(x)
        times = []
        for _ in range(n):
            t = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - t)
    return len(x) / float(np.median(times))


def main() -> None:
    torch.set_num_threads(2)
    plain = Verifier.load(Path(__file__).resolve().parents[2] / "models" / "verifier-signet", precision="fp32").model
    fused = copy.deepcopy(plain)
    for block in fused.features:
        if isinstance(block, nn.Sequential) and len(block) == 3:  # _conv_bn: Conv2d, BatchNorm2d, ReLU
            fuse_modules(block, [["0", "1", "2"]], inplace=True)
    x = torch.rand(64, 1, 150, 220).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        a, b = plain(x), fused(x)
    print(f"max |difference| {(a - b).abs().max().item():.2e}, cosine min {(a * b).sum(1).min().item():.7f}")
    for _ in range(3):
        print(f"as loaded {crops_per_s(plain, x):.1f} crops/s, fused {crops_per_s(fused, x):.1f} crops/s")


if __name__ == "__main__":
    main()
