"""Cleaning speed on real CEDAR crops: crops/s of ``clean_batch`` on 1 and 2 threads, a few target sizes.

Rows: ``clean`` works on images already decoded to ``(H, W) uint8`` (the pipeline's case: crops cut from
page images in memory); ``load+clean`` starts from the JPEG files (decode included). ``cv2 threads`` is
OpenCV's own pool (``cv2.setNumThreads``); ``workers`` is clean_batch's thread pool. Each figure is the
best of ``--repeat`` passes over the same ``--n`` crops (the machine is shared: best-of is the least noisy),
and ``crops/cpu-s`` counts CPU time instead of wall time.

    .venv/bin/python bench/clean.py [--n 1000] [--sizes 150x220 192x288] [--repeat 3] [--json]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sigpipe.clean import clean_batch, load_image  # noqa: E402

CEDAR = ROOT.parent / "shared" / "data" / "cedar"


def _size(text: str) -> tuple[int, int]:
    h, w = text.lower().split("x")
    return int(h), int(w)


def _best_rate(fn, n: int, repeat: int) -> tuple[float, float, float]:
    """Run ``fn`` ``repeat`` times -> (best, median) items per wall second, best items per CPU second.

    Items per CPU second (this process, all threads) is what one core does when nobody else runs: the
    figure that survives a shared machine, where wall-clock rates swing with the neighbours' load.
    """
    rates, cpu_rates = [], []
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        fn()
        rates.append(n / (time.perf_counter() - t))
        cpu_rates.append(n / max(time.process_time() - c, 1e-9))
    return max(rates), float(np.median(rates)), max(cpu_rates)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=CEDAR, help="CEDAR folder with manifest.csv")
    ap.add_argument("--n", type=int, default=1000, help="crops, spread evenly over the manifest")
    ap.add_argument("--sizes", type=_size, nargs="+", default=[(150, 220), (192, 288)], help="HxW targets")
    ap.add_argument("--canvas", type=_size, default=None, help="HxW canvas for clean(canvas=...)")
    ap.add_argument("--repeat", type=int, default=3, help="passes; the best is reported")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    a = ap.parse_args()
    if not (a.data / "manifest.csv").is_file():
        sys.exit(f"no CEDAR manifest at {a.data / 'manifest.csv'} (see shared/data/README.md)")

    rows = list(csv.DictReader((a.data / "manifest.csv").open()))
    pick = np.linspace(0, len(rows) - 1, min(a.n, len(rows))).round().astype(int)
    paths = [a.data / rows[i]["path"] for i in pick]
    cv2.setNumThreads(1)
    decode, decode_med, decode_cpu = _best_rate(lambda: [load_image(p) for p in paths], len(paths), a.repeat)
    images = [load_image(p) for p in paths]
    mean_px = float(np.mean([im.size for im in images]))

    results = []
    for size in a.sizes:
        for cv_threads in (1, 0):  # 0: OpenCV's default pool
            for workers in (1, 2):
                if cv_threads == 0 and workers == 1:
                    continue
                cv2.setNumThreads(cv_threads if cv_threads else -1)
                for what, items in (("clean", images), ("load+clean", paths)):
                    run = lambda items=items, size=size, workers=workers: clean_batch(  # noqa: E731
                        items, size, a.canvas, workers=workers
                    )
                    best, med, cpu = _best_rate(run, len(items), a.repeat)
                    results.append(
                        {
                            "size": f"{size[0]}x{size[1]}",
                            "what": what,
                            "workers": workers,
                            "cv2_threads": cv_threads or cv2.getNumThreads(),
                            "crops_per_s": round(best, 1),
                            "crops_per_s_median": round(med, 1),
                            "ms_per_crop": round(1000 / best, 3),
                            "crops_per_cpu_s": round(cpu, 1),
                        }
                    )
    out = {
        "data": str(a.data),
        "n": len(paths),
        "mean_input_pixels": round(mean_px),
        "canvas": list(a.canvas) if a.canvas else None,
        "cpu_count": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
        "opencv": cv2.__version__,
        "decode_per_s": round(decode, 1),
        "decode_per_s_median": round(decode_med, 1),
        "decode_per_cpu_s": round(decode_cpu, 1),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "results": results,
    }
    if a.json:
        print(json.dumps(out, indent=1))
        return
    print(
        f"clean speed: {out['n']} CEDAR crops (mean {mean_px / 1000:.0f}k px), best of {a.repeat}, "
        f"{out['cpu_count']} cores, OpenCV {cv2.__version__}, load average {os.getloadavg()[0]:.1f}; "
        f"JPEG decode alone {decode:.0f}/s on 1 thread ({decode_cpu:.0f} per CPU-second)"
    )
    hdr = (
        f"{'size':>8s} {'what':>11s} {'workers':>7s} {'cv2 thr':>7s} {'crops/s':>9s} {'median':>9s} "
        f"{'ms/crop':>8s} {'crops/cpu-s':>11s}"
    )
    print(hdr)
    print("-" * len(hdr))
    for r in results:
        print(
            f"{r['size']:>8s} {r['what']:>11s} {r['workers']:7d} {r['cv2_threads']:7d} {r['crops_per_s']:9.0f} "
            f"{r['crops_per_s_median']:9.0f} {r['ms_per_crop']:8.3f} {r['crops_per_cpu_s']:11.0f}"
        )


if __name__ == "__main__":
    main()
