from __future__ import annotations

import html
import json
import pathlib
from datetime import UTC, datetime

import pytest
from typer.main import get_command
from typer.testing import CliRunner

import storage
from flows.cli import app

runner = CliRunner()


def _commands(cmd, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = [prefix]
    for name, sub in getattr(cmd, "commands", {}).items():
        out += _commands(sub, prefix + (name,))
    return out


@pytest.mark.parametrize("path", _commands(get_command(app)), ids=lambda p: " ".join(p) or "sigpipe")
def test_every_command_has_help(path):
    res = runner.invoke(app, [*path, "--help"])
    assert res.exit_code == 0, res.output
    assert "Usage" in res.output


@pytest.fixture()
def lake(tmp_path):
    row = {"doc_id": "d1", "path": "/in/a.pdf", "file_name": "a.pdf", "size_bytes": 10, "n_pages": 2, "dpi": 200,
           "run_id": "r1", "ingested_at": datetime(2026, 1, 1, tzinfo=UTC)}
    storage.write_part(tmp_path, "documents", "r1", "d1", [row])
    return tmp_path


def test_sql_formats_and_params(lake):
    res = runner.invoke(app, ["sql", "SELECT file_name, n_pages FROM documents WHERE n_pages >= $n",
                              "--lake", str(lake), "--param", "n=2", "--format", "json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output) == [{"file_name": "a.pdf", "n_pages": 2}]
    res = runner.invoke(app, ["sql", "SELECT file_name FROM documents WHERE file_name = $f", "--lake", str(lake),
                              "--param", "f=a.pdf", "--format", "csv"])
    assert res.output.splitlines() == ["file_name", "a.pdf"]
    res = runner.invoke(app, ["sql", "SELECT count(*) AS n FROM documents", "--lake", str(lake)])
    assert res.exit_code == 0 and "1" in res.output


def test_sql_errors_are_clear(lake, tmp_path):
    res = runner.invoke(app, ["sql", "SELECT * FROM nope", "--lake", str(lake)])
    assert res.exit_code == 2 and "query failed" in res.output
    res = runner.invoke(app, ["sql", "SELECT 1", "--lake", str(tmp_path / "missing")])
    assert res.exit_code == 2 and "does not exist" in res.output
    res = runner.invoke(app, ["sql", "SELECT 1", "--lake", str(lake), "--param", "novalue"])
    assert res.exit_code != 0


def test_tampered_model_is_refused_with_one_line(prefect_harness, stand_in_models, make_pdf, tmp_path):
    import shutil

    det, _ = stand_in_models
    bad = tmp_path / "det"
    shutil.copytree(det, bad)
    with open(bad / "detector.pt", "ab") as f:
        f.write(b"x")
    make_pdf("a.pdf", [(400, 500)], folder=tmp_path / "inbox")
    res = runner.invoke(app, ["detect", str(tmp_path / "inbox"), "--lake", str(tmp_path / "lake"),
                              "--detector", str(bad)])
    assert res.exit_code == 2
    assert "does not match the card" in res.output and "refusing to load" in res.output


def _three_references(root):
    """``root/S0001/{0,1,2}.png``: three strokes, usable references."""
    import cv2
    import numpy as np

    (root / "S0001").mkdir(parents=True)
    for k in range(3):
        img = np.full((80, 200), 255, np.uint8)
        cv2.line(img, (20, 60 - 5 * k), (180, 25 + 5 * k), 0, 3)
        cv2.imwrite(str(root / "S0001" / f"{k}.png"), img)
    return root


def _retrained(ver, dst, version=None):
    """A copy of model folder ``ver`` with other weights (and ``version``, else the same), its card valid."""
    import shutil

    import torch

    from sigpipe.weights import load_card, write_card

    shutil.copytree(ver, dst)
    sd = torch.load(dst / "weights.pt", weights_only=True)
    torch.save({k: v * 1.1 if v.is_floating_point() else v for k, v in sd.items()}, dst / "weights.pt")
    card = dict(load_card(dst, verify=False).data)
    write_card(dst, {**card, "version": version or card["version"]})
    return dst


def test_other_weights_under_a_known_version_are_refused(prefect_harness, stand_in_models, tmp_path):
    """A lake keys embeddings and references by the verifier's name and version: weights retrained under the same
    version must not be mixed with the old ones' rows. A new version is a new model, used beside the old."""
    from sigpipe.weights import load_card, write_card

    _, ver = stand_in_models
    lake = tmp_path / "lake"
    enroll = ["enroll", str(_three_references(tmp_path / "refs")), "--lake", str(lake)]
    assert runner.invoke(app, [*enroll, "--verifier", str(ver)]).exit_code == 0

    retrained = _retrained(ver, tmp_path / "ver2")  # a valid card, same name and version
    res = runner.invoke(app, [*enroll, "--verifier", str(retrained)])
    assert res.exit_code == 2, res.output
    assert "test-ver version 0" in res.output and "Give the new weights a new version" in res.output

    con = storage.connect(lake)
    assert storage.query(con, 'SELECT count(*) AS n FROM "references"').to_pylist() == [{"n": 3}]
    con.close()

    write_card(retrained, {**load_card(retrained).data, "version": "1"})
    assert runner.invoke(app, [*enroll, "--verifier", str(retrained)]).exit_code == 0
    con = storage.connect(lake)
    assert storage.query(con, "SELECT name, version FROM models ORDER BY version").to_pylist() == [
        {"name": "test-ver", "version": "0"}, {"name": "test-ver", "version": "1"}]
    assert storage.query(con, 'SELECT model_version, count(*) AS n FROM "references" GROUP BY 1 ORDER BY 1'
                         ).to_pylist() == [{"model_version": "0", "n": 3}, {"model_version": "1", "n": 3}]
    con.close()


def test_a_new_verifier_version_carries_the_enrolled_references(prefect_harness, stand_in_models, make_pdf,
                                                                tmp_path):
    """Signers enrolled under verifier v0 stay enrolled when the audit runs v1: their stored reference crops are
    embedded by v1 (once), instead of every claim becoming unknown_signer until the originals are enrolled again."""
    import numpy as np

    det, ver = stand_in_models
    lake = tmp_path / "lake"
    refs = _three_references(tmp_path / "refs")
    assert runner.invoke(app, ["enroll", str(refs), "--lake", str(lake), "--verifier", str(ver)]).exit_code == 0
    v1 = _retrained(ver, tmp_path / "ver1", version="1")

    make_pdf("a.pdf", [(400, 500)], folder=tmp_path / "inbox")
    (tmp_path / "manifest.csv").write_text("document,signer_id\na.pdf,S0001\n")
    audit = ["audit", str(tmp_path / "inbox"), "--manifest", str(tmp_path / "manifest.csv"), "--lake", str(lake),
             "--detector", str(det), "--verifier", str(v1)]
    from sigpipe import pdf

    con = storage.connect(lake)
    lost, blank = [r["crop_path"] for r in storage.query(con, 'SELECT crop_path FROM "references" ORDER BY ref_id '
                                                              "LIMIT 2").to_pylist()]
    con.close()
    (lake / lost).unlink()  # one stored crop lost: that reference alone is not carried, and the audit goes on
    (lake / blank).write_bytes(pdf.encode_page(np.full((60, 200), 250, np.uint8)))  # one damaged: no ink in it
    for _ in range(2):  # the second run finds the other carried already and the two still not carried
        res = runner.invoke(app, audit)
        assert res.exit_code == 0, res.output
    con = storage.connect(lake)
    refs_by = storage.query(con, 'SELECT model_version, ref_id, crop_path, embedding FROM "references" '
                                 "ORDER BY model_version, ref_id").to_pylist()
    raw = storage.read_table(lake, "references").num_rows
    # the stand-in detector finds no signature: the claim is no_signature, not unknown_signer
    assert storage.query(con, "SELECT decision FROM verdicts").to_pylist() == [{"decision": "no_signature"}]
    fails = storage.query(con, "SELECT path, flow, stage, reason FROM failures ORDER BY path").to_pylist()
    con.close()
    assert sorted(f["path"] for f in fails) == sorted([lost, blank])  # each recorded once over the two runs
    assert all((f["flow"], f["stage"]) == ("audit", "carry-references") and "not carried" in f["reason"]
               for f in fails)
    assert "no ink" in next(f["reason"] for f in fails if f["path"] == blank)
    old, new = refs_by[2:3], refs_by[3:]
    assert [r["model_version"] for r in refs_by] == ["0"] * 3 + ["1"] and raw == 4  # carried once
    assert [(r["ref_id"], r["crop_path"]) for r in old] == [(r["ref_id"], r["crop_path"]) for r in new]
    assert all(not np.allclose(a["embedding"], b["embedding"]) for a, b in zip(old, new, strict=True))  # by v1


# ------------------------------------------------------------------------- bad arguments: one clear line, exit 2
@pytest.mark.parametrize(("args", "message"), [
    (["ingest", "{tmp}/no-inbox", "--lake", "{tmp}/lake"], "no-inbox"),
    (["detect", "{tmp}/no-inbox", "--lake", "{tmp}/lake"], "no-inbox"),
    (["audit", "{tmp}/inbox", "--manifest", "{tmp}/no-manifest.csv", "--lake", "{tmp}/lake"], "no-manifest.csv"),
    (["audit", "{tmp}/inbox", "--manifest", "{tmp}/m.csv", "--lake", "{tmp}/lake", "--verifier", "{tmp}/no-model"],
     "no-model"),
    (["enroll", "{tmp}/no-refs", "--lake", "{tmp}/lake"], "no-refs"),
    (["enroll", "{tmp}/named.csv", "--lake", "{tmp}/lake"], "lake {tmp}/lake does not exist, and named.csv names"),
    (["catalog", "{tmp}/no-inbox", "--lake", "{tmp}/lake"], "no-inbox"),
    (["review", "{tmp}/no-file.csv", "--lake", "{tmp}/lake"], "no-file.csv"),
    (["eval", "verifier", "--data", "{tmp}/no-data", "--json"], "no-data"),
    (["eval", "detector", "--data", "{tmp}/no-data.yaml", "--json"], "no-data.yaml"),
])
def test_bad_paths_name_the_path_and_exit_2(tmp_path, args, message):
    (tmp_path / "inbox").mkdir()
    (tmp_path / "m.csv").write_text("document,signer_id\n")
    (tmp_path / "named.csv").write_text("sig_id,signer_id\nabc:1:0,Jane Doe\n")
    res = runner.invoke(app, [a.replace("{tmp}", str(tmp_path)) for a in args])
    assert res.exit_code == 2, (res.exit_code, res.output)
    assert message.replace("{tmp}", str(tmp_path)) in res.output.replace("\n", "")
    assert "Traceback" not in res.output
    assert not (tmp_path / "lake").exists()  # refused before anything was written


def test_references_carried_to_a_new_verifier_version_embed_as_enrolled(prefect_harness, stand_in_models, make_pdf,
                                                                         tmp_path):
    """The lake keeps each reference as enrolled (lossless), so a new verifier version carries it to the embedding
    that enrolling the original file with that version gives: an upgrade does not move a signer's references."""
    import numpy as np

    det, ver = stand_in_models
    v1 = _retrained(ver, tmp_path / "ver1", version="1")
    refs = _three_references(tmp_path / "refs")
    carried, fresh = tmp_path / "carried", tmp_path / "fresh"
    assert runner.invoke(app, ["enroll", str(refs), "--lake", str(carried), "--verifier", str(ver)]).exit_code == 0
    make_pdf("a.pdf", [(400, 500)], folder=tmp_path / "inbox")
    (tmp_path / "manifest.csv").write_text("document,signer_id\na.pdf,S0001\n")
    res = runner.invoke(app, ["audit", str(tmp_path / "inbox"), "--manifest", str(tmp_path / "manifest.csv"),
                              "--lake", str(carried), "--detector", str(det), "--verifier", str(v1)])
    assert res.exit_code == 0, res.output
    assert runner.invoke(app, ["enroll", str(refs), "--lake", str(fresh), "--verifier", str(v1)]).exit_code == 0

    def v1_refs(lake):
        con = storage.connect(lake)
        try:
            return {r["ref_id"]: r for r in storage.query(
                con, "SELECT ref_id, crop_path, embedding FROM \"references\" WHERE model_version = '1'").to_pylist()}
        finally:
            con.close()

    a, b = v1_refs(carried), v1_refs(fresh)
    assert set(a) == set(b) and len(a) == 3
    assert all(r["crop_path"].endswith(".png") for r in a.values())
    for k in a:
        assert np.allclose(a[k]["embedding"], b[k]["embedding"], atol=1e-6), k


def test_precision_reaches_the_models_and_each_run_records_what_it_meant(prefect_harness, stand_in_models,
                                                                          make_pdf, tmp_path):
    """``--precision``: fp32 and bf16 enrol the same references with different arithmetic (bf16's embeddings
    differ from fp32's in the low bits, and are still the same signatures), each run's params record the precision
    asked and what it meant on this host; a process keeps one model per folder and precision; an unknown precision
    is refused with one line before anything is written."""
    import numpy as np
    import torch

    from tasks import models

    det, ver = stand_in_models
    refs = _three_references(tmp_path / "refs")
    emb, params = {}, {}
    for p in ("fp32", "bf16"):
        lake = tmp_path / p
        res = runner.invoke(app, ["enroll", str(refs), "--lake", str(lake), "--verifier", str(ver), "--precision", p])
        assert res.exit_code == 0, res.output
        con = storage.connect(lake)
        emb[p] = np.asarray([r["embedding"] for r in storage.query(
            con, 'SELECT embedding FROM "references" ORDER BY ref_id').to_pylist()], np.float32)
        params[p] = [json.loads(r["params"]) for r in storage.query(con, "SELECT params FROM runs").to_pylist()]
        con.close()
        assert [(q["precision"], q["precision_used"]) for q in params[p]] == [(p, {"detector": p, "verifier": p})]
    assert emb["fp32"].shape == (3, 32) and not np.array_equal(emb["fp32"], emb["bf16"])
    assert (emb["fp32"] * emb["bf16"]).sum(axis=1).min() > 0.99  # unit rows: the same signatures

    v32, v16 = models.verifier(ver, "fp32")[0], models.verifier(ver, "bf16")[0]
    assert v32 is models.verifier(ver, "fp32")[0] and v32 is not v16
    assert (v32.amp_dtype, v16.amp_dtype) == (None, torch.bfloat16)
    native = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    assert models.precision_used("auto") == {"detector": "bf16" if native else "fp32",
                                             "verifier": "bf16" if native else "fp32"}

    make_pdf("a.pdf", [(400, 500)], folder=tmp_path / "inbox")  # the audit's detector and second look, in fp32
    (tmp_path / "manifest.csv").write_text("document,signer_id\na.pdf,S0001\n")
    res = runner.invoke(app, ["audit", str(tmp_path / "inbox"), "--manifest", str(tmp_path / "manifest.csv"),
                              "--lake", str(tmp_path / "fp32"), "--detector", str(det), "--verifier", str(ver),
                              "--precision", "fp32", "--json"])
    assert res.exit_code == 0, res.output
    from sigpipe import __version__

    report = html.unescape(pathlib.Path(json.loads(res.output)["report"]).read_text())  # what decided its verdicts
    assert ("Models: verifier test-ver v0, detector test-det v0. This run's arithmetic: verifier fp32, detector fp32"
            in report and f"sigpipe {__version__}." in report)
    con = storage.connect(tmp_path / "fp32")
    runs = {r["flow"]: json.loads(r["params"]) for r in storage.query(con, "SELECT flow, params FROM runs").to_pylist()}
    asked = storage.query(con, "SELECT params->>'$.precision_used.verifier' AS v FROM runs WHERE flow = 'audit'")
    con.close()
    assert asked.to_pylist() == [{"v": "fp32"}]  # as the README asks it
    assert runs["audit"]["precision"] == "fp32"
    assert runs["audit"]["precision_used"] == {"detector": "fp32", "verifier": "fp32"}
    assert "precision" not in runs["ingest"]  # ingest runs no model

    res = runner.invoke(app, ["enroll", str(refs), "--lake", str(tmp_path / "fp64"), "--verifier", str(ver),
                              "--precision", "fp64"])
    assert res.exit_code == 2 and "precision" in res.output and "Traceback" not in res.output, res.output
    assert not (tmp_path / "fp64").exists()
