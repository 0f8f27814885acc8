"""Beyond one machine: the same flows map their documents on a Dask cluster (``--dask ADDRESS``), and the lake
they write is the same as a thread-pool run's."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from prefect.task_runners import ThreadPoolTaskRunner

import storage
from flows.runners import subflow, task_runner, with_runner

ROOT = Path(__file__).resolve().parents[1]
DPI = 100

# Columns that differ between any two runs by design (run ids, wall-clock times); everything else must match.
_VOLATILE = {"run_id", "created_at", "ingested_at"}


def test_runner_selection():
    from flows.ingest import ingest

    assert isinstance(task_runner(None), ThreadPoolTaskRunner)
    assert with_runner(ingest, None) is ingest  # no address: the decorator's thread pool
    runner = with_runner(ingest, "tcp://127.0.0.1:8786").task_runner
    from prefect_dask import DaskTaskRunner

    assert isinstance(runner, DaskTaskRunner) and runner.address == "tcp://127.0.0.1:8786"
    assert isinstance(runner.duplicate(), type(runner))  # subflows keep the worker set-up
    assert subflow(ingest) is ingest  # outside a flow run: unchanged


def test_worker_setup_finds_the_real_storage_package_past_a_spill_folder(tmp_path):
    """A Dask worker's scratch folder, first on sys.path, holds a ``storage/`` spill directory; with an
    editable install that folder shadows the project's ``storage`` package unless the worker set-up runs."""
    scratch = tmp_path / "worker-scratch"
    (scratch / "storage").mkdir(parents=True)
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(scratch)!r})
        sys.path = [p for p in sys.path if p not in ("", {str(ROOT)!r})]  # as on a worker: no checkout on the path
        from flows.runners import worker_setup
        worker_setup()
        import storage, tasks.ingest
        print(storage.__file__, hasattr(storage, "write_part"))
    """)
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    path, ok = proc.stdout.split()
    assert Path(path) == ROOT / "storage" / "__init__.py" and ok == "True"


def _rows(lake: Path, table: str, key: list[str]) -> list[dict]:
    tbl = storage.read_table(lake, table)
    cols = [c for c in tbl.column_names if c not in _VOLATILE]
    return sorted((dict(zip(cols, r, strict=True)) for r in zip(*(tbl.column(c).to_pylist() for c in cols),
                                                                 strict=True)),
                  key=lambda r: [str(r[k]) for k in key])


def _blobs(lake: Path) -> dict[str, str]:
    return {str(p.relative_to(lake)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((lake / "blobs").rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_ingest_and_detect_on_a_dask_cluster_write_the_same_lake(prefect_harness, tmp_path):
    from distributed import Client, LocalCluster

    from flows.detect import detect
    from flows.ingest import ingest
    from flows.params import DetectParams, IngestParams
    from sigpipe.synth import generate
    from sigpipe.weights import write_card

    generate(tmp_path / "set", signers=3, documents=8, seed=5, dpi=DPI, references_per_signer=0,
             genuine_per_signer=0, forged_per_signer=0)
    inbox = tmp_path / "set" / "inbox"
    (inbox / "broken.pdf").write_bytes(b"%PDF-1.4\n broken")  # a failure row must come back from a worker too
    det = tmp_path / "det"
    det.mkdir()
    import torch
    from ultralytics import YOLO

    torch.manual_seed(0)
    YOLO("yolo11n.yaml").save(str(det / "detector.pt"))
    write_card(det, {"name": "test-det", "version": "0", "kind": "detector", "weights": "detector.pt",
                     "input": {"imgsz": 320}, "thresholds": {"conf": 0.25, "iou": 0.7}})

    threads, on_dask = tmp_path / "lake-threads", tmp_path / "lake-dask"
    local = ingest(IngestParams(inbox=inbox, lake=threads, dpi=DPI))
    detect(DetectParams(inbox=inbox, lake=threads, dpi=DPI, detector=det))

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        remote = with_runner(ingest, cluster.scheduler_address)(IngestParams(inbox=inbox, lake=on_dask, dpi=DPI))
        # the documents the ingest step of detect sees as new go to the cluster too (subflow on the same runner)
        first = sorted(inbox.glob("doc-*.pdf"))[0]
        (inbox / "late.pdf").write_bytes(first.read_bytes() + b"%late\n")
        res = with_runner(detect, cluster.scheduler_address)(DetectParams(inbox=inbox, lake=on_dask, dpi=DPI,
                                                                          detector=det))
        ran = client.run(lambda: sorted(m for m in ("tasks.ingest", "tasks.detect") if m in sys.modules))
        # the command line: `sigpipe ingest INBOX --dask ADDRESS`
        from prefect.settings import PREFECT_API_URL

        cli = subprocess.run([sys.executable, "-m", "flows.cli", "ingest", str(inbox), "--lake",
                              str(tmp_path / "lake-cli"), "--dpi", str(DPI), "--dask", cluster.scheduler_address,
                              "--json"], cwd=ROOT,
                             env={**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value())}, capture_output=True,
                             text=True, timeout=600)
        assert cli.returncode == 0, cli.stderr[-3000:]
        assert json.loads(cli.stdout)["ingested"] == 9
    # the work ran in the worker processes (each imported the task modules it ran), not in this one
    assert len(ran) == 2 and all(ran.values()), ran
    assert set().union(*ran.values()) == {"tasks.detect", "tasks.ingest"}
    assert res["ingest"]["ingested"] == 1 and res["detected"] == 9
    # the thread-pool lake gets the late document too, so both have seen the same inbox
    detect(DetectParams(inbox=inbox, lake=threads, dpi=DPI, detector=det))

    assert remote["ingested"] == local["ingested"] == 8 and remote["pages"] == local["pages"]
    assert [f["reason"] for f in remote["failed"]] == [f["reason"] for f in local["failed"]]
    for table, key in [("documents", ["doc_id"]), ("pages", ["page_id"]), ("detections", ["page_id"]),
                       ("signatures", ["sig_id"]), ("failures", ["path", "stage"])]:
        a, b = _rows(threads, table, key), _rows(on_dask, table, key)
        assert a == b, table
    assert _rows(threads, "documents", ["doc_id"])  # not trivially equal
    assert _blobs(threads) == _blobs(on_dask)  # page images byte for byte
    assert _rows(tmp_path / "lake-cli", "documents", ["doc_id"]) == _rows(threads, "documents", ["doc_id"])
