"""Page level through the product: each labelled page of a YOLO split as a scanned one-page PDF, run through
`sigpipe detect` (the detect flow: ingest, the PDF checks, stored JPEG, reduced decode, detector at the card's
thresholds), then compared with its labels per page.

    .venv/bin/python bench/detect_pages.py --data .state/data/signature-detection/data.yaml [--split val]
        [--detector models/detector-yolo11n] [--dpi 200] [--limit N] [--json]

It answers the detector issue's page-level question: is every signed page found, and how many unsigned pages
get a false signature? Printed per data set: signed pages and the share found (at least one box), unsigned
pages and the share with a box, and boxes per page against the labels. Each image becomes a PDF page of its
own pixel size at ``--dpi`` (a JPEG drawn full page, as scanners write them), so the flow stores it as it is.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sigpipe.runtime import configure  # noqa: E402

configure()


def _label_counts(images: list[Path]) -> dict[str, int]:
    """Image stem -> number of boxes in its YOLO label file (images/... -> labels/...; none = 0)."""
    out = {}
    for img in images:
        parts = list(img.parts)
        i = len(parts) - 1 - parts[::-1].index("images")
        label = Path(*parts[:i], "labels", *parts[i + 1:]).with_suffix(".txt")
        out[img.stem] = sum(1 for line in label.read_text().splitlines() if line.strip()) if label.is_file() else 0
    return out


def _make_inbox(images: list[Path], inbox: Path, dpi: int, rotate: int = 0) -> None:
    from PIL import Image

    inbox.mkdir(parents=True)
    for img in images:
        with Image.open(img) as im:
            page = im.convert("L")
            if rotate:  # scanned the wrong way round: counter-clockwise, as PIL turns
                page = page.rotate(rotate, expand=True)
            page.save(inbox / f"{img.stem}.pdf", "PDF", resolution=float(dpi), quality=92)


def run(data: Path, split: str, detector: Path, dpi: int, limit: int | None, rotate: int = 0) -> dict:
    import storage
    from flows.detect import detect
    from flows.params import DetectParams
    from sigpipe.detect import check_dataset

    ds = check_dataset(data, split)
    images = ds.images[:limit] if limit else ds.images
    truth = _label_counts(images)
    with tempfile.TemporaryDirectory(prefix="detect-pages-") as tmp:
        inbox, lake = Path(tmp) / "inbox", Path(tmp) / "lake"
        _make_inbox(images, inbox, dpi, rotate)
        t = time.perf_counter()
        res = detect(DetectParams(inbox=inbox, lake=lake, detector=detector, dpi=dpi))
        wall = time.perf_counter() - t
        con = storage.connect(lake)
        rows = storage.query(con, "SELECT d.file_name, t.n_signatures FROM detections t JOIN documents d "
                                  "USING (doc_id)").to_pylist()
        con.close()
    found = {Path(r["file_name"]).stem: r["n_signatures"] for r in rows}
    signed = [s for s, n in truth.items() if n > 0]
    unsigned = [s for s, n in truth.items() if n == 0]
    missing = [s for s in truth if s not in found]  # failed in the flow (listed in failures)
    hit = [s for s in signed if found.get(s, 0) > 0]
    false = [s for s in unsigned if found.get(s, 0) > 0]
    boxes_signed = sum(found.get(s, 0) for s in signed)
    return {"data": str(data), "split": split, "detector": str(detector), "dpi": dpi, "rotate": rotate,
            "pages": len(truth),
            "not_processed": len(missing), "failed": res.get("failed", []),
            "signed_pages": len(signed), "signed_found": len(hit),
            "signed_found_share": round(len(hit) / max(1, len(signed)), 4),
            "unsigned_pages": len(unsigned), "unsigned_with_box": len(false),
            "unsigned_with_box_share": round(len(false) / max(1, len(unsigned)), 4),
            "boxes_per_signed_page": round(boxes_signed / max(1, len(signed)), 3),
            "labelled_boxes_per_signed_page": round(sum(truth[s] for s in signed) / max(1, len(signed)), 3),
            "missed_pages": sorted(set(signed) - set(hit))[:20], "flow_s": round(wall, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, action="append", required=True, help="YOLO data.yaml (repeatable)")
    ap.add_argument("--split", default="val")
    ap.add_argument("--detector", type=Path, default=ROOT / "models" / "detector-yolo11n")
    ap.add_argument("--dpi", type=int, default=200)
    ap.add_argument("--limit", type=int, default=None, help="first N images of each split")
    ap.add_argument("--rotate", type=int, default=0, choices=(0, 90, 180, 270),
                    help="turn each page counter-clockwise by this many degrees before it becomes a PDF")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args()
    results = [run(d, args.split, args.detector, args.dpi, args.limit, args.rotate) for d in args.data]
    if args.json:
        print(json.dumps({"results": results}))
        return
    print(f"{'data':<40}{'pages':>6}{'signed':>8}{'found':>8}{'unsigned':>10}{'with box':>10}{'boxes/pg':>10}"
          f"{'labelled':>10}")
    for r in results:
        print(f"{Path(r['data']).parent.name[:39]:<40}{r['pages']:>6}{r['signed_pages']:>8}"
              f"{r['signed_found_share']:>8.3f}{r['unsigned_pages']:>10}{r['unsigned_with_box_share']:>10.3f}"
              f"{r['boxes_per_signed_page']:>10.2f}{r['labelled_boxes_per_signed_page']:>10.2f}")
        if r["not_processed"]:
            print(f"  {r['not_processed']} pages not processed: {r['failed'][:3]}")


if __name__ == "__main__":
    main()
