"""Session 29: mirrored CEDAR writers as writers of their own (tried, not kept; notes/verifier-experiments.md).

Apply ``mirror.patch`` (``git apply notes/mirror-experiment/mirror.patch``: ``DataSpec.mirror``) first, then

    OMP_NUM_THREADS=1 .venv/bin/python notes/mirror-experiment/exp.py NAME SEED MIRROR

MIRROR: ``-`` (none) or a comma list of ``h`` (left-right), ``v`` (upside down), ``hv``. The short protocol: 20 epochs
x 26 batches, cosine to the end, no early stop, validation on CEDAR 36-45; per-epoch figures in
``.state/mx/runs/NAME/history.jsonl``.
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from sigpipe.runtime import configure  # noqa: E402

configure()
from sigpipe.verifier.train import DataSpec, TrainConfig, train  # noqa: E402

name, seed, mirror = sys.argv[1], int(sys.argv[2]), sys.argv[3]
mir = tuple(m for m in mirror.split(",") if m and m != "-")
cfg = TrainConfig(train_data=[DataSpec(root="../shared/data/cedar", layout="cedar", writers="1-35", prefix="cedar:",
                                       mirror=mir)],
                  epochs=20, patience=30, batches_per_epoch=26, seed=seed, threads=1,
                  run_dir=f".state/mx/runs/{name}", out=None)
res = train(cfg, progress=False)
print(json.dumps({k: v for k, v in res.items() if not isinstance(v, (list, dict))}))
