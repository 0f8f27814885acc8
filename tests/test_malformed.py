"""Bad input at volume (sigpipe.synth.malformed): the batch finishes, every bad file lands in ``failures`` with a
clear reason, every good file is processed, and memory stays bounded.

The flows run as real ``sigpipe`` processes (ingest, detect, audit, enroll) against the session's Prefect
server; each one's peak resident memory (its own and its children's, poppler included) is measured with
``getrusage(RUSAGE_CHILDREN)`` in a small wrapper process.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from lake_helpers import rows as _q

from sigpipe.synth.malformed import generate_malformed

ROOT = Path(__file__).resolve().parents[1]
DPI = 100  # the good documents are drawn at 100 dpi (small files); the flows render at their default 200 dpi
PEAK_RSS_LIMIT_MB = 3 * 1024  # generous: a 20,000 px page rendered by mistake would be 400 MB per copy

# Runs ARGV[2:] and writes its exit code and the peak RSS of it and its descendants (MB) to ARGV[1].
_MEASURE = ("import json, resource, subprocess, sys; p = subprocess.run(sys.argv[2:]); "
            "ru = resource.getrusage(resource.RUSAGE_CHILDREN); "
            "open(sys.argv[1], 'w').write(json.dumps({'rc': p.returncode, 'peak_rss_mb': ru.ru_maxrss / 1024})); "
            "sys.exit(p.returncode)")


def _run(tmp_path: Path, name: str, *args: str) -> tuple[dict, float]:
    """``sigpipe ARGS --json`` in a measured child process -> (summary, peak RSS in MB)."""
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value()), "OMP_NUM_THREADS": "1"}
    stats = tmp_path / f"{name}.rss.json"
    proc = subprocess.run([sys.executable, "-c", _MEASURE, str(stats), sys.executable, "-m", "flows.cli", *args,
                           "--json"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout), json.loads(stats.read_text())["peak_rss_mb"]


def _clear(reason: str) -> bool:
    """One line that says what is wrong, not a traceback or a repr."""
    return bool(reason.strip()) and "Traceback" not in reason and "\n" not in reason and len(reason) < 400


@pytest.fixture(scope="module")
def bad_set(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("malformed") / "set"
    return out, generate_malformed(out, seed=0, good_documents=4, signers=3, dpi=DPI, references_per_signer=3)


def _tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and not p.is_symlink() and p.name != "expected.json"}


def test_generator_is_deterministic_and_small(bad_set, tmp_path):
    out, summary = bad_set
    again = generate_malformed(tmp_path / "again", seed=0, good_documents=4, signers=3, dpi=DPI,
                               references_per_signer=3)
    assert _tree(out) == _tree(tmp_path / "again")
    assert again["files"] == summary["files"]
    # nothing big was written: the huge page and the bomb are headers, not pixels
    assert max(p.stat().st_size for p in out.rglob("*") if p.is_file()) < 2_000_000
    kinds = {f["kind"] for f in summary["files"]}
    for k in ("truncated", "large-page", "bitflip-structure", "bitflip-stream", "encrypted", "zero-pages", "text",
              "empty", "huge-page-blank", "huge-page-image", "image-1bit", "image-palette", "image-rgba",
              "image-grey16", "image-cmyk", "image-bomb"):
        assert k in kinds
    with pytest.raises(FileExistsError):
        generate_malformed(out, seed=0)


@pytest.mark.slow
def test_malformed_inputs_through_ingest_detect_audit_and_enroll(prefect_harness, bad_set, stand_in_models,
                                                                tmp_path):
    out, expected = bad_set
    det, ver = stand_in_models
    lake = tmp_path / "lake"
    inbox = out / "inbox"
    pdfs = [f for f in expected["files"] if f["flow"] == "ingest"]
    images = [f for f in expected["files"] if f["flow"] == "enroll"]
    peaks = {}

    # ingest: the batch finishes; every bad PDF is a failure with its reason, every good one a document
    ing, peaks["ingest"] = _run(tmp_path, "ingest", "ingest", str(inbox), "--lake", str(lake))
    failed = {Path(f["path"]).name: f["reason"] for f in ing["failed"]}
    for f in pdfs:
        name = Path(f["name"]).name
        if f["expect"] == "fail":
            assert name in failed, f"{name} ({f['kind']}) was not refused"
            assert f["reason"] in failed[name] and _clear(failed[name]), (name, failed[name])
        elif f["expect"] == "processed":
            assert name not in failed, (name, failed.get(name))
    assert "outside the inbox" in failed["link-out.pdf"]
    docs = {d["file_name"]: d for d in _q(lake, "SELECT * FROM documents")}
    assert set(expected["good_documents"]) <= set(docs)
    for f in pdfs:  # nothing lost: each file is a document or a failure, never both
        name = Path(f["name"]).name
        assert (name in docs) != (name in failed), name
    rows = _q(lake, "SELECT path, flow, stage, reason FROM failures")
    by_file = {Path(r["path"]).name: r for r in rows}
    assert set(by_file) == set(failed)
    assert all(r["flow"] == "ingest" and r["stage"] in ("read", "render") for r in rows)
    n_pages = sum(d["n_pages"] for d in docs.values())
    assert len(_q(lake, "SELECT page_id FROM pages")) == n_pages

    # detect: every ingested page is looked at; the bad files stay failures and are not retried
    dt, peaks["detect"] = _run(tmp_path, "detect", "detect", str(inbox), "--lake", str(lake),
                               "--detector", str(det))
    assert dt["failed"] == [] and dt["detected"] == len(docs)
    assert {Path(s["path"]).name for s in dt["ingest"]["skipped"] if "known bad" in s["why"]} == {
        Path(f["name"]).name for f in pdfs if f["expect"] == "fail"}
    assert len(_q(lake, "SELECT page_id FROM page_signatures")) == n_pages

    # enroll: odd image modes are references; broken images are failures with their reasons
    enr, peaks["enroll"] = _run(tmp_path, "enroll", "enroll", str(out / "references"), "--lake", str(lake),
                                "--verifier", str(ver), "--detector", str(det))
    enr_failed = {Path(f["path"]).name: f["reason"] for f in enr["failed"]}
    refs = _q(lake, 'SELECT signer_id, source FROM "references"')
    enrolled = {Path(r["source"]).name for r in refs}
    for f in images:
        name = Path(f["name"]).name
        if f["expect"] == "fail":
            reason = enr_failed.get(name, "")
            assert f["reason"] in reason and _clear(reason), (name, reason)
        else:
            assert name in enrolled, (name, enr_failed.get(name))
    good_refs = {r["signer_id"] for r in refs} - {"ODD"}
    assert good_refs == {f"S{i:04d}" for i in range(1, 4)}

    # audit: claims on bad PDFs are dropped (their files are failures), escaping paths refused, the rest decided
    aud, peaks["audit"] = _run(tmp_path, "audit", "audit", str(inbox), "--manifest", str(out / "manifest.csv"),
                               "--lake", str(lake), "--detector", str(det), "--verifier", str(ver))
    refused = [f for f in aud["failed"] if "escapes the inbox" in f["reason"]]
    assert len(refused) == len(expected["escaping_rows"])
    verdicts = _q(lake, "SELECT document, claimed_signer, decision FROM verdicts")
    decided_docs = {v["document"] for v in verdicts}
    assert decided_docs <= set(docs) and set(expected["good_documents"]) & decided_docs
    assert not decided_docs & {Path(f["name"]).name for f in pdfs if f["expect"] == "fail"}
    assert aud["decided"] == len(verdicts)

    print("peak RSS MB", {k: round(v) for k, v in peaks.items()})
    assert max(peaks.values()) < PEAK_RSS_LIMIT_MB, peaks
