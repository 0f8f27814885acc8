"""A YOLO split of synthetic document pages carrying real CEDAR signatures (session 28).

``sigpipe.synth.export_yolo``'s pages (layouts, stamps, notes, turned pages, negatives) with every signature drawn
through :class:`sigpipe.synth.real.RealSignatures`: a genuine scan of the claimed CEDAR writer or one of CEDAR's
skilled forgeries of that writer, each scan used on several pages (``cycle``). Writers 1-35 for training (the
verifier's training writers), 36-45 for validation (the writers ``bench/real_documents.py`` composes).

    .venv/bin/python notes/detector-real-experiment/export_real.py OUT SPLIT N SEED WRITERS [IMGSZ]

SPLIT train|val, WRITERS like 1-35. Writes OUT/images/SPLIT, OUT/labels/SPLIT and OUT/data.yaml (val = this split).
"""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from sigpipe.synth import dataset, documents  # noqa: E402
from sigpipe.synth.real import RealSignatures  # noqa: E402

CEDAR = ROOT.parent / "shared" / "data" / "cedar"


def main() -> None:
    out, split, n, seed, writers = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    imgsz = int(sys.argv[6]) if len(sys.argv) > 6 else 416
    lo, hi = (int(v) for v in writers.split("-"))
    sampler = RealSignatures(CEDAR, range(lo, hi + 1), references=0, cycle=24)
    synthetic = documents.sample_signature
    documents.sample_signature = sampler
    try:
        counts = dataset.export_yolo(out, n if split == "train" else 0, n if split == "val" else 0, seed, imgsz,
                                     dpi=200, signers=hi - lo + 1)
    finally:
        documents.sample_signature = synthetic
    (out / "data.yaml").write_text(
        f"# real CEDAR writers {writers} on synthetic pages: notes/detector-real-experiment/export_real.py "
        f"{' '.join(sys.argv[1:])}\npath: {out.resolve()}\ntrain: images/{split}\nval: images/{split}\n"
        f"names:\n  0: signature\n")
    print(json.dumps(counts | {"scans_drawn": len(sampler.drawn)}))


if __name__ == "__main__":
    main()
