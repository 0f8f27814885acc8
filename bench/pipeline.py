"""End to end: pages/s for 10/100/1000 synthetic scanned pages, stage breakdown and peak memory, against a
naive composition of the same libraries' default calls measured in the same run.

    .venv/bin/python bench/pipeline.py [--pages 10 100 1000] [--detector DIR] [--verifier DIR] [--json]
        [--crops detector|truth] [--naive-max-pages 100] [--data .state/bench/pipeline] [--skip-library]

Three measurements per page count, each in a fresh child process (its peak RSS, and that of its own children
such as poppler, read with getrusage):

- ``pipeline``  the real ``audit`` flow (Prefect, ThreadPoolTaskRunner, the lake), on an inbox of synthetic
  PDFs with a claims manifest, after the signers were enrolled (``enroll`` flow, timed apart). Headline
  ``pages_per_s`` = pages / audit wall time. Per-task time comes from the run's Prefect task runs
  (``task_seconds``: summed run time per task name; two run at once, so they add up to about 2x the wall).
- ``library``   the flow's core sigpipe/storage calls without Prefect, one document at a time through every
  stage on a 2-thread pool, with per-stage thread-seconds: render (the scan's own JPEG, or poppler), decode,
  detect, clean, embed, verify, write (JPEG encodes, pages and verdicts parts). It leaves out what the flow
  also does (boxes grown to the ink, evidence sheets, the documents/detections/signatures/embeddings parts,
  DuckDB reads between stages, compaction), so the gap to ``pipeline`` is that work plus orchestration.
- ``naive``     pdf2image ``convert_from_path(pdf)`` at its defaults (whole PDF, RGB), ultralytics
  ``YOLO(weights).predict(page)`` per page at its defaults (imgsz 640, conf 0.25), one verifier forward per
  crop, and a Python loop over (crop, reference) pairs; on the first ``--naive-max-pages`` pages.

``--crops truth`` makes ``library`` and ``naive`` take the signature boxes from the synthetic ground truth
instead of their detector's output (the detector still runs and is timed): with an untrained stand-in
detector that finds nothing, it keeps the clean/embed/verify stages loaded. The flow always uses its
detector. Synthetic sets are generated once under ``--data`` and reused.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sigpipe.runtime import configure  # noqa: E402

configure()

DEFAULT_DETECTOR = ROOT / "models" / "detector-yolo11n"
DEFAULT_VERIFIER = ROOT / "models" / "verifier-signet"
SIGNERS = 20
PAGES_PER_DOC = 1.33  # mean of sigpipe.synth's document kinds


# ------------------------------------------------------------------------------------------------ data sets


def _dataset(data: Path, pages: int, seed: int) -> dict[str, Any]:
    """An inbox of whole synthetic documents totalling ``pages`` pages (or the first document past it), its
    claims manifest, truth and the signers' references; built from one cached master set."""
    from sigpipe.synth import generate

    master = data / f"master-s{seed}"
    need_docs = math.ceil(pages / PAGES_PER_DOC * 1.15) + 2
    meta = master / "bench.json"
    if not meta.is_file() or json.loads(meta.read_text())["documents"] < need_docs:
        t = time.perf_counter()
        summary = generate(master, signers=SIGNERS, documents=need_docs, seed=seed, dpi=200,
                           references_per_signer=6, genuine_per_signer=0, forged_per_signer=0, overwrite=True)
        summary["generate_s"] = round(time.perf_counter() - t, 1)
        meta.write_text(json.dumps(summary))
    truth = {}
    for p in sorted((master / "truth").glob("*.json")):
        t = json.loads(p.read_text())
        truth[t["document"]] = t
    chosen, total = [], 0
    for name in sorted(truth):
        if total >= pages:
            break
        chosen.append(name)
        total += len(truth[name]["pages"])
    if total < pages:
        raise RuntimeError(f"master set too small for {pages} pages")
    out = data / f"set-s{seed}-p{pages}"
    inbox = out / "inbox"
    if not (out / "ready").is_file():
        shutil.rmtree(out, ignore_errors=True)
        inbox.mkdir(parents=True)
        for name in chosen:
            os.link(master / "inbox" / name, inbox / name)  # a hard link: inside the inbox, no copy
        with open(master / "manifest.csv") as f, open(out / "manifest.csv", "w", newline="") as g:
            rows = [r for r in csv.DictReader(f) if r["document"] in set(chosen)]
            w = csv.DictWriter(g, ["document", "signer_id", "page"], lineterminator="\n")
            w.writeheader()
            w.writerows(rows)
        (out / "ready").write_text("")
    with open(out / "manifest.csv") as f:
        claims = list(csv.DictReader(f))
    return {"root": str(out), "inbox": str(inbox), "manifest": str(out / "manifest.csv"),
            "references": str(master / "references"), "documents": chosen, "pages": total,
            "claims": len(claims), "truth": {n: truth[n] for n in chosen}}


