"""Withdrawing references (`sigpipe withdraw`) and replacing a signer's references (`sigpipe enroll --replace`),
through the CLI, the real flows and a lake, with the stand-in models (a detector that finds nothing, so an enrolled
signer's claim is ``no_signature`` and a signer with no references left is ``unknown_signer``)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from lake_helpers import files as _files
from lake_helpers import rows as _rows
from typer.testing import CliRunner

import storage
from flows.cli import app
from sigpipe.pdf import sha256_file

runner = CliRunner()


def _refs(root: Path, signer: str, ks: list[int]) -> Path:
    """``root/<signer>/<k>.png``: a zigzag stroke each (no straight rule the cleaning would erase), its shape set by
    the signer and ``k`` (distinct images)."""
    (root / signer).mkdir(parents=True, exist_ok=True)
    s = int(signer[-1])
    for k in ks:
        img = np.full((80, 200), 255, np.uint8)
        pts = np.array([(20 + 32 * i, 15 + (50 - 4 * k - 3 * s) * (i % 2)) for i in range(6)], np.int32)
        cv2.polylines(img, [pts], False, 0, 3)
        cv2.imwrite(str(root / signer / f"{k}.png"), img)
    return root


def _ok(args: list[str]) -> dict:
    res = runner.invoke(app, [*args, "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.output)


def _in_use(lake: Path) -> dict[str, list[str]]:
    got: dict[str, list[str]] = {}
    for r in _rows(lake, 'SELECT signer_id, ref_id FROM "references" ORDER BY signer_id, ref_id'):
        got.setdefault(r["signer_id"], []).append(r["ref_id"])
    return got


@pytest.fixture()
def enrolled(stand_in_models, tmp_path):
    det, ver = stand_in_models
    refs = _refs(_refs(tmp_path / "refs", "S0001", [0, 1, 2]), "S0002", [0, 1, 2])
    lake = tmp_path / "lake"
    assert _ok(["enroll", str(refs), "--lake", str(lake), "--verifier", str(ver)])["references"] == 6
    return {"lake": lake, "det": det, "ver": ver, "refs": refs}


def test_a_withdrawn_signer_is_unknown_to_the_audit_and_a_rerun_adds_nothing(prefect_harness, enrolled, make_pdf,
                                                                             tmp_path):
    lake = enrolled["lake"]
    s1 = _in_use(lake)["S0001"]
    res = _ok(["withdraw", "S0001", "--lake", str(lake), "--reason", "account closed", "--by", "ann"])
    assert (res["withdrawn"], res["signers"], res["already_withdrawn"]) == (3, 1, 0)
    assert res["references_left"] == {"S0001": 0} and res["failed"] == []
    assert list(_in_use(lake)) == ["S0002"]
    gone = _rows(lake, "SELECT signer_id, ref_id, reason, withdrawn_by FROM withdrawn_references ORDER BY ref_id")
    assert gone == [{"signer_id": "S0001", "ref_id": r, "reason": "account closed", "withdrawn_by": "ann"} for r in s1]
    assert len(_rows(lake, "SELECT * FROM _src_references")) == 6  # nothing deleted

    make_pdf("a.pdf", [(400, 500)], folder=tmp_path / "inbox")
    (tmp_path / "manifest.csv").write_text("document,signer_id\na.pdf,S0001\na.pdf,S0002\n")
    _ok(["audit", str(tmp_path / "inbox"), "--manifest", str(tmp_path / "manifest.csv"), "--lake", str(lake),
         "--detector", str(enrolled["det"]), "--verifier", str(enrolled["ver"])])
    assert {r["claimed_signer"]: r["decision"] for r in _rows(lake, "SELECT claimed_signer, decision FROM verdicts")} \
        == {"S0001": "unknown_signer", "S0002": "no_signature"}

    before = _files(lake)
    again = _ok(["withdraw", "S0001", "--lake", str(lake), "--reason", "account closed"])
    assert (again["withdrawn"], again["already_withdrawn"], again["failed"]) == (0, 3, [])
    assert _files(lake) == before
    runs = _rows(lake, "SELECT flow, n_processed FROM runs WHERE flow = 'withdraw'")
    assert runs == [{"flow": "withdraw", "n_processed": 3}]


def test_a_signer_or_reference_never_enrolled_is_a_failure_and_the_rest_goes_on(prefect_harness, enrolled):
    lake = enrolled["lake"]
    s2 = _in_use(lake)["S0002"]
    args = ["withdraw", "S0002", "S9999", "--lake", str(lake), "--reason", "wrong hand", "--ref", s2[0],
            "--ref", "f" * 64]
    res = _ok(args)
    assert res["withdrawn"] == 1 and res["references_left"] == {"S0002": 2, "S9999": 0}
    assert _in_use(lake)["S0002"] == s2[1:]
    assert sorted(f["reason"] for f in res["failed"]) == [
        "no reference was ever enrolled for signer S9999", f"reference {'f' * 64} is not enrolled for S0002, S9999"]
    fails = _rows(lake, "SELECT path, flow, stage FROM failures ORDER BY path")
    assert fails == [{"path": f"reference {'f' * 64}", "flow": "withdraw", "stage": "lookup"},
                     {"path": "signer S9999", "flow": "withdraw", "stage": "lookup"}]
    before = _files(lake)
    assert _ok(args)["withdrawn"] == 0
    assert _files(lake) == before  # the same failures are not recorded twice


def test_a_file_of_closed_accounts_withdraws_each_row_and_records_the_bad_ones(prefect_harness, enrolled, tmp_path):
    lake = enrolled["lake"]
    s2 = _in_use(lake)["S0002"]
    f = tmp_path / "closed.csv"
    f.write_text("signer_id,ref_id\n"
                 "S0001,\n"                 # line 2: all of S0001's
                 f"S0002,{s2[0]}\n"          # line 3: one of S0002's
                 "S9999,\n"                 # line 4: never enrolled
                 f"S0002,{'f' * 64}\n"       # line 5: not one of S0002's
                 ",x\n"                     # line 6: no signer
                 "S0001,\n")                # line 7: line 2 again, kept once
    args = ["withdraw", "--file", str(f), "--lake", str(lake), "--reason", "account closed", "--by", "core-banking"]
    res = _ok(args)
    assert (res["withdrawn"], res["signers"], res["already_withdrawn"]) == (4, 2, 0)
    assert res["references_left"] == {"S0001": 0, "S0002": 2, "S9999": 0}
    assert _in_use(lake) == {"S0002": s2[1:]}
    fails = _rows(lake, "SELECT path, stage, reason FROM failures ORDER BY path")
    assert fails == [
        {"path": f"{f}:4", "stage": "lookup", "reason": "no reference was ever enrolled for signer S9999"},
        {"path": f"{f}:5", "stage": "lookup", "reason": f"reference {'f' * 64} is not enrolled for signer S0002"},
        {"path": f"{f}:6", "stage": "manifest", "reason": "(empty): empty or invalid signer_id"}]
    assert {r["withdrawn_by"] for r in _rows(lake, "SELECT withdrawn_by FROM withdrawals")} == {"core-banking"}
    before = _files(lake)
    again = _ok(args)
    assert (again["withdrawn"], again["already_withdrawn"]) == (0, 4)
    assert _files(lake) == before


def test_a_withdrawn_reference_is_not_carried_and_enrolling_it_again_brings_it_back(prefect_harness, enrolled,
                                                                                     make_pdf, tmp_path):
    from test_cli import _retrained

    lake, refs = enrolled["lake"], enrolled["refs"]
    one = _in_use(lake)["S0001"][0]
    assert _ok(["withdraw", "S0001", "--ref", one, "--lake", str(lake), "--reason", "a photocopy"])["withdrawn"] == 1
    v1 = _retrained(enrolled["ver"], tmp_path / "ver1", version="1")
    make_pdf("a.pdf", [(400, 500)], folder=tmp_path / "inbox")
    (tmp_path / "manifest.csv").write_text("document,signer_id\na.pdf,S0001\n")
    _ok(["audit", str(tmp_path / "inbox"), "--manifest", str(tmp_path / "manifest.csv"), "--lake", str(lake),
         "--detector", str(enrolled["det"]), "--verifier", str(v1)])
    v1_refs = 'SELECT ref_id FROM "references" WHERE signer_id = $s AND model_version = $v ORDER BY ref_id'
    carried = [r["ref_id"] for r in _rows(lake, v1_refs, {"s": "S0001", "v": "1"})]
    assert one not in carried and len(carried) == 2

    res = _ok(["enroll", str(refs), "--lake", str(lake), "--verifier", str(v1)])
    assert (res["references"], res["already_enrolled"]) == (1, 5)  # S0002's three were carried by the audit
    assert one in [r["ref_id"] for r in _rows(lake, v1_refs, {"s": "S0001", "v": "1"})]
    # under v0 it stays withdrawn: only v1 enrolled it again
    assert _rows(lake, "SELECT ref_id, model_version FROM withdrawn_references") == [
        {"ref_id": one, "model_version": "0"}]


def test_enroll_replace_keeps_only_the_references_given(prefect_harness, enrolled, tmp_path):
    lake, ver = enrolled["lake"], enrolled["ver"]
    old = _in_use(lake)
    card = _refs(tmp_path / "card", "S0001", [1, 5])  # 1.png as before, 5.png new
    res = _ok(["enroll", str(card), "--lake", str(lake), "--verifier", str(ver), "--replace"])
    assert (res["references"], res["already_enrolled"], res["withdrawn"], res["not_replaced"]) == (1, 1, 2, [])
    now = _in_use(lake)
    assert now["S0002"] == old["S0002"]  # a signer the source does not name is left alone
    same, new = sha256_file(card / "S0001" / "1.png"), sha256_file(card / "S0001" / "5.png")
    assert same in old["S0001"] and sorted(now["S0001"]) == sorted([same, new])
    gone = _rows(lake, "SELECT ref_id, reason FROM withdrawn_references ORDER BY ref_id")
    assert {r["ref_id"] for r in gone} == set(old["S0001"]) - set(now["S0001"])
    assert all(r["reason"].startswith(f"replaced by the references enrolled from {card}") for r in gone)
    before = _files(lake)
    again = _ok(["enroll", str(card), "--lake", str(lake), "--verifier", str(ver), "--replace"])
    assert (again["references"], again["withdrawn"]) == (0, 0)
    assert _files(lake) == before


def test_enroll_replace_with_no_usable_reference_keeps_the_old_ones(prefect_harness, enrolled, tmp_path):
    lake, ver = enrolled["lake"], enrolled["ver"]
    old = _in_use(lake)
    (tmp_path / "blank" / "S0002").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "blank" / "S0002" / "0.png"), np.full((80, 200), 255, np.uint8))  # no ink
    res = _ok(["enroll", str(tmp_path / "blank"), "--lake", str(lake), "--verifier", str(ver), "--replace"])
    assert (res["references"], res["withdrawn"], res["not_replaced"]) == (0, 0, ["S0002"])
    assert _in_use(lake) == old
    fails = _rows(lake, "SELECT stage, reason FROM failures WHERE flow = 'enroll' ORDER BY stage")
    assert [f["stage"] for f in fails] == ["clean", "replace"]
    assert fails[1]["reason"] == "signer S0002: none of the references given could be enrolled; the 3 enrolled " \
                                 "before are kept"


@pytest.mark.parametrize(("args", "message"), [
    (["withdraw", "S0001", "--lake", "{tmp}/no-lake", "--reason", "x"], "lake {tmp}/no-lake does not exist"),
    (["withdraw", "S0001", "--lake", "{tmp}/lake", "--reason", "  "], "a reason is needed"),
    (["withdraw", "S0001", "--lake", "{tmp}/lake"], "--reason"),
    (["withdraw", "S\x070", "--lake", "{tmp}/lake", "--reason", "x"], "not printable"),
    (["withdraw", "S0001", "--lake", "{tmp}/lake", "--reason", "x", "--ref", " "], "empty ref_id"),
    (["withdraw", "--lake", "{tmp}/lake", "--reason", "x"], "name the signers, or a file of them"),
    (["withdraw", "--file", "{tmp}/ok.csv", "--ref", "r1", "--lake", "{tmp}/lake", "--reason", "x"],
     "name those signers"),
    (["withdraw", "--file", "{tmp}/no.csv", "--lake", "{tmp}/lake", "--reason", "x"], "{tmp}/no.csv is not a file"),
    (["withdraw", "--file", "{tmp}/bad.csv", "--lake", "{tmp}/lake", "--reason", "x"], "missing column"),
])
def test_bad_withdraw_arguments_are_one_line_and_write_nothing(tmp_path, args, message):
    (tmp_path / "lake").mkdir()
    (tmp_path / "ok.csv").write_text("signer_id\nS0001\n")
    (tmp_path / "bad.csv").write_text("signer,ref\nS0001,\n")
    res = runner.invoke(app, [a.replace("{tmp}", str(tmp_path)) for a in args])
    assert res.exit_code == 2, res.output
    assert message.replace("{tmp}", str(tmp_path)) in res.output.replace("\n", "") and "Traceback" not in res.output
    assert list((tmp_path / "lake").iterdir()) == [] and not (tmp_path / "no-lake").exists()


def test_a_lake_a_newer_sigpipe_wrote_is_refused_with_one_line(prefect_harness, tmp_path):
    lake = tmp_path / "lake"
    lake.mkdir()
    (lake / ".schema-version").write_text(f"{storage.SCHEMA_VERSION + 1}\n")
    for args in (["compact", "--lake", str(lake)],
                 ["withdraw", "S0001", "--lake", str(lake), "--reason", "x"]):
        res = runner.invoke(app, args)
        assert res.exit_code == 2, res.output
        assert "written by a newer sigpipe" in res.output and "Traceback" not in res.output
    assert [p.name for p in lake.iterdir()] == [".schema-version"]
