"""What decoding a stored page JPEG at a fraction of its size does to the detector's confidence.

The detect task decodes each page straight to 1/2, 1/4 or 1/8 of its size (DCT-domain scaling) before the
detector's letterbox shrink. This compares, page by page, the best box's confidence from a full decode with the
one from the reduction the task uses (long side at least ``Detector.decode_side``, twice the input) and from
the reduction down to the input size itself (what the task used before 904d580).

    .venv/bin/python bench/real_documents.py --documents 150 --seed 100 --out /tmp/real150
    .venv/bin/python bench/decode_confidence.py --lake /tmp/real150/lake [--limit N] [--json]

Prints, per rule: the reduction it picked, pages with a box on the full decode, the mean difference of the best
box's confidence from the full decode's, and the largest drop.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sigpipe.runtime import configure  # noqa: E402

configure()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lake", type=Path, required=True, help="a lake whose pages were ingested")
    ap.add_argument("--detector", type=Path, default=ROOT / "models" / "detector-yolo11n")
    ap.add_argument("--limit", type=int, default=0, help="first N pages of the pages view (0: all)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    import storage
    from sigpipe import pdf
    from sigpipe.detect import load_detector

    det = load_detector(args.detector, conf=0.05)
    con = storage.connect(args.lake)
    pages = storage.query(con, "SELECT image_path, height, width FROM pages ORDER BY page_id").to_pylist()
    con.close()
    root = storage.lake_path(args.lake)
    rules = {"full": None, "decode_side": det.decode_side, "imgsz": det.imgsz}
    best: dict[str, list[float]] = {k: [] for k in rules}
    seconds: dict[str, float] = dict.fromkeys(rules, 0.0)
    reductions: dict[str, set[int]] = {k: set() for k in rules}
    pages = pages[: args.limit] if args.limit > 0 else pages
    for p in pages:
        for name, side in rules.items():
            r = 1 if side is None else pdf.reduction_for(p["height"], p["width"], side)
            reductions[name].add(r)
            t = time.perf_counter()
            img = pdf.decode_page(root / p["image_path"], reduce=r)
            seconds[name] += time.perf_counter() - t
            boxes = det.detect([img], shapes=[(p["height"], p["width"])])[0]
            best[name].append(boxes[0].confidence if boxes else 0.0)
    full = np.array(best["full"])
    has_box = full > 0
    rows = []
    for name in rules:
        diff = np.array(best[name])[has_box] - full[has_box]
        rows.append({"rule": name, "reduction": sorted(reductions[name]), "pages": int(has_box.sum()),
                     "mean_diff": round(float(diff.mean()), 4) if diff.size else None,
                     "largest_drop": round(float(-diff.min()), 4) if diff.size else None,
                     "decode_ms": round(1000 * seconds[name] / max(1, len(pages)), 1)})
    if args.json:
        print(json.dumps({"lake": str(args.lake), "detector": str(args.detector), "rows": rows}))
        return 0
    print(f"{len(pages)} pages of {args.lake}, detector {args.detector.name}, best box at conf >= 0.05")
    print(f"{'rule':<12} {'reduction':>9} {'pages':>6} {'mean diff':>10} {'largest drop':>13} {'decode ms':>10}")
    for r in rows:
        print(f"{r['rule']:<12} {'/'.join(map(str, r['reduction'])):>9} {r['pages']:>6} {r['mean_diff']!s:>10} "
              f"{r['largest_drop']!s:>13} {r['decode_ms']:>10}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