# ------------------------------------------------------------------------------------------------ children


def _peak_mb() -> dict[str, float]:
    me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"peak_rss_mb": round(max(me, kids), 1), "self_rss_mb": round(me, 1), "children_rss_mb": round(kids, 1)}


def _task_seconds(since: float) -> dict[str, float]:
    """Summed run time per task name of the flow runs started after ``since`` (this process's runs)."""
    from datetime import UTC, datetime

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, FlowRunFilterStartTime

    after = datetime.fromtimestamp(since, UTC)
    out: dict[str, float] = defaultdict(float)
    with get_client(sync_client=True) as c:
        flows = c.read_flow_runs(flow_run_filter=FlowRunFilter(start_time=FlowRunFilterStartTime(after_=after)))
        ids = [f.id for f in flows]
        offset = 0
        while ids:
            batch = c.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids)), limit=200,
                                     offset=offset)
            for tr in batch:
                out[tr.name.rsplit("-", 1)[0]] += tr.total_run_time.total_seconds()
            if len(batch) < 200:
                break
            offset += 200
    return {k: round(v, 2) for k, v in sorted(out.items(), key=lambda kv: -kv[1])}


def child_pipeline(spec: dict) -> dict:
    """The real flows: enroll (timed apart), then audit on the inbox."""
    from flows.audit import audit
    from flows.enroll import enroll
    from flows.params import AuditParams, EnrollParams

    lake = Path(spec["lake"])
    t = time.perf_counter()
    enr = enroll(EnrollParams(source=spec["references"], lake=lake, verifier=spec["verifier"],
                              detector=spec["detector"]))
    enroll_s = time.perf_counter() - t
    since = time.time()
    t = time.perf_counter()
    res = audit(AuditParams(inbox=spec["inbox"], manifest=spec["manifest"], lake=lake, verifier=spec["verifier"],
                            detector=spec["detector"], dpi=spec["dpi"]))
    wall = time.perf_counter() - t
    try:
        tasks = _task_seconds(since)
    except Exception as e:  # the breakdown is a bonus; the timing stands without it
        tasks = {"error": f"{type(e).__name__}: {e}"}
    return {"wall_s": round(wall, 2), "enroll_s": round(enroll_s, 2), "references": enr["references"],
            "documents": res["ingest"]["ingested"], "pages": res["ingest"]["pages"], "claims": res["claims"],
            "signatures": res["signatures_found"], "embedded": res["embedded"], "decisions": res["decisions"],
            "failed": len(res["failed"]), "task_seconds": tasks, **_peak_mb()}


class _Clock:
    """Thread-safe per-stage seconds (thread-seconds when stages run on several threads)."""

    def __init__(self) -> None:
        self.s: dict[str, float] = defaultdict(float)
        self._lock = threading.Lock()

    def add(self, stage: str, t0: float) -> float:
        now = time.perf_counter()
        with self._lock:
            self.s[stage] += now - t0
        return now


def _truth_boxes(truth: dict, page: int, shape: tuple[int, int]) -> list[tuple[float, float, float, float]]:
    h, w = shape
    p = truth["pages"][page - 1]
    sx, sy = w / p["width"], h / p["height"]
    return [(s["box"][0] * sx, s["box"][1] * sy, s["box"][2] * sx, s["box"][3] * sy) for s in p["signatures"]]


def _references(verifier: Any, root: Path) -> dict[str, Any]:
    """Enrolled writers from the reference images, as the enroll and audit tasks build them:
    {signer: (WriterModel, inconclusive band)}."""
    from sigpipe import audit as audit_lib
    from sigpipe.clean import load_image

    out = {}
    for d in sorted(root.iterdir()):
        emb = verifier.embed_clean(verifier.clean([load_image(p) for p in sorted(d.glob("*.png"))]))
        out[d.name] = audit_lib.writer_model(verifier.card.data, d.name, emb)
    return out


