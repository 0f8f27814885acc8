"""GPU driver for one detector training run on the lent device (not part of the product).

Runs sigpipe.detect.fit_detector (the code `sigpipe train detector` runs) with a time budget, and copies the
run's results.csv and optimizer-stripped best/last weights into $OUT every 15 s, so whatever the run reached
comes back even if it is cut off.
"""

import csv
import os
import shutil
import sys
import threading
import time
from pathlib import Path

ROOT = Path.cwd()
sys.path.insert(0, str(ROOT))
OUT = Path(os.environ.get("OUT", "/tmp/out"))
OUT.mkdir(parents=True, exist_ok=True)
DATA = Path(os.environ.get("DET_DATA", "/data"))
RUN = Path(os.environ.get("DET_RUN", "/tmp/runs/det640"))

if os.environ.get("SIM_NO_POLARS"):  # local rehearsal: the device has no polars
    import importlib.abc

    class _Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name == "polars" or name.startswith("polars."):
                raise ImportError("polars blocked")
            return None

    sys.meta_path.insert(0, _Block())

from sigpipe.runtime import configure  # noqa: E402

configure(Path(os.environ.get("SIGPIPE_HOME", "/tmp/sigstate")))

import ultralytics.engine.trainer as trainer_mod  # noqa: E402


def _read_results_csv(self):  # ultralytics reads results.csv with polars at every save; csv does the same
    try:
        rows = list(csv.DictReader(self.csv.open()))
    except Exception:
        return {}
    return {k.strip(): [float(r[k]) for r in rows] for k in rows[0]} if rows else {}


trainer_mod.BaseTrainer.read_results_csv = _read_results_csv

from sigpipe.detect import TrainConfig, fit_detector  # noqa: E402

(DATA / "data.yaml").write_text(
    f"path: {DATA}\n"
    f"train: [{DATA}/real/train/images, {DATA}/synth/images/train]\n"
    f"val: [{DATA}/real/valid/images, {DATA}/synth/images/val]\n"
    "nc: 1\nnames: ['signature']\n")

cfg = TrainConfig(
    data=DATA / "data.yaml", run_dir=RUN, architecture=os.environ.get("DET_ARCH", "yolo11n"),
    epochs=int(os.environ.get("DET_EPOCHS", "300")), imgsz=int(os.environ.get("DET_IMGSZ", "640")),
    batch=int(os.environ.get("DET_BATCH", "32")), patience=1000, close_mosaic=int(os.environ.get("DET_CM", "10")),
    warmup_epochs=3.0, seed=0, device=os.environ.get("DET_DEVICE", "0"), threads=4,
    workers=int(os.environ.get("DET_WORKERS", "14")), hours=float(os.environ.get("DET_HOURS", "0.125")), cache=True)
print("config", cfg, flush=True)

_done = threading.Event()
_seen: dict[str, float] = {}


def _copy_out() -> None:
    from ultralytics.utils.torch_utils import strip_optimizer

    res = RUN / "results.csv"
    if res.is_file():
        shutil.copyfile(res, OUT / "results.csv.tmp")
        os.replace(OUT / "results.csv.tmp", OUT / "results.csv")
    for name in ("best.pt", "last.pt"):
        src = RUN / "weights" / name
        if not src.is_file():
            continue
        m = src.stat().st_mtime
        if _seen.get(name) == m:
            continue
        tmp = OUT / f"{name}.tmp"
        try:
            shutil.copyfile(src, tmp)
            strip_optimizer(tmp)  # half precision, no optimizer: ~5 MB, under the 16 MB a file may come back
            os.replace(tmp, OUT / name)
            _seen[name] = m
        except Exception as e:  # a file caught mid-write: the next round copies it
            print("copy", name, "failed:", e, flush=True)


def _loop() -> None:
    while not _done.wait(15):
        _copy_out()


threading.Thread(target=_loop, daemon=True).start()
t0 = time.time()
try:
    best = fit_detector(cfg, log=print)
    print("best", best, "seconds", round(time.time() - t0, 1), flush=True)
finally:
    _done.set()
    _copy_out()
    for f in ("args.yaml",):
        if (RUN / f).is_file():
            shutil.copyfile(RUN / f, OUT / f)
