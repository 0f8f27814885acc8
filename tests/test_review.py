"""The review flow and `sigpipe review`: findings recorded once, bad rows to failures, history kept, views answer.

The lake holds hand-written verdicts of two verifier versions (what the audit flow writes needs trained models and
is covered in test_flows_e2e); the review flow, its Parquet and DuckDB are the real ones.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from lake_helpers import files as _files
from lake_helpers import rows as _q
from pydantic import ValidationError
from typer.testing import CliRunner

import storage
from flows.cli import app
from flows.params import ReviewParams
from flows.review import review
from sigpipe.manifest import ManifestError

T0 = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)
DOC = "a" * 64


def _verdict(run: str, box: int | None, signer: str, decision: str, score: float | None, version: str,
             t: datetime) -> dict:
    page, sig = (1, f"{DOC}:1:{box}") if box is not None else (None, None)
    return {"verdict_id": f"{DOC}:{page or 0}:{box if box is not None else '-'}:{signer}", "doc_id": DOC,
            "document": "cheque.pdf", "file_name": "cheque.pdf", "page": page, "sig_id": sig, "claimed_signer": signer,
            "score": score, "threshold": 0.5 if score is not None else None, "threshold_kind": "writer",
            "decision": decision, "best_ref_id": None, "n_references": 6, "verifier_name": "ver",
            "verifier_version": version, "detector_name": "det", "detector_version": "1", "evidence_path": None,
            "run_id": run, "created_at": t}


@pytest.fixture()
def lake(tmp_path):
    lake = tmp_path / "lake"
    storage.write_part(lake, "verdicts", "audit-1", "c", [
        _verdict("audit-1", 0, "S1", "genuine", 0.9, "1", T0),
        _verdict("audit-1", 1, "S2", "forgery", 0.2, "1", T0),
        _verdict("audit-1", 2, "S3", "inconclusive", 0.48, "1", T0),
        _verdict("audit-1", None, "S4", "no_signature", None, "1", T0)])
    # the forgery's claim audited again the next night by verifier version 2, which lets it through
    storage.write_part(lake, "verdicts", "audit-2", "c", [
        _verdict("audit-2", 1, "S2", "genuine", 0.55, "2", T0 + timedelta(days=1))])
    return lake


def test_findings_are_recorded_once_and_scored_against_every_verdict(prefect_harness, lake, tmp_path):
    queue = _q(lake, "SELECT verdict_id, decision FROM review_queue")
    # each claim's latest verdict: version 2 passed the S2 claim, so it waits no longer
    assert queue == [{"verdict_id": f"{DOC}:1:2:S3", "decision": "inconclusive"},
                     {"verdict_id": f"{DOC}:0:-:S4", "decision": "no_signature"}]
    f = tmp_path / "reviewed.csv"
    f.write_text("verdict_id,outcome,reviewer,note\n"
                 f"{DOC}:1:1:S2,forgery,ann,pen lifts where S2 never lifts\n"
                 f"{DOC}:1:2:S3,genuine,ann,\n"
                 f"{DOC}:0:-:S4,not_signed,,unsigned cheque\n"
                 f"{DOC}:9:9:S2,forgery,ann,\n"      # no such claim in the lake
                 f"{DOC}:1:0:S1,maybe,ann,\n")       # not an outcome
    res = review(ReviewParams(file=f, lake=lake, reviewer="desk"))
    assert (res["recorded"], res["already_recorded"], res["outcomes"]) == (
        3, 0, {"forgery": 1, "genuine": 1, "not_signed": 1})
    assert sorted((x["path"].rsplit(":", 1)[1], x["reason"].split(": ", 1)[1]) for x in res["failed"]) == [
        ("5", "no verdict with this verdict_id in the lake"),
        ("6", "outcome 'maybe' is not one of genuine, forgery, not_signed, unclear")]
    fails = _q(lake, "SELECT path, flow, stage FROM failures ORDER BY path")
    assert [(x["path"], x["flow"], x["stage"]) for x in fails] == [
        (f"{f}:5", "review", "verdict"), (f"{f}:6", "review", "manifest")]
    rows = _q(lake, "SELECT verdict_id, doc_id, sig_id, claimed_signer, outcome, reviewer, note, source, superseded "
                    "FROM reviews ORDER BY source")
    assert [(r["claimed_signer"], r["outcome"], r["reviewer"], r["sig_id"], r["superseded"]) for r in rows] == [
        ("S2", "forgery", "ann", f"{DOC}:1:1", False), ("S3", "genuine", "ann", f"{DOC}:1:2", False),
        ("S4", "not_signed", "desk", None, False)]
    assert rows[2]["note"] == "unsigned cheque" and rows[0]["source"] == f"{f}:2" and rows[0]["doc_id"] == DOC
    assert _q(lake, "SELECT count(*) AS n FROM review_queue") == [{"n": 0}]
    outcomes = _q(lake, "SELECT verifier_version, decision, reviewed, found_genuine, found_forgery, found_not_signed, "
                        "agreed, false_alarms FROM review_outcomes")
    # the S2 finding scores both versions' verdicts on that claim: version 1 caught it, version 2 missed it
    assert outcomes == [
        {"verifier_version": "1", "decision": "forgery", "reviewed": 1, "found_genuine": 0, "found_forgery": 1,
         "found_not_signed": 0, "agreed": 1, "false_alarms": 0},
        {"verifier_version": "1", "decision": "inconclusive", "reviewed": 1, "found_genuine": 1, "found_forgery": 0,
         "found_not_signed": 0, "agreed": 0, "false_alarms": 0},
        {"verifier_version": "1", "decision": "no_signature", "reviewed": 1, "found_genuine": 0, "found_forgery": 0,
         "found_not_signed": 1, "agreed": 1, "false_alarms": 0},
        {"verifier_version": "2", "decision": "genuine", "reviewed": 1, "found_genuine": 0, "found_forgery": 1,
         "found_not_signed": 0, "agreed": 0, "false_alarms": 0}]
    runs = _q(lake, "SELECT flow, status, n_inputs, n_processed, n_failed FROM runs")
    assert runs == [{"flow": "review", "status": "partial", "n_inputs": 5, "n_processed": 3, "n_failed": 2}]

    # the same file again: nothing new, not a byte written
    before = _files(lake)
    again = review(ReviewParams(file=f, lake=lake, reviewer="desk"))
    assert (again["recorded"], again["already_recorded"]) == (0, 3)
    assert _files(lake) == before

    # a second look at the S2 claim changes the finding: the new one wins, the old one stays as history
    f2 = tmp_path / "second-look.csv"
    f2.write_text(f"verdict_id,outcome,reviewer\n{DOC}:1:1:S2,genuine,bob\n")
    assert review(ReviewParams(file=f2, lake=lake))["recorded"] == 1
    # a finding dated before the others (a paper file typed in late) is history from the start
    f3 = tmp_path / "from-paper.csv"
    f3.write_text(f"verdict_id,outcome,reviewer,reviewed_at\n{DOC}:1:1:S2,forgery,carol,2026-11-03T09:30:00Z\n")
    assert review(ReviewParams(file=f3, lake=lake))["recorded"] == 1
    hist = _q(lake, f"SELECT outcome, reviewer, superseded FROM reviews WHERE verdict_id = '{DOC}:1:1:S2' "
                    "ORDER BY reviewed_at")
    assert hist == [{"outcome": "forgery", "reviewer": "carol", "superseded": True},
                    {"outcome": "forgery", "reviewer": "ann", "superseded": True},
                    {"outcome": "genuine", "reviewer": "bob", "superseded": False}]
    by = {(r["verifier_version"], r["decision"]): r for r in _q(lake, "SELECT * FROM review_outcomes")}
    assert (by[("1", "forgery")]["found_genuine"], by[("1", "forgery")]["false_alarms"]) == (1, 1)
    assert (by[("2", "genuine")]["found_genuine"], by[("2", "genuine")]["agreed"]) == (1, 1)


def test_an_unusable_review_file_is_refused_whole(prefect_harness, lake, tmp_path):
    f = tmp_path / "wrong.csv"
    f.write_text("verdict,result\nx,genuine\n")
    with pytest.raises(ValidationError, match="missing column"):  # refused with the parameters, before a run
        ReviewParams(file=f, lake=lake)
    # a file that went bad after its parameters were checked: the flow refuses it whole too
    with pytest.raises(ManifestError, match="missing column"):
        review(ReviewParams.model_construct(file=f, lake=lake, reviewer=None))
    assert not (lake / "reviews").exists() and not (lake / "runs").exists()


def test_a_review_for_a_lake_that_does_not_exist_is_refused_and_creates_none(lake, tmp_path):
    f = tmp_path / "reviewed.csv"
    f.write_text(f"verdict_id,outcome\n{DOC}:1:2:S3,forgery\n")
    res = CliRunner().invoke(app, ["review", str(f), "--lake", str(tmp_path / "lake-typo")])
    assert res.exit_code == 2 and "does not exist" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "lake-typo").exists()


def test_sigpipe_review_command(prefect_harness, lake, tmp_path):
    runner = CliRunner()
    f = tmp_path / "reviewed.csv"
    f.write_text(f"verdict_id,outcome\n{DOC}:1:2:S3,forgery\n")
    res = runner.invoke(app, ["review", str(f), "--lake", str(lake), "--reviewer", "carol", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output[res.output.index("{"):])
    assert (out["recorded"], out["outcomes"], out["failed"]) == (1, {"forgery": 1}, [])
    assert _q(lake, "SELECT reviewer, outcome FROM reviews") == [{"reviewer": "carol", "outcome": "forgery"}]
    res = runner.invoke(app, ["review", str(f), "--lake", str(lake), "--reviewer", "carol"])
    assert res.exit_code == 0 and "0 findings recorded" in res.output and "1 already recorded" in res.output
    assert "review outcomes" in res.output
    (tmp_path / "empty.csv").write_text("verdict_id,outcome\n")  # the demo's rerun: nothing waits for review
    res = runner.invoke(app, ["review", str(tmp_path / "empty.csv"), "--lake", str(lake), "--json"])
    assert res.exit_code == 0 and json.loads(res.output[res.output.index("{"):])["recorded"] == 0
    (tmp_path / "bad.csv").write_text("verdict,outcome\n")
    res = runner.invoke(app, ["review", str(tmp_path / "bad.csv"), "--lake", str(lake)])
    assert res.exit_code == 2 and "missing column" in res.output and "Traceback" not in res.output


def test_the_demo_reviewer_records_what_the_synthetic_truth_says():
    from flows.cli import demo_findings

    truth = [{"document": "a.pdf", "page": "1", "claimed_signer_id": "S1", "genuine": "true"},
             {"document": "a.pdf", "page": "2", "claimed_signer_id": "S1", "genuine": "false"},
             {"document": "b.pdf", "page": "1", "claimed_signer_id": "S2", "genuine": "false"}]
    queue = [{"verdict_id": "v1", "document": "a.pdf", "page": 1, "claimed_signer": "S1"},
             {"verdict_id": "v2", "document": "a.pdf", "page": 2, "claimed_signer": "S1"},
             {"verdict_id": "v3", "document": "b.pdf", "page": None, "claimed_signer": "S2"},  # a claim not found
             {"verdict_id": "v4", "document": "b.pdf", "page": None, "claimed_signer": "S1"}]  # nobody signed for S1
    assert demo_findings(truth, queue) == [{"verdict_id": "v1", "outcome": "genuine"},
                                           {"verdict_id": "v2", "outcome": "forgery"},
                                           {"verdict_id": "v3", "outcome": "forgery"},
                                           {"verdict_id": "v4", "outcome": "not_signed"}]