def child_library(spec: dict) -> dict:
    """The flow's core sigpipe/storage calls, without Prefect: per document through every stage (a subset of the
    flow's work, see the module docstring)."""
    import numpy as np

    import storage
    from sigpipe import audit as audit_lib
    from sigpipe import pdf
    from sigpipe.clean import remove_rules
    from sigpipe.detect import Box, crop, load_detector
    from sigpipe.verifier.infer import Verifier

    lake = Path(spec["lake"])
    det = load_detector(spec["detector"])
    ver = Verifier.load(spec["verifier"])
    writers = _references(ver, Path(spec["references"]))
    det_lock, ver_lock = threading.Lock(), threading.Lock()
    claims_by_doc: dict[str, list] = defaultdict(list)
    with open(spec["manifest"]) as f:
        for r in csv.DictReader(f):
            claims_by_doc[r["document"]].append(audit_lib.Claim(r["signer_id"], int(r["page"]) if r["page"] else None))
    clock = _Clock()
    counts: dict[str, int] = defaultdict(int)
    inbox = Path(spec["inbox"])

    def one(name: str) -> None:
        path = inbox / name
        doc_id = pdf.sha256_file(path)
        t = time.perf_counter()
        info, own = pdf.inspect_pages(path, dpi=spec["dpi"], sha256=doc_id)
        blobs, small = [], []
        # as tasks/ingest.py and tasks/detect.py: a scan's own JPEG stored as it is (poppler renders anything
        # else), decoded at reduced size for the detector, whole only where there is a signature to crop
        for pg in pdf.iter_page_blobs(path, dpi=spec["dpi"], info=info, own=own):
            t = clock.add("render", t)
            storage.write_blob(lake, f"blobs/pages/{doc_id}/p{pg.page:05d}.jpg", pg.data)
            t = clock.add("write", t)
            blobs.append(pg)
            small.append(pdf.decode_page(pg.data, reduce=pdf.reduction_for(pg.height, pg.width, det.decode_side)))
            t = clock.add("decode", t)
        shapes = [(b.height, b.width) for b in blobs]
        with det_lock:
            found = det.detect(small, shapes=shapes)
        t = clock.add("detect", t)
        if spec["crops"] == "truth":
            found = [[Box.from_pixels(b, 1.0, sh) for b in _truth_boxes(spec["truth"][name], i + 1, sh)]
                     for i, sh in enumerate(shapes)]
        crops, sig_pages = [], []
        for i, (blob, boxes) in enumerate(zip(blobs, found, strict=True)):
            im = pdf.decode_page(blob.data) if boxes else None
            t = clock.add("decode", t)
            for k, b in enumerate(boxes):
                c = crop(im, b, 0.04)
                storage.write_blob(lake, f"blobs/crops/{doc_id}/p{i + 1:05d}-{k:02d}.jpg", pdf.encode_page(c))
                crops.append(c)
                sig_pages.append(i + 1)
        t = clock.add("write", t)
        # as tasks/verify.py: printed rules erased, then the card's cleaning
        cleaned = ver.clean([remove_rules(c) for c in crops]) if crops else np.zeros((0, *ver.size), np.uint8)
        t = clock.add("clean", t)
        with ver_lock:
            emb = ver.embed_clean(cleaned) if len(cleaned) else np.zeros((0, 1), np.float32)
        t = clock.add("embed", t)
        verdicts = audit_lib.audit_document(claims_by_doc.get(name, []), sig_pages, emb, writers)
        t = clock.add("verify", t)
        run = "bench-library"
        storage.write_part(lake, "pages", run, doc_id, [
            {"page_id": f"{doc_id}:{i + 1}", "doc_id": doc_id, "page": i + 1, "width": b.width,
             "height": b.height, "dpi": spec["dpi"], "image_path": f"blobs/pages/{doc_id}/p{i + 1:05d}.jpg",
             "run_id": run, "created_at": _now()} for i, b in enumerate(blobs)])
        if verdicts:
            storage.write_part(lake, "verdicts", run, doc_id, [
                {"verdict_id": f"{doc_id}:{n}", "doc_id": doc_id, "document": name, "page": None, "sig_id": None,
                 "file_name": name, "claimed_signer": v.claim.signer_id, "score": v.score, "threshold": v.threshold,
                 "threshold_kind": v.threshold_kind, "decision": v.decision, "best_ref_id": None, "n_references": 6,
                 "verifier_name": ver.card.name, "verifier_version": ver.card.version, "detector_name": det.card.name,
                 "detector_version": det.card.version, "evidence_path": None, "run_id": run, "created_at": _now()}
                for n, v in enumerate(verdicts)])
        clock.add("write", t)
        counts["pages"] += len(blobs)
        counts["signatures"] += len(crops)
        counts["claims"] += len(verdicts)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(spec["workers"]) as ex:
        list(ex.map(one, spec["documents"]))
    wall = time.perf_counter() - t0
    return {"wall_s": round(wall, 2), **counts, "stage_thread_s": {k: round(v, 2) for k, v in clock.s.items()},
            **_peak_mb()}


