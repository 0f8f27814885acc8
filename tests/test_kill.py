"""Reliability: a run killed with SIGKILL at any point and rerun ends with every document processed exactly once;
a rerun adds nothing; manifest paths and inbox links that escape the inbox are refused; the lake is owner-only;
weights load only when their sha256 matches the card.

The killed runs are real ``sigpipe`` processes (``python -m flows.cli ...`` or ``python -c``) against the test
session's Prefect server; each is killed (its whole process group, poppler included) once the lake shows a
given number of committed parts, or at a seeded random moment after it started writing.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from lake_helpers import child_env

import storage

ROOT = Path(__file__).resolve().parents[1]
DPI = 100  # small pages: the point is the bookkeeping, not the pixels


# ------------------------------------------------------------------------------------------------- helpers


def _parts(lake: Path, table: str) -> int:
    return sum(1 for _ in (lake / table).glob("run_id=*/part-*.parquet"))


def _rows(lake: Path, table: str) -> int:
    """Rows in the table's part files now (a commit marker part holds a chunk's documents)."""
    import pyarrow.parquet as pq

    n = 0
    for p in (lake / table).glob("run_id=*/part-*.parquet"):
        try:
            n += pq.read_metadata(p).num_rows
        except OSError:  # compacted away meanwhile
            pass
    return n


def _start(args: list[str], log: Path) -> subprocess.Popen:
    """Start ``python ARGS`` in its own process group; stdout to ``log``, stderr to ``log.err``."""
    with open(log, "w") as out, open(log.with_suffix(".err"), "w") as err:
        return subprocess.Popen([sys.executable, *args], cwd=ROOT, env=child_env(), stdout=out, stderr=err,
                                start_new_session=True)


def _kill_when(proc: subprocess.Popen, ready: Callable[[], bool], delay: float = 0.0, timeout: float = 300) -> bool:
    """SIGKILL the process group ``delay`` s after ``ready()`` turns true; False when it finished first."""
    end = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None:
            return False
        if time.monotonic() > end:
            raise TimeoutError("the run never reached its kill point")
        time.sleep(0.01)
    time.sleep(delay)
    if proc.poll() is not None:
        return False
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    return True


def _finish(proc: subprocess.Popen, log: Path, timeout: float = 600) -> str:
    """Wait for a run that must succeed; its stdout."""
    rc = proc.wait(timeout=timeout)
    assert rc == 0, log.with_suffix(".err").read_text()[-4000:]
    return log.read_text()


def _cli(*args: str) -> list[str]:
    return ["-m", "flows.cli", *args]


def _q(lake: Path, sql: str) -> list[dict]:
    con = storage.connect(lake)
    try:
        return storage.query(con, sql).to_pylist()
    finally:
        con.close()


def _one(lake: Path, sql: str):
    return next(iter(_q(lake, sql)[0].values()))


def _lake_files(lake: Path) -> dict[str, str]:
    return {str(p.relative_to(lake)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(lake.rglob("*")) if p.is_file()}


# ------------------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def models(stand_in_models) -> tuple[Path, Path]:
    return stand_in_models


@pytest.fixture(scope="module")
def batch(tmp_path_factory) -> dict:
    """14 synthetic scanned documents (1-3 pages each) and their claims manifest."""
    from sigpipe.synth import generate

    out = tmp_path_factory.mktemp("batch")
    summary = generate(out, signers=3, documents=14, seed=21, dpi=DPI, references_per_signer=3,
                       genuine_per_signer=0, forged_per_signer=0)
    truth = {}
    for t in sorted((out / "truth").glob("*.json")):
        d = json.loads(t.read_text())
        truth[d["document"]] = len(d["pages"])
    return {**summary, "root": out, "inbox": out / "inbox", "manifest": out / "manifest.csv", "doc_pages": truth}


def _assert_exactly_once(lake: Path, batch: dict, detector: str | None = None) -> None:
    """Every document of the batch committed once, with all its pages once, and the views agree."""
    n_docs, n_pages = len(batch["doc_pages"]), sum(batch["doc_pages"].values())
    docs = _q(lake, "SELECT file_name, n_pages FROM documents ORDER BY 1")
    assert [(d["file_name"], d["n_pages"]) for d in docs] == sorted(batch["doc_pages"].items())
    raw_docs = storage.read_table(lake, "documents").column("doc_id").to_pylist()
    assert len(raw_docs) == len(set(raw_docs)) == n_docs  # no document was committed by two runs
    pages = _q(lake, "SELECT count(*) AS n, count(DISTINCT page_id) AS k, count(DISTINCT doc_id) AS d FROM pages")[0]
    assert pages == {"n": n_pages, "k": n_pages, "d": n_docs}
    # pages 1..n of every document, each with its image in the lake
    rows = _q(lake, "SELECT d.file_name, list(p.page ORDER BY p.page) AS pages, list(p.image_path) AS images "
                    "FROM documents d JOIN pages p USING (doc_id) GROUP BY 1 ORDER BY 1")
    for r in rows:
        assert r["pages"] == list(range(1, batch["doc_pages"][r["file_name"]] + 1))
        assert all((lake / im).is_file() for im in r["images"])
    summary = _q(lake, "SELECT count(*) AS n, sum(pages_stored) AS p FROM document_summary")[0]
    assert summary == {"n": n_docs, "p": n_pages}
    if detector:
        det = _q(lake, "SELECT count(*) AS n, count(DISTINCT page_id) AS k FROM detections "
                       f"WHERE detector_name = '{detector}'")[0]
        assert det == {"n": n_pages, "k": n_pages}
        raw = storage.read_table(lake, "detections").to_pylist()
        keys = [(r["page_id"], r["detector_name"], r["detector_version"]) for r in raw]
        assert len(keys) == len(set(keys))  # no page detected twice
        assert _one(lake, "SELECT count(*) FROM page_signatures") == n_pages
        assert _one(lake, "SELECT count(*) FROM unsigned_pages") == n_pages - _one(
            lake, "SELECT count(DISTINCT page_id) FROM page_signatures WHERE n_signatures > 0")
        sigs = _q(lake, "SELECT count(*) AS n, count(DISTINCT sig_id) AS k FROM signatures")[0]
        assert sigs["n"] == sigs["k"]


# ----------------------------------------------------------------------------------------------- the tests


@pytest.mark.slow
def test_ingest_killed_at_several_points_then_rerun_is_exactly_once(prefect_harness, batch, tmp_path):
    # Each kill point gets a lake of its own: a run commits its documents a chunk at a time (FILES_PER_TASK), so on
    # a shared lake one run can commit nearly the whole batch and leave the next kill points nothing to interrupt.
    rng = random.Random(7)
    # (label, ready(pages parts written so far, documents committed so far), delay); documents commit a chunk
    # of files at a time
    kill_points: list[tuple[str, Callable[[int, int], bool], float]] = [
        ("first pages part", lambda pages, docs: pages >= 1, 0.0),
        ("first documents committed", lambda pages, docs: docs >= 1, 0.0),
        ("more than one chunk's documents committed", lambda pages, docs: docs > 8, 0.0),
        ("random moment after writing began", lambda pages, docs: pages >= 1, rng.uniform(0.0, 1.0)),
        ("random moment", lambda pages, docs: True, rng.uniform(2.0, 6.0)),
    ]
    killed = []
    for i, (label, ready, delay) in enumerate(kill_points):
        lake = tmp_path / f"lake{i}"
        args = _cli("ingest", str(batch["inbox"]), "--lake", str(lake), "--dpi", str(DPI), "--json")
        proc = _start(args, tmp_path / f"kill{i}.log")
        if _kill_when(proc, lambda r=ready, lk=lake: r(_parts(lk, "pages"), _rows(lk, "documents")), delay):
            killed.append(f"{label}: {_parts(lake, 'pages')} pages parts / {_rows(lake, 'documents')} documents")
        else:
            _finish(proc, tmp_path / f"kill{i}.log")
        # the rerun completes the batch: every document once, whatever the killed run left behind
        _finish(_start(args, tmp_path / f"rerun{i}.log"), tmp_path / f"rerun{i}.log")
        _assert_exactly_once(lake, batch)
        assert _one(lake, "SELECT count(*) FROM failures") == 0
    print("killed at", killed)
    assert len(killed) >= 3, f"the runs finished before their kill points: only {killed}"
    # one more run on the last lake: nothing new
    before = _lake_files(lake)
    summary = json.loads(_finish(_start(args, tmp_path / "again.log"), tmp_path / "again.log"))
    assert summary["ingested"] == 0 and len(summary["skipped"]) == len(batch["doc_pages"])
    assert _lake_files(lake) == before


@pytest.mark.slow
def test_detect_and_audit_killed_then_rerun_are_exactly_once(prefect_harness, batch, models, tmp_path):
    det, ver = models
    lake, inbox = tmp_path / "lake", batch["inbox"]
    detect = _cli("detect", str(inbox), "--lake", str(lake), "--dpi", str(DPI), "--detector", str(det), "--json")
    killed = []
    for i, n in enumerate([1, 4]):  # kill once this run has committed n pages' detections (a chunk at a time)
        base = _rows(lake, "detections")
        proc = _start(detect, tmp_path / f"det{i}.log")
        if _kill_when(proc, lambda b=base, n=n: _rows(lake, "detections") - b >= n):
            killed.append(f"detect after {_rows(lake, 'detections') - base} pages")
    _finish(_start(detect, tmp_path / "det.log"), tmp_path / "det.log")
    assert killed, "every detect run finished before its kill point"
    _assert_exactly_once(lake, batch, detector="test-det")

    # audit with one document per task, so verdict parts (a task's chunk) land one by one and a kill falls
    # between them
    code = ("import sys; from flows.audit import audit; from flows.params import AuditParams; "
            "print(audit(AuditParams(inbox=sys.argv[1], manifest=sys.argv[2], lake=sys.argv[3], dpi=int(sys.argv[4]), "
            "detector=sys.argv[5], verifier=sys.argv[6], audit_chunk=1))['decided'])")
    audit = ["-c", code, str(inbox), str(batch["manifest"]), str(lake), str(DPI), str(det), str(ver)]
    rng = random.Random(11)
    audit_killed = []
    for i, (n, delay) in enumerate([(1, 0.0), (3, 0.0), (0, rng.uniform(3.0, 7.0))]):
        base = _parts(lake, "verdicts")
        proc = _start(audit, tmp_path / f"aud{i}.log")
        if _kill_when(proc, lambda b=base, n=n: _parts(lake, "verdicts") - b >= n, delay):
            audit_killed.append(f"audit after {_parts(lake, 'verdicts') - base} documents' verdicts (+{delay:.1f} s)")
    print("killed at", killed, audit_killed)
    assert len(audit_killed) >= 2, audit_killed
    _finish(_start(audit, tmp_path / "aud.log"), tmp_path / "aud.log")
    claims = _claims(batch["manifest"])
    got = _q(lake, "SELECT verdict_id, document, claimed_signer, page, decision FROM verdicts")
    assert len({r["verdict_id"] for r in got}) == len(got)  # one verdict per key
    assert sorted((r["document"], r["claimed_signer"]) for r in got) == sorted((d, s) for d, s, _ in claims)
    raw = storage.read_table(lake, "verdicts").column("verdict_id").to_pylist()
    assert len(raw) == len(set(raw))  # no claim decided by two runs
    summary = _q(lake, "SELECT sum(claims) AS claims, sum(documents) AS docs FROM audit_summary")[0]
    assert summary["claims"] == len(claims)
    _assert_exactly_once(lake, batch, detector="test-det")

    # a rerun of the audit on the same inbox writes nothing at all
    before = _lake_files(lake)
    _finish(_start(audit, tmp_path / "aud-again.log"), tmp_path / "aud-again.log")
    assert _lake_files(lake) == before


def _claims(manifest: Path) -> list[tuple[str, str, str]]:
    import csv

    with open(manifest) as f:
        return sorted({(r["document"], r["signer_id"], r["page"]) for r in csv.DictReader(f)})


def test_escaping_manifest_paths_and_inbox_links_are_refused(prefect_harness, batch, models, tmp_path):
    from flows.audit import audit
    from flows.params import AuditParams

    det, ver = models
    root = tmp_path / "root"
    inbox = root / "inbox"
    inbox.mkdir(parents=True)
    first = sorted(batch["doc_pages"])[0]
    shutil.copy(batch["inbox"] / first, inbox / first)
    (root / "secret.pdf").write_bytes((batch["inbox"] / sorted(batch["doc_pages"])[1]).read_bytes())
    (inbox / "link-out.pdf").symlink_to(root / "secret.pdf")
    manifest = root / "manifest.csv"
    manifest.write_text("document,signer_id,page\n"
                        f"{first},S0001,\n"
                        "../secret.pdf,S0001,\n"
                        "/etc/passwd,S0001,\n"
                        "link-out.pdf,S0002,\n"
                        "sub/../../secret.pdf,S0003,\n")
    lake = tmp_path / "lake"
    res = audit(AuditParams(inbox=inbox, manifest=manifest, lake=lake, dpi=DPI, detector=det, verifier=ver))
    assert res["decided"] == 1
    rows = _q(lake, "SELECT path, stage, reason FROM failures ORDER BY path")
    refused = {r["path"].rsplit(":", 1)[-1]: r["reason"] for r in rows if r["stage"] == "manifest"}
    assert sorted(refused) == ["3 (../secret.pdf)", "4 (/etc/passwd)", "5 (link-out.pdf)", "6 (sub/../../secret.pdf)"]
    assert all("escapes the inbox" in r for r in refused.values())
    # the link in the inbox is not followed by ingest either: only the real inbox file is a document
    assert [d["file_name"] for d in _q(lake, "SELECT file_name FROM documents")] == [first]
    link = [r for r in rows if r["path"].endswith("link-out.pdf")]
    assert link and "outside the inbox" in link[0]["reason"]
    # a rerun adds no failure rows for the same refused paths
    before = _lake_files(lake)
    audit(AuditParams(inbox=inbox, manifest=manifest, lake=lake, dpi=DPI, detector=det, verifier=ver))
    assert _lake_files(lake) == before


def test_lake_is_owner_only(prefect_harness, batch, models, tmp_path):
    from flows.detect import detect
    from flows.params import DetectParams

    det, _ = models
    lake = tmp_path / "lake"
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for name in sorted(batch["doc_pages"])[:2]:
        shutil.copy(batch["inbox"] / name, inbox / name)
    (inbox / "bad.pdf").write_text("not a pdf")
    old = os.umask(0o022)  # a permissive umask must not leak into the lake
    try:
        detect(DetectParams(inbox=inbox, lake=lake, dpi=DPI, detector=det))
    finally:
        os.umask(old)
    paths = [lake, *lake.rglob("*")]
    assert any(p.suffix == ".parquet" for p in paths) and any(p.suffix == ".jpg" for p in paths)
    loose = {str(p.relative_to(lake)): oct(stat.S_IMODE(p.stat().st_mode)) for p in paths
             if stat.S_IMODE(p.stat().st_mode) != (0o700 if p.is_dir() else 0o600)}
    assert loose == {}


def test_weights_load_only_when_sha256_matches_the_card(prefect_harness, batch, models, tmp_path):
    from flows.detect import detect
    from flows.params import DetectParams
    from sigpipe.weights import WeightsError, load_card
    from tasks import models as loaded

    det, ver = models
    for src in (det, ver):
        bad = tmp_path / f"tampered-{src.name}"
        shutil.copytree(src, bad)
        card = load_card(bad, verify=False)
        with open(card.weights_path, "ab") as f:
            f.write(b"\0")  # one byte more: a different file
        with pytest.raises(WeightsError, match="does not match the card"):
            load_card(bad)
        with pytest.raises(WeightsError, match="does not match the card"):
            if src == det:
                with loaded.detector(bad):  # checked out of the pool: loaded (and checked) on first use
                    pass
            else:
                loaded.verifier(bad)
    # through a flow: refused before anything is detected
    bad_det = tmp_path / f"tampered-{det.name}"
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(batch["inbox"] / sorted(batch["doc_pages"])[0], inbox)
    lake = tmp_path / "lake"
    with pytest.raises(WeightsError, match="does not match the card"):
        detect(DetectParams(inbox=inbox, lake=lake, dpi=DPI, detector=bad_det))
    assert _parts(lake, "detections") == 0 and _parts(lake, "signatures") == 0
