"""Detector speed: ms per page, end to end ((H, W) uint8 page -> boxes), for real page sizes.

    .venv/bin/python bench/detect.py [--model models/detector-yolo11n] [--threads 2] [--batch 1 --batch 4]
        [--precision fp32 --precision bf16] [--device cpu --device cuda:0] [--json]

"ms/page" is wall time (median of --repeats), "cpu ms" the process CPU time per page (all threads). "orient ms":
when the card names a page orienter, its wall time per page on the page shrunk to the detector's decode side (as
the flow decodes it), before detection; not included in "ms/page".
With --check-data DATA_YAML [--split val]: quality instead of speed, end to end through Detector.detect (one JSON
per --precision), so a faster precision is shown to find the same boxes.

Pages are synthetic scanned documents (sigpipe.synth) at A4 150/200/300 dpi and a cheque at 200 dpi, so the
resize cost and the number of candidate boxes are realistic. The input size comes from the model card. Times
include the INTER_AREA shrink, the ultralytics letterbox + forward + NMS and the mapping back to page pixels.
Runs on the CPU, and on CUDA too when present. Prints what else loaded the machine (load average, busiest
processes), since the CPU is shared.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sigpipe.runtime import configure  # noqa: E402

configure()

import numpy as np  # noqa: E402

# (label, page kind, dpi)
PAGES = [("A4 150 dpi", "letter", 150), ("A4 200 dpi", "letter", 200), ("A4 300 dpi", "contract", 300),
         ("cheque 200 dpi", "cheque", 200)]


def _pages(kind: str, dpi: int, n: int, seed: int = 0) -> list[np.ndarray]:
    from sigpipe.synth import compose_page, make_signers

    signers = make_signers(8, seed + 1000)  # seed far from the training pages' streams
    rng = np.random.default_rng([seed, dpi, len(kind)])
    return [compose_page(kind, rng, signers, dpi=dpi).image for _ in range(n)]


def _busy() -> dict:
    """Load average and the 5 busiest other processes (the machine is shared)."""
    load = os.getloadavg()
    try:
        ps = subprocess.run(["ps", "-eo", "pid,pcpu,etime,args", "--sort=-pcpu"], capture_output=True, text=True,
                            check=True).stdout.splitlines()[1:]
        rows = [line.split(None, 3) for line in ps]
        top = [f"{r[1]}% {r[2]} {r[3][:90]}" for r in rows if len(r) == 4 and int(r[0]) != os.getpid()
               and not r[3].startswith("ps ")][:5]
    except (OSError, subprocess.CalledProcessError):
        top = []
    return {"loadavg_1m": round(load[0], 2), "busiest": top}


def bench(model: Path, device: str, threads: int, batches: list[int], repeats: int, precision: str) -> list[dict]:
    import torch

    from sigpipe.detect import load_detector

    det = load_detector(model, device=device, threads=threads if device == "cpu" else None, precision=precision)
    rows = []
    for label, kind, dpi in PAGES:
        for b in batches:
            pages = _pages(kind, dpi, b)
            det.detect(pages, batch=b)  # warm-up (allocator, cudnn autotune)
            times, cpu = [], []
            for _ in range(repeats):
                if device.startswith("cuda"):
                    torch.cuda.synchronize()
                t0, c0 = time.perf_counter(), time.process_time()
                found = det.detect(pages, batch=b)
                if device.startswith("cuda"):
                    torch.cuda.synchronize()
                times.append((time.perf_counter() - t0) * 1000 / b)
                cpu.append((time.process_time() - c0) * 1000 / b)
            orient_ms = None
            if det.orienter is not None:  # on the page as the flow gives it: decoded to about decode_side
                import cv2

                f = det.decode_side / max(pages[0].shape)
                small = [cv2.resize(p, (round(p.shape[1] * f), round(p.shape[0] * f)), interpolation=cv2.INTER_AREA)
                         for p in pages]
                det.upright_turns(small)
                ot = []
                for _ in range(repeats):
                    t0 = time.perf_counter()
                    det.upright_turns(small)
                    ot.append((time.perf_counter() - t0) * 1000 / b)
                orient_ms = round(statistics.median(ot), 1)
            h, w = pages[0].shape
            rows.append({"page": label, "orient_ms_per_page_median": orient_ms, "height": h, "width": w,
                         "device": device,
                         "threads": torch.get_num_threads() if device == "cpu" else None, "batch": b,
                         "precision": "bf16" if det.bf16 else "fp32",
                         "imgsz": det.imgsz, "ms_per_page_median": round(statistics.median(times), 1),
                         "ms_per_page_min": round(min(times), 1), "repeats": repeats,
                         # CPU time of this process (all its threads): on a shared machine the wall time
                         # includes waiting for a core; with 1 thread, cpu ms ~ the wall time of an idle machine.
                         "cpu_ms_per_page_median": round(statistics.median(cpu), 1),
                         "boxes_per_page": round(sum(len(f) for f in found) / b, 2)})
    return rows


def check(model: Path, data: Path, split: str, threads: int, precision: str = "auto") -> dict:
    """End-to-end quality through Detector.detect (full-size greyscale pages, card thresholds): P/R/F1 at IoU 0.5,
    greedy matching by confidence. Complements `sigpipe eval detector`, which measures ultralytics val."""
    import cv2

    from sigpipe.detect import _label_path, box_iou, check_dataset, load_detector

    ds = check_dataset(data, split)
    det = load_detector(model, device="cpu", threads=threads, precision=precision)
    tp = fp = fn = 0
    t0 = time.perf_counter()
    for path in ds.images:
        page = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        h, w = page.shape
        label = _label_path(path)
        truth = []
        if label.is_file():
            for line in label.read_text().split("\n"):
                if line.split():
                    _, cx, cy, bw, bh = (float(v) for v in line.split())
                    truth.append(((cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h))
        used = set()
        for b in det.detect_page(page):
            best = max(((box_iou(b.xyxy, t), i) for i, t in enumerate(truth) if i not in used), default=(0.0, -1))
            if best[0] >= 0.5:
                used.add(best[1])
                tp += 1
            else:
                fp += 1
        fn += len(truth) - len(used)
    p, r = tp / max(tp + fp, 1), tp / max(tp + fn, 1)
    return {"model": str(model), "data": str(ds.data), "split": split, "n_images": len(ds.images),
            "n_boxes": ds.n_boxes, "precision_mode": "bf16" if det.bf16 else "fp32", "conf": det.conf,
            "iou": det.iou, "tp": tp, "fp": fp, "fn": fn,
            "precision": round(p, 4), "recall": round(r, 4), "f1": round(2 * p * r / max(p + r, 1e-9), 4),
            "seconds": round(time.perf_counter() - t0, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=ROOT / "models" / "detector-yolo11n")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    ap.add_argument("--batch", type=int, action="append", help="batch sizes (repeatable) [1, 4]")
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--check-data", type=Path, help="instead of timing: P/R/F1 through Detector.detect on a split")
    ap.add_argument("--split", default="val", help="split of --check-data")
    ap.add_argument("--precision", action="append", choices=["auto", "fp32", "bf16"],
                    help="CPU precision (repeatable) [auto: bf16 where the CPU has it]")
    ap.add_argument("--device", action="append", choices=["cpu", "cuda:0"],
                    help="measure on this device (repeatable) [the CPU, and CUDA when present]")
    args = ap.parse_args()
    import torch

    precisions = args.precision or ["auto"]
    if args.check_data:
        for p in precisions:
            print(json.dumps(check(args.model, args.check_data, args.split, args.threads, p)))
        return

    batches = args.batch or [1, 4]
    devices = args.device or ["cpu"] + (["cuda:0"] if torch.cuda.is_available() else [])
    before = _busy()
    rows = [r for d in devices for p in (precisions if d == "cpu" else ["auto"])
            for r in bench(args.model, d, args.threads, batches, args.repeats, p)]
    result = {"model": str(args.model), "rows": rows, "machine_before": before, "machine_after": _busy(),
              "cpu_count": os.cpu_count(), "torch": torch.__version__,
              "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}
    if args.json:
        print(json.dumps(result))
        return
    print(f"{'page':<15}{'H x W':>12}{'device':>8}{'prec':>6}{'thr':>5}{'batch':>6}{'imgsz':>6}{'ms/page':>9}"
          f"{'min':>7}{'cpu ms':>8}{'boxes':>7}{'orient ms':>10}")
    for r in rows:
        print(f"{r['page']:<15}{r['height']:>6}x{r['width']:<5}{r['device']:>8}{r['precision']:>6}"
              f"{r['threads'] or '-':>5}{r['batch']:>6}{r['imgsz']:>6}{r['ms_per_page_median']:>9}"
              f"{r['ms_per_page_min']:>7}"
              f"{r['cpu_ms_per_page_median']:>8}{r['boxes_per_page']:>7}{r['orient_ms_per_page_median'] or '-':>10}")
    print(f"load before {before['loadavg_1m']}, after {result['machine_after']['loadavg_1m']}; busiest before:")
    for line in before["busiest"]:
        print(f"  {line}")


if __name__ == "__main__":
    main()