def _now():
    from datetime import UTC, datetime

    return datetime.now(UTC)


def child_naive(spec: dict) -> dict:
    """Library defaults, composed the obvious way."""
    import numpy as np
    import torch
    from pdf2image import convert_from_path
    from ultralytics import YOLO

    from sigpipe.clean import clean
    from sigpipe.verifier.infer import Verifier, to_input
    from sigpipe.weights import load_card

    det_card = load_card(spec["detector"])
    model = YOLO(str(det_card.weights_path))
    ver = Verifier.load(spec["verifier"])
    kw = ver.clean_kwargs
    refs: dict[str, list] = {}
    for d in sorted(Path(spec["references"]).iterdir()):
        refs[d.name] = [ver.embed_images([str(p)])[0] for p in sorted(d.glob("*.png"))]
    claims: dict[str, list] = defaultdict(list)
    with open(spec["manifest"]) as f:
        for r in csv.DictReader(f):
            claims[r["document"]].append(r["signer_id"])
    clock = _Clock()
    counts: dict[str, int] = defaultdict(int)
    t0 = time.perf_counter()
    for name in spec["documents"]:
        t = time.perf_counter()
        images = convert_from_path(Path(spec["inbox"]) / name)
        t = clock.add("render", t)
        for i, im in enumerate(images):
            res = model.predict(im, verbose=False)
            t = clock.add("detect", t)
            boxes = res[0].boxes.xyxy.cpu().numpy().tolist()
            if spec["crops"] == "truth":
                boxes = _truth_boxes(spec["truth"][name], i + 1, (im.height, im.width))
            for b in boxes:
                c = np.asarray(im.crop(tuple(int(v) for v in b)).convert("L"))
                x = clean(c, kw["size"], kw["canvas"])
                t = clock.add("clean", t)
                with torch.inference_mode():
                    e = ver.model(to_input(x[None], ver.device)).float().cpu().numpy()[0]
                t = clock.add("embed", t)
                for signer in claims.get(name, []):
                    best = -1.0
                    for r in refs.get(signer, []):
                        best = max(best, float(np.dot(e, r)))
                    counts["pairs"] += len(refs.get(signer, []))
                t = clock.add("verify", t)
                counts["signatures"] += 1
            counts["pages"] += 1
    wall = time.perf_counter() - t0
    return {"wall_s": round(wall, 2), **counts, "stage_thread_s": {k: round(v, 2) for k, v in clock.s.items()},
            **_peak_mb()}


CHILDREN = {"pipeline": child_pipeline, "library": child_library, "naive": child_naive}


