"""What ``sigpipe.clean.remove_faint_marks`` takes from real signatures, which carry no stamps: it should be nothing.

The audit erases marks much fainter than the pen (stamps) before the verifier sees a crop. On real scans of
signatures alone every pixel it changes is a loss. For each image this measures the share of its ink (the
``ink_mask``) that the function changes, and prints per data set how many images change at all, over 1% and
over 5% of their ink, the largest share and the images with the largest, and the time per image (reading,
the ink mask and the function). Ink is what `clean` keeps as ink (specks below 0.2% of the ink excluded).

    .venv/bin/python bench/faint_marks.py [--data DIR ...] [--model models/verifier-signet] [--json]

Default data: ``../shared/data/cedar`` (full_org, full_forg) and ``../shared/data/crossmedia``. With ``--model``,
also the verifier's writer-independent figures on CEDAR writers 36-45 (its validation writers) with the scans
as they are and with faint marks erased before the card's cleaning, as the audit does.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sigpipe.clean import ink_mask, load_image, remove_faint_marks, to_grey  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


def lost_share(path: Path) -> float:
    """Share of the image's ink pixels that :func:`remove_faint_marks` changes."""
    grey = to_grey(load_image(path))
    ink = ink_mask(grey)
    return float((remove_faint_marks(grey) != grey)[ink].mean()) if ink.any() else 0.0


def measure(name: str, paths: list[Path], workers: int) -> dict:
    t0 = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        lost = np.array(list(pool.map(lost_share, paths)))
    dt = time.perf_counter() - t0
    worst = np.argsort(-lost)[:3]
    return {"data": name, "images": len(paths), "changed": float(np.mean(lost > 0)),
            "over_1pct": float(np.mean(lost > 0.01)), "over_5pct": float(np.mean(lost > 0.05)),
            "max": float(lost.max()), "worst": [f"{paths[i].relative_to(SHARED)} {lost[i]:.3f}" for i in worst],
            "ms_per_image": 1000 * dt * workers / len(paths)}


def verifier_effect(model: Path, cedar: Path, writers: set[str]) -> list[dict]:
    """Writer-independent report of ``model`` on CEDAR ``writers``, without and with faint marks erased."""
    from sigpipe.verifier.data import discover
    from sigpipe.verifier.evaluate import report, wi_pairs
    from sigpipe.verifier.infer import Verifier

    v = Verifier.load(model)
    sset = discover(cedar, "cedar", writers)
    raw = [to_grey(load_image(p)) for p in sset.paths]
    out = []
    for name, images in (("as scanned", raw), ("faint marks erased", [remove_faint_marks(g) for g in raw])):
        pairs = wi_pairs(v.embed_clean(v.clean(images, workers=2)), sset.writers.astype(str), sset.genuine)
        rep = report(pairs, float(v.threshold))
        out.append({"input": name, **{k: rep[k] for k in ("eer_skilled", "eer_random", "hter_skilled", "auc_skilled")}})
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", nargs="*", type=Path, default=[SHARED / "cedar", SHARED / "crossmedia"])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--model", type=Path, help="also the verifier's CEDAR 36-45 figures without and with the erasure")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    rows = []
    for d in a.data:
        paths = sorted(p for p in d.rglob("*") if p.suffix.lower() in SUFFIXES)
        if not paths:
            print(f"no images under {d}", file=sys.stderr)
            continue
        rows.append(measure(d.name, paths, a.workers))
    effect = verifier_effect(a.model, SHARED / "cedar", {str(w) for w in range(36, 46)}) if a.model else []
    if a.json:
        print(json.dumps({"data": rows, "verifier": effect}, indent=1))
        return 0
    print("| data | images | changed at all | > 1% of ink | > 5% of ink | max | ms/image (read, mask, erase) |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['data']} | {r['images']} | {r['changed']:.1%} | {r['over_1pct']:.2%} | {r['over_5pct']:.2%} "
              f"| {r['max']:.1%} | {r['ms_per_image']:.2f} |")
    for r in rows:
        print(f"{r['data']}: most changed: " + "; ".join(r["worst"]))
    if effect:
        print(f"\n{a.model.name} on CEDAR writers 36-45, writer-independent:")
        print("| input | skilled EER | random EER | skilled HTER at the card threshold | skilled AUC |")
        print("|---|---|---|---|---|")
        for r in effect:
            print(f"| {r['input']} | {r['eer_skilled']:.4f} | {r['eer_random']:.4f} | {r['hter_skilled']:.4f} "
                  f"| {r['auc_skilled']:.4f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
