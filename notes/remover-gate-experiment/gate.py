"""Could a cheap look at a crop tell the stamp remover where it would not act, and save its full-resolution run?

    .venv/bin/python notes/remover-gate-experiment/gate.py LAKE [LAKE ...]

For every stored page crop (``signatures.crop_path``) of the lakes: whether the product's remover (the default
verifier's) acts on it (its guard: the mask covers at least ``min_share`` of the crop's dark pixels), and the share
of the dark pixels that the mask computed at 1/F of the resolution covers (F = 2, 3, 4), with the time of each. A
gate "run the full mask only when the coarse share is at least G" is exact on these crops when no crop the remover
acts on has a coarse share under G.
"""

import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from sigpipe import runtime  # noqa: E402

runtime.configure()
import storage  # noqa: E402
from sigpipe import pdf  # noqa: E402
from sigpipe.clean import to_grey  # noqa: E402
from sigpipe.verifier.infer import Verifier  # noqa: E402

rem = Verifier.load(ROOT / "models" / "verifier-signet").destamp
FS = (2, 3, 4)
rows = []
times = {f: 0.0 for f in (1, *FS)}
for lake in sys.argv[1:]:
    con = storage.connect(lake)
    crops = storage.query(con, "SELECT crop_path, dpi FROM signatures").to_pylist()
    con.close()
    for c in crops:
        g = to_grey(pdf.decode_page(Path(lake) / c["crop_path"]))
        t0 = time.perf_counter()
        _, acted = rem(g, int(c["dpi"]))
        times[1] += time.perf_counter() - t0
        t, _ = cv2.threshold(g, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        dark = g <= t
        shares = []
        for f in FS:
            t0 = time.perf_counter()
            m = rem.mask_at(g, int(c["dpi"]) * f)  # the crop seen as if rendered at dpi * f: scaled down by f
            times[f] += time.perf_counter() - t0
            shares.append((m & dark).sum() / max(1, int(dark.sum())))
        rows.append((acted, *shares))
a = np.asarray(rows, float)
acts = a[:, 0] > 0
print(f"{len(a)} crops, the remover acts on {int(acts.sum())}; ms a crop: full {1e3 * times[1] / len(a):.1f}, "
      + ", ".join(f"1/{f} {1e3 * times[f] / len(a):.1f}" for f in FS))
for i, f in enumerate(FS):
    s = a[:, 1 + i]
    print(f"1/{f}: coarse share of the crops it acts on: min {s[acts].min():.3f}, "
          f"5th pct {np.percentile(s[acts], 5):.3f}; of the others: median {np.median(s[~acts]):.3f}, "
          f"90th pct {np.percentile(s[~acts], 90):.3f}")
    for g in (0.01, 0.02, 0.03, 0.05):
        print(f"   gate {g}: passes {int((s >= g).sum())} of {len(a)}, misses {int((acts & (s < g)).sum())} it acts on")