def _spawn(mode: str, spec: dict) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(spec, f)
    try:
        proc = subprocess.run([sys.executable, __file__, "--child", mode, f.name], capture_output=True, text=True,
                              cwd=ROOT)
    finally:
        os.unlink(f.name)
    if proc.returncode != 0:
        raise RuntimeError(f"{mode} child failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------------------- main


def bench(pages: int, args: argparse.Namespace) -> dict:
    ds = _dataset(args.data, pages, args.seed)
    base = {"detector": str(args.detector), "verifier": str(args.verifier), "dpi": 200, "workers": 2,
            "crops": args.crops, "inbox": ds["inbox"], "manifest": ds["manifest"], "references": ds["references"],
            "documents": ds["documents"], "truth": ds["truth"]}
    out: dict[str, Any] = {"pages": ds["pages"], "documents": len(ds["documents"]), "claims": ds["claims"]}
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        out["pipeline"] = _spawn("pipeline", {**base, "lake": f"{tmp}/lake-flow"})
        if not args.skip_library:
            out["library"] = _spawn("library", {**base, "lake": f"{tmp}/lake-lib"})
        naive_docs, n = [], 0
        for name in ds["documents"]:
            if n >= min(pages, args.naive_max_pages):
                break
            naive_docs.append(name)
            n += len(ds["truth"][name]["pages"])
        out["naive"] = _spawn("naive", {**base, "documents": naive_docs, "lake": f"{tmp}/lake-naive"})
    p, nv = out["pipeline"], out["naive"]
    out["pages_per_s"] = round(ds["pages"] / p["wall_s"], 2)
    out["naive_pages_per_s"] = round(nv["pages"] / nv["wall_s"], 2)
    out["naive_pages"] = nv["pages"]
    out["speedup"] = round(out["pages_per_s"] / out["naive_pages_per_s"], 2)
    out["peak_rss_mb"] = p["peak_rss_mb"]
    if "library" in out:
        out["library_pages_per_s"] = round(out["library"]["pages"] / out["library"]["wall_s"], 2)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pages", type=int, nargs="+", default=[10, 100, 1000])
    ap.add_argument("--detector", type=Path, default=DEFAULT_DETECTOR, help="detector model folder")
    ap.add_argument("--verifier", type=Path, default=DEFAULT_VERIFIER, help="verifier model folder")
    ap.add_argument("--crops", choices=["detector", "truth"], default="detector",
                    help="where library/naive take signature boxes from (see above)")
    ap.add_argument("--naive-max-pages", type=int, default=100, help="naive runs on at most this many pages")
    ap.add_argument("--skip-library", action="store_true", help="no per-stage library run")
    ap.add_argument("--data", type=Path, default=ROOT / ".state" / "bench" / "pipeline", help="synthetic sets")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--prefect-home", type=Path, default=None,
                    help="Prefect's state folder for the flow runs (default: a new empty one per benchmark, so the "
                         "figures do not depend on how many runs this machine's Prefect database already holds)")
    ap.add_argument("--child", nargs=2, metavar=("MODE", "SPEC"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        mode, spec = args.child
        print(json.dumps(CHILDREN[mode](json.loads(Path(spec).read_text()))))
        return
    for folder in (args.detector, args.verifier):
        if not (folder / "card.json").is_file():
            ap.error(f"{folder} is not a model folder (no card.json); pass --detector/--verifier")
    _dataset(args.data, max(args.pages), args.seed)  # the master set once, at the largest size
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-prefect-") as fresh:
        # the children inherit it: with a day of runs in the database (135 MB) the same 1,000 pages took 61.4 s
        # against 56.2 s from an empty one (one run each)
        os.environ["PREFECT_HOME"] = str(args.prefect_home or fresh)
        runs = [bench(n, args) for n in sorted(args.pages)]
    result = {"pages": [r["pages"] for r in runs], "pages_per_s": [r["pages_per_s"] for r in runs],
              "naive_pages_per_s": [r["naive_pages_per_s"] for r in runs], "speedup": [r["speedup"] for r in runs],
              "peak_rss_mb": max(r["peak_rss_mb"] for r in runs), "runs": runs, "detector": str(args.detector),
              "verifier": str(args.verifier), "crops": args.crops, "cpu_count": os.cpu_count(),
              "loadavg_before": [round(x, 2) for x in load], "loadavg_after": [round(x, 2) for x in os.getloadavg()],
              "measured": "pipeline = the real audit flow (Prefect); library = the core calls without Prefect; "
                          "naive = library defaults"}
    if args.json:
        print(json.dumps(result))
        return
    print(f"detector {args.detector}, verifier {args.verifier}, crops from {args.crops}; load before "
          f"{result['loadavg_before'][0]}, after {result['loadavg_after'][0]} on {os.cpu_count()} cores")
    print(f"{'pages':>6}{'flow p/s':>10}{'library p/s':>12}{'naive p/s':>10}{'speedup':>9}{'peak MB':>9}"
          f"{'sigs':>6}")
    for r in runs:
        print(f"{r['pages']:>6}{r['pages_per_s']:>10}{r.get('library_pages_per_s', '-'):>12}"
              f"{r['naive_pages_per_s']:>10}{r['speedup']:>9}{r['peak_rss_mb']:>9}{r['pipeline']['signatures']:>6}")
    for r in runs:
        print(f"\n{r['pages']} pages: flow audit {r['pipeline']['wall_s']} s (enroll {r['pipeline']['enroll_s']} s), "
              f"task seconds: {r['pipeline']['task_seconds']}")
        if "library" in r:
            print(f"  library {r['library']['wall_s']} s, stage thread-seconds {r['library']['stage_thread_s']}")
        print(f"  naive {r['naive']['wall_s']} s on {r['naive_pages']} pages, stage seconds "
              f"{r['naive']['stage_thread_s']}")


if __name__ == "__main__":
    main()
