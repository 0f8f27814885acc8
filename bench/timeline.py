"""Where the audit flow's workers wait: a timeline of one run's task runs, and what the threads did in the gaps.

    .venv/bin/python bench/timeline.py [--pages 1000] [--data .state/bench/pipeline] [--detector DIR]
        [--verifier DIR] [--stacks] [--json]

Enrols the synthetic signers and audits the ``bench/pipeline.py`` set of ``--pages`` pages (built there and
reused) into a new lake, with a new empty Prefect database. Then it reads the run's task runs back from Prefect
and prints, per task name, how many ran, when the first started and the last ended (seconds from the audit
flow's start) and their summed run time; then the idle thread-seconds of the flow's 2 workers and every period
over 0.5 s in which fewer than 2 tasks ran. With ``--stacks`` a thread samples every thread's stack each 0.1 s,
and the most frequent stacks inside each such period are printed: that is how the wait for Prefect's tag
concurrency slots was found (see README, Benchmarks).

A subflow's own task run (``ingest``) counts as running while its tasks run, so the ingest stage never shows as
under-used here. Times are wall-clock under whatever else loads the machine: it prints the load average.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from sigpipe.runtime import configure  # noqa: E402

WORKERS = 2  # the flows' ThreadPoolTaskRunner(max_workers=2)


# innermost frames of threads that are only waiting for work: left out of the samples
_IDLE = ("selectors.py", "queue.py", "heartbeat_loop", "concurrent/futures/thread.py", "_run_until_shutdown")


def _sampler(samples: list, stop: threading.Event) -> None:
    me = threading.get_ident()
    while not stop.wait(0.1):
        now = time.time()
        for tid, frame in sys._current_frames().items():
            stack = traceback.extract_stack(frame)[-7:] if tid != me else []
            if stack and not any(k in f"{stack[-1].filename}:{stack[-1].name}" for k in _IDLE):
                samples.append((now, tid, " <- ".join(
                    f"{f.filename.split('site-packages/')[-1]}:{f.lineno}:{f.name}" for f in reversed(stack))))


def _task_runs(since: float) -> tuple[list[tuple[str, float, float]], float]:
    """(name, start, end) of every task run of the flow runs started after ``since``, and the first start."""
    from datetime import UTC, datetime

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, FlowRunFilterStartTime

    rows = []
    with get_client(sync_client=True) as c:
        flows = c.read_flow_runs(flow_run_filter=FlowRunFilter(
            start_time=FlowRunFilterStartTime(after_=datetime.fromtimestamp(since, UTC))))
        ids, offset = [f.id for f in flows], 0
        while ids:
            batch = c.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids)), limit=200,
                                     offset=offset)
            rows += [(t.name.rsplit("-", 1)[0], t.start_time.timestamp(), t.end_time.timestamp())
                     for t in batch if t.start_time and t.end_time]
            if len(batch) < 200:
                break
            offset += 200
    return sorted(rows, key=lambda r: r[1]), min(f.start_time.timestamp() for f in flows if f.start_time)


def _gaps(rows: list[tuple[str, float, float]], t0: float, step: float = 0.1) -> tuple[float, list[tuple]]:
    """Idle worker-seconds and the periods over 0.5 s with fewer than WORKERS task runs running."""
    end = max(e for _, _, e in rows)
    n = int((end - t0) / step) + 1
    running = [0] * n
    for _, s, e in rows:
        for i in range(max(0, int((s - t0) / step)), min(n, int((e - t0) / step))):
            running[i] += 1
    idle = sum(max(0, WORKERS - r) for r in running) * step
    periods, start = [], None
    for i, r in enumerate(running + [WORKERS]):
        if r < WORKERS and start is None:
            start = i
        elif r >= WORKERS and start is not None:
            if (i - start) * step > 0.5:
                periods.append((round(start * step, 1), round(i * step, 1)))
            start = None
    return round(idle, 1), periods


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pages", type=int, default=1000)
    ap.add_argument("--data", type=Path, default=ROOT / ".state" / "bench" / "pipeline")
    ap.add_argument("--detector", type=Path, default=ROOT / "models" / "detector-yolo11n")
    ap.add_argument("--verifier", type=Path, default=ROOT / "models" / "verifier-signet")
    ap.add_argument("--stacks", action="store_true", help="sample thread stacks and print them per gap")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-timeline-"))
    os.environ["PREFECT_HOME"] = str(work / "prefect")  # an empty Prefect database, as bench/pipeline.py
    configure()
    from pipeline import _dataset  # bench/pipeline.py: the same synthetic set

    from flows.audit import audit
    from flows.enroll import enroll
    from flows.params import AuditParams, EnrollParams

    ds = _dataset(args.data, args.pages, 0)
    lake = work / "lake"
    enroll(EnrollParams(source=ds["references"], lake=lake, verifier=args.verifier, detector=args.detector))
    samples: list = []
    stop = threading.Event()
    if args.stacks:
        threading.Thread(target=_sampler, args=(samples, stop), daemon=True).start()
    load = os.getloadavg()[0]
    since, t = time.time(), time.perf_counter()
    res = audit(AuditParams(inbox=ds["inbox"], manifest=ds["manifest"], lake=lake, verifier=args.verifier,
                            detector=args.detector))
    wall = time.perf_counter() - t
    stop.set()
    rows, t0 = _task_runs(since)
    stages: dict[str, list[float]] = {}
    for name, s, e in rows:
        st = stages.setdefault(name, [0, s, e, 0.0])
        st[0] += 1
        st[1], st[2], st[3] = min(st[1], s), max(st[2], e), st[3] + e - s
    idle, periods = _gaps(rows, t0)
    out = {"pages": res["ingest"]["pages"], "wall_s": round(wall, 2),
           "pages_per_s": round(res["ingest"]["pages"] / wall, 2), "loadavg_before": round(load, 2),
           "idle_thread_s": idle, "thread_s": round(WORKERS * (max(e for _, _, e in rows) - t0), 1),
           "stages": {k: {"n": v[0], "first_start": round(v[1] - t0, 2), "last_end": round(v[2] - t0, 2),
                          "task_s": round(v[3], 2)} for k, v in sorted(stages.items(), key=lambda kv: kv[1][1])},
           "under_used": periods}
    if args.stacks:
        out["gap_stacks"] = []
        for a, b in periods[:8]:
            counts = collections.Counter(st for ts, _, st in samples if t0 + a + 0.3 < ts < t0 + b - 0.3)
            out["gap_stacks"].append({"period": [a, b], "stacks": counts.most_common(6)})
    if args.json:
        print(json.dumps(out))
        return
    print(f"{out['pages']} pages: audit {out['wall_s']} s ({out['pages_per_s']} pages/s), load before {load:.2f}; "
          f"idle {idle} of {out['thread_s']} thread-seconds")
    print(f"{'task':28}{'n':>5}{'first start':>13}{'last end':>10}{'task-s':>9}")
    for k, v in out["stages"].items():
        print(f"{k:28}{v['n']:>5}{v['first_start']:>13}{v['last_end']:>10}{v['task_s']:>9}")
    for a, b in periods:
        print(f"  fewer than {WORKERS} tasks running: {a}-{b} s ({b - a:.1f} s)")
    for g in out.get("gap_stacks", []):
        print(f"\nstacks in {g['period'][0]}-{g['period'][1]} s (samples, innermost first):")
        for stack, n in g["stacks"]:
            print(f"  {n:3d}  {stack[:300]}")


if __name__ == "__main__":
    main()
