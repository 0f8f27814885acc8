"""Where a page crop's time goes: the per-crop stages between the detector and the verifier's network, on the
signatures of a lake an audit (or ``sigpipe demo``) wrote.

For each signature (up to ``--n``), from its stored page and crop: ``grow_to_ink`` (the detect task's box growing,
with its rule erasure on the window), ``remove_rules`` and ``remove_faint_marks`` on the stored crop (the embed
task's erasures), the verifier's stamp remover on it (when its card names one) and its cleaning. Page decoding is
not timed. Each figure is the best of ``--repeat`` passes (the machine is shared: best-of is the least noisy), in
ms per call on this process's threads (cv2 and torch as the flow runs them: one torch thread).

    .venv/bin/python bench/crop_stages.py --lake DIR [--verifier models/verifier-signet] [--n 300] [--repeat 3]
        [--json]
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lake", type=Path, required=True, help="a lake with signatures (an audit's or the demo's)")
    ap.add_argument("--verifier", type=Path, default=ROOT / "models" / "verifier-signet")
    ap.add_argument("--n", type=int, default=300, help="signatures to time, in sig_id order")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    import torch

    import storage
    from sigpipe import pdf
    from sigpipe.clean import grow_to_ink, remove_faint_marks, remove_rules, to_grey
    from sigpipe.verifier.infer import Verifier

    torch.set_num_threads(1)
    con = storage.connect(args.lake)
    rows = storage.query(con, "SELECT s.crop_path, s.x0, s.y0, s.x1, s.y1, s.dpi, p.image_path FROM signatures s "
                              "JOIN pages p USING (doc_id, page) ORDER BY s.sig_id LIMIT $n", {"n": args.n}).to_pylist()
    con.close()
    if not rows:
        sys.exit(f"{args.lake}: no signatures to time")
    root = storage.lake_path(args.lake)
    pages = {p: pdf.decode_page(root / p) for p in {r["image_path"] for r in rows}}
    crops = [to_grey(pdf.decode_page(root / r["crop_path"])) for r in rows]
    v = Verifier.load(args.verifier)
    boxes = [(r["x0"], r["y0"], r["x1"], r["y1"]) for r in rows]
    stages = {
        "grow_to_ink (page window)": lambda i: grow_to_ink(pages[rows[i]["image_path"]], boxes[i]),
        "remove_rules (crop)": lambda i: remove_rules(crops[i]),
        "remove_faint_marks (crop)": lambda i: remove_faint_marks(crops[i]),
        "clean (crop)": lambda i: v.clean([crops[i]]),
    }
    if v.destamp is not None:
        stages["stamp remover (crop)"] = lambda i: v.destamp(crops[i], int(rows[i]["dpi"]))
    out = {"lake": str(args.lake), "signatures": len(rows), "verifier": f"{v.card.name} v{v.card.version}",
           "ms_per_call": {}}
    for name, fn in stages.items():
        best = float("inf")
        for _ in range(max(1, args.repeat)):
            t = time.perf_counter()
            for i in range(len(rows)):
                fn(i)
            best = min(best, time.perf_counter() - t)
        out["ms_per_call"][name] = round(1000 * best / len(rows), 2)
    if args.json:
        print(json.dumps(out))
        return
    print(f"{out['signatures']} signatures of {out['lake']}, verifier {out['verifier']}, best of {args.repeat}")
    print(f"{'stage':<28}{'ms/call':>9}")
    for name, ms in out["ms_per_call"].items():
        print(f"{name:<28}{ms:>9}")


if __name__ == "__main__":
    main()
