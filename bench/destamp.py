"""Stamp remover cost: ms per crop for the verifier's stamp remover (sigpipe.destamp) at page-crop sizes.

    .venv/bin/python bench/destamp.py [--model models/verifier-signet] [--threads 1 --threads 2] [--n 100] [--json]

Crops are synthetic 200-dpi signature crops (a pen stroke on grey paper) with a rubber stamp over half of them
(sigpipe.verifier.augment's generator), at three sizes: a signature's box as the detect flow cuts it from a page at
200 dpi is about 180 x 470 px (median of 1,087 crops of composed documents, notes/destamp-experiment). "acts" is
the share of crops the guard let it change. The remover runs once per page crop, before the verifier's cleaning.
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

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

SIZES = ((130, 360), (180, 470), (260, 700))


def crops(n: int, size: tuple[int, int], seed: int = 0) -> list[np.ndarray]:
    from sigpipe.verifier.augment import _stamp_layer

    rng = np.random.default_rng(seed)
    h, w = size
    out = []
    for i in range(n):
        img = np.full((h, w), rng.uniform(225, 245), np.float32)
        pts = np.stack([np.linspace(0.05 * w, 0.92 * w, 9), h * rng.uniform(0.2, 0.8, 9)], 1).astype(np.int32)
        cv2.polylines(img, [pts], False, float(rng.uniform(20, 70)), max(2, h // 45), cv2.LINE_AA)
        if i % 2:
            s = int(h * rng.uniform(0.9, 1.2))
            a = _stamp_layer(s, rng)
            x0 = int(rng.integers(0, max(1, w - s)))
            y0 = max(0, (h - s) // 2)
            reg = img[y0 : y0 + s, x0 : x0 + s]
            reg *= 1 - 0.55 * a[: reg.shape[0], : reg.shape[1]]
        out.append(np.clip(img + rng.normal(0, 2, img.shape), 0, 255).astype(np.uint8))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=ROOT / "models" / "verifier-signet")
    ap.add_argument("--threads", type=int, action="append")
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    from sigpipe.destamp import StampRemover
    from sigpipe.weights import load_card

    card = load_card(a.model)
    if not card.get("destamp"):
        print(f"{a.model}: the card names no stamp remover", file=sys.stderr)
        return 2
    rem = StampRemover.from_card(a.model, card["destamp"])
    rows = []
    for threads in a.threads or [1, 2]:
        torch.set_num_threads(threads)
        for size in SIZES:
            imgs = crops(a.n, size)
            rem(imgs[0], rem.dpi)  # warm-up
            t0 = time.perf_counter()
            acted = sum(rem(i, rem.dpi)[1] for i in imgs)
            dt = time.perf_counter() - t0
            rows.append({"threads": threads, "crop": f"{size[0]}x{size[1]}", "ms_per_crop": round(1000 * dt / a.n, 2),
                         "crops_per_s": round(a.n / dt, 1), "acts": round(acted / a.n, 2)})
    if a.json:
        print(json.dumps(rows, indent=1))
        return 0
    print(f"stamp remover of {a.model} ({card['name']} v{card['version']}), {a.n} crops per row, half stamped")
    print("| threads | crop (h x w) | ms/crop | crops/s | acts |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['threads']} | {r['crop']} | {r['ms_per_crop']} | {r['crops_per_s']} | {r['acts']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
