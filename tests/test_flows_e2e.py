"""Enrol, audit and catalogue end to end on synthetic PDFs with known truth, through real models."""

from __future__ import annotations

import base64
import csv
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import cv2
import numpy as np
import pytest
from lake_helpers import files as _files
from lake_helpers import rows as _rows

import storage
from flows.audit import audit
from flows.catalog import catalog
from flows.detect import detect
from flows.enroll import enroll
from flows.params import DEFAULT_DETECTOR, DEFAULT_VERIFIER, AuditParams, CatalogParams, DetectParams, EnrollParams
from sigpipe.detect import box_iou

pytestmark = pytest.mark.slow


def _assert_report_renders(report: Path, tmp_path: Path) -> None:
    """Headless Chromium opens the report from disk (no server) and shows every thumbnail the page inlines: each
    is found in the screenshot, drawn as the page's CSS sizes it (at most 240 px wide)."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if exe is None:
        pytest.skip("no Chromium to screenshot the report with (make test installs the Debian package)")
    text = report.read_text()
    thumbs = [cv2.imdecode(np.frombuffer(base64.b64decode(b), np.uint8), cv2.IMREAD_GRAYSCALE)
              for b in re.findall(r'src="data:image/png;base64,([^"]+)"', text)]
    assert thumbs
    width, height = 1400, 300 + 90 * text.count("<tr class=")  # tall enough for every row
    shot_path = tmp_path / "report.png"
    subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    "--force-device-scale-factor=1", f"--window-size={width},{height}", f"--screenshot={shot_path}",
                    report.resolve().as_uri()], check=True, capture_output=True, timeout=120)
    shot = cv2.imread(str(shot_path), cv2.IMREAD_GRAYSCALE)
    assert shot is not None and shot.shape == (height, width)
    for t in thumbs:
        h, w = t.shape
        if w > 240:
            t = cv2.resize(t, (240, max(1, round(h * 240 / w))), interpolation=cv2.INTER_AREA)
        assert cv2.matchTemplate(shot, t, cv2.TM_CCOEFF_NORMED).max() > 0.8


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    from sigpipe.synth import generate

    root = tmp_path_factory.mktemp("e2e")
    data = root / "data"
    generate(data, signers=4, documents=8, seed=21)
    manifest = (data / "manifest.csv").read_text().splitlines()
    docs = sorted(p.name for p in (data / "inbox").glob("*.pdf"))
    extra = [f"{docs[0]},S9999,",              # nobody enrolled as S9999
             "missing.pdf,S0001,",              # not in the inbox
             "../references/S0001/01.png,S0001,"]  # escapes the inbox
    (data / "manifest.csv").write_text("\n".join(manifest + extra) + "\n")
    (data / "inbox" / "broken.pdf").write_bytes(b"%PDF-1.4 truncated")
    return {"root": root, "data": data, "lake": root / "lake"}


def test_enroll_then_rerun_adds_nothing(prefect_harness, batch):
    data, lake = batch["data"], batch["lake"]
    res = enroll(EnrollParams(source=data / "references", lake=lake, verifier=DEFAULT_VERIFIER))
    assert res["signers"] == 4 and res["references"] == 24 and res["failed"] == []
    per_signer = _rows(lake, 'SELECT signer_id, count(*) AS n, min(dim) AS dim FROM "references" GROUP BY 1 ORDER BY 1')
    assert [(r["signer_id"], r["n"]) for r in per_signer] == [(f"S000{i}", 6) for i in range(1, 5)]
    before = _files(lake)
    again = enroll(EnrollParams(source=data / "references", lake=lake, verifier=DEFAULT_VERIFIER))
    assert again["references"] == 0 and again["already_enrolled"] == 24
    assert _files(lake) == before


def test_audit_decides_every_claim_and_reruns_idempotently(prefect_harness, batch, tmp_path):
    data, lake = batch["data"], batch["lake"]
    params = AuditParams(inbox=data / "inbox", manifest=data / "manifest.csv", lake=lake,
                         detector=DEFAULT_DETECTOR, verifier=DEFAULT_VERIFIER)
    res = audit(params)
    verdicts = _rows(lake, "SELECT * FROM verdicts")
    with open(data / "manifest.csv") as f:
        claims = {(r["document"], r["signer_id"]) for r in csv.DictReader(f)}
    valid = {c for c in claims if c[0] != "missing.pdf" and not c[0].startswith("..")}
    assert {(v["document"], v["claimed_signer"]) for v in verdicts} == valid  # one verdict per valid claim
    assert len(verdicts) == len(valid)
    by_claim = {(v["document"], v["claimed_signer"]): v for v in verdicts}
    # each verdict carries its document's file name as the documents view gives it (documents_by_signer needs no join)
    assert _rows(lake, "SELECT count(*) AS n FROM verdicts AS v LEFT JOIN documents AS d USING (doc_id) "
                       "WHERE v.file_name IS NULL OR v.file_name IS DISTINCT FROM d.file_name") == [{"n": 0}]
    unknown = next(v for k, v in by_claim.items() if k[1] == "S9999")
    assert unknown["decision"] == "unknown_signer" and unknown["score"] is None
    for v in verdicts:
        assert v["decision"] in ("genuine", "forgery", "inconclusive", "no_signature", "unknown_signer")
        if v["decision"] in ("genuine", "forgery", "inconclusive"):
            # a signature the second look found has a box and an evidence sheet, but no signatures row
            assert v["sig_id"] or (v["decision"] == "genuine" and v["x0"] is not None and v["evidence_path"])
            assert v["score"] is not None and v["threshold"] is not None and v["best_ref_id"]
            assert v["n_references"] == 6 and v["threshold_kind"] in ("writer", "global")
            if v["decision"] == "genuine":
                assert v["score"] >= v["threshold"]
            if v["decision"] == "forgery":
                assert v["score"] < v["threshold"]
        if v["decision"] in ("forgery", "inconclusive"):
            assert v["evidence_path"] and (lake / v["evidence_path"]).read_bytes()[:4] == b"\x89PNG"
            sheet = cv2.imread(str(lake / v["evidence_path"]), cv2.IMREAD_COLOR)
            # four tiles a row, the last of the bottom row the occlusion map: the query's ink, below its label
            assert sheet.shape[1] == 4 * 420 and (sheet[-180:, 3 * 420:] < 200).any()
    failures = _rows(lake, "SELECT path, stage, reason FROM failures ORDER BY path")
    manifest_errors = {f["path"].split(" (")[1].rstrip(")"): f["reason"] for f in failures if f["stage"] == "manifest"}
    assert manifest_errors == {"missing.pdf": "document missing from the inbox",
                               "../references/S0001/01.png": "path escapes the inbox (refused)"}
    assert [Path(f["path"]).name for f in failures if f["stage"] == "render"] == ["broken.pdf"]
    # the report opens without a server: valid HTML naming every document audited
    report = Path(res["report"])
    parser = HTMLParser()
    parser.feed(report.read_text())
    assert all(doc in report.read_text() for doc, _ in valid)
    _assert_report_renders(report, tmp_path)
    # the real detector stored each page's best box confidence on its detections row (null on unsigned pages)
    assert _rows(lake, """
        SELECT x.page_id, x.n_signatures, x.max_confidence, max(s.confidence) AS best
        FROM detections AS x
        LEFT JOIN signatures AS s ON s.doc_id = x.doc_id AND s.page = x.page AND s.run_id = x.run_id
        GROUP BY ALL
        HAVING x.max_confidence IS DISTINCT FROM max(s.confidence)
            OR (x.n_signatures = 0) != (x.max_confidence IS NULL)""") == []
    assert _rows(lake, "SELECT count(*) AS n FROM detections WHERE max_confidence > 0") != [{"n": 0}]
    # every embedded crop and reference is kept as the verifier saw it, for the evidence sheets: embedding the
    # kept image gives the stored embedding back; a crop from a page is its stored JPEG, cleaned
    from sigpipe import pdf
    from tasks import models
    from tasks.verify import _clean, clean_relpath

    v, _ = models.verifier(DEFAULT_VERIFIER)
    kept = [{**r, "from_page": True} for r in _rows(
        lake, "SELECT s.crop_path, s.dpi, e.embedding FROM signatures s JOIN embeddings e USING (sig_id)")]
    kept += [{**r, "from_page": False} for r in _rows(lake, 'SELECT crop_path, embedding FROM "references"')]
    assert any(k["from_page"] for k in kept) and not all(k["from_page"] for k in kept)
    imgs = []
    for k in kept:
        img = cv2.imread(str(lake / clean_relpath(v.card, k["crop_path"])), cv2.IMREAD_UNCHANGED)
        assert img is not None, k["crop_path"]
        if k["from_page"]:
            # (the verifier's stamp remover runs on crops cut from pages, at their page's dpi)
            assert np.array_equal(img, _clean(v, [pdf.decode_page(lake / k["crop_path"])], k["dpi"])[0]), k["crop_path"]
        imgs.append(img)
    # (bf16 on this CPU: the same image in another batch embeds to cosine ~0.99, not 1)
    sim = v.embed_clean(np.asarray(imgs)) @ np.asarray([k["embedding"] for k in kept], np.float32).T
    assert (sim.argmax(axis=1) == np.arange(len(kept))).all() and (np.diag(sim) > 0.98).all()
    summary = _rows(lake, "SELECT * FROM audit_summary")
    assert len(summary) == 1 and summary[0]["claims"] == len(valid)
    assert summary[0]["unknown_signer"] == 1

    before = _files(lake)
    again = audit(params)
    assert again["decided"] == 0 and again["already_decided"] == len(valid)
    assert _files(lake) == before  # a rerun writes nothing: no rows, no evidence, no report


def test_catalog_lists_top_k_for_every_signature(prefect_harness, batch):
    data, lake = batch["data"], batch["lake"]
    params = CatalogParams(inbox=data / "inbox", lake=lake, detector=DEFAULT_DETECTOR, verifier=DEFAULT_VERIFIER,
                           top_k=3)
    res = catalog(params)
    sigs = _rows(lake, "SELECT sig_id FROM signatures")
    matches = _rows(lake, "SELECT * FROM matches ORDER BY sig_id, rank")
    assert {m["sig_id"] for m in matches} == {s["sig_id"] for s in sigs}
    for sig in {m["sig_id"] for m in matches}:
        ranks = [m for m in matches if m["sig_id"] == sig]
        assert [m["rank"] for m in ranks] == [1, 2, 3]  # 4 enrolled signers, top-3
        assert [m["score"] for m in ranks] == sorted((m["score"] for m in ranks), reverse=True)
        assert (ranks[0]["cluster_id"] is None) == ranks[0]["is_match"]  # unmatched ones are clustered
    assert res["signatures"] == len(sigs) and res["matched"] + res["unknown"] == len(sigs) and res["not_sure"] == 0
    assert _rows(lake, "SELECT count(*) AS n FROM matches AS m LEFT JOIN documents AS d USING (doc_id) "
                       "WHERE m.file_name IS NULL OR m.file_name IS DISTINCT FROM d.file_name") == [{"n": 0}]
    before = _files(lake)
    assert catalog(params)["signatures"] == 0
    assert _files(lake) == before


def test_unknown_signer_claim_is_decided_once_the_signer_is_enrolled(prefect_harness, batch, tmp_path):
    import shutil

    data, lake = batch["data"], batch["lake"]
    params = AuditParams(inbox=data / "inbox", manifest=data / "manifest.csv", lake=lake,
                         detector=DEFAULT_DETECTOR, verifier=DEFAULT_VERIFIER)
    refs = tmp_path / "refs"
    shutil.copytree(data / "references" / "S0002", refs / "S9999")  # S9999 enrolled at last (someone's hand)
    enroll(EnrollParams(source=refs, lake=lake, verifier=DEFAULT_VERIFIER))
    res = audit(params)
    assert res["decided"] == 1  # only the claim that was unknown_signer; every other claim stays decided
    rows = _rows(lake, "SELECT decision, run_id FROM verdicts WHERE claimed_signer = 'S9999' ORDER BY created_at")
    assert [r["decision"] for r in rows][0] == "unknown_signer" and rows[-1]["decision"] != "unknown_signer"
    assert rows[-1]["run_id"] == res["run_id"]
    assert audit(params)["decided"] == 0  # and a rerun adds nothing


def _reference_pdfs(data: Path, folder: Path, signers: list[str]) -> tuple[list[Path], Path]:
    """The batch's first PDFs copied into ``folder``, one per signer, and an enrolment CSV (file, signer_id) of
    them: (the PDFs copied from, the CSV)."""
    folder.mkdir()
    docs = sorted(p for p in (data / "inbox").glob("*.pdf") if p.name != "broken.pdf")[: len(signers)]
    for d in docs:
        shutil.copy(d, folder / d.name)
    (folder / "refs.csv").write_text("file,signer_id\n" + "".join(f"{d.name},{s}\n" for d, s in zip(docs, signers,
                                                                                                   strict=True)))
    return docs, folder / "refs.csv"


def test_references_cut_from_pdfs_are_embedded_as_the_flows_embed_document_crops(prefect_harness, batch, tmp_path):
    """A CSV of reference PDFs: each PDF's most confident signature becomes the signer's reference, cleaned and
    embedded as the catalogue embeds the same signature cut from the same page (at the page's dpi, stamp remover
    included): the two embeddings agree."""
    data, lake = batch["data"], tmp_path / "lake"
    docs, csv_path = _reference_pdfs(data, tmp_path / "refs", ["P0", "P1"])
    res = enroll(EnrollParams(source=csv_path, lake=lake, verifier=DEFAULT_VERIFIER, detector=DEFAULT_DETECTOR))
    assert res["references"] == 2 and res["failed"] == []
    best = {r["file_name"]: r["sig_id"] for r in _rows(
        lake, "SELECT file_name, arg_max(sig_id, confidence) AS sig_id FROM signatures JOIN documents USING (doc_id) "
              "GROUP BY 1")}
    got = _rows(lake, 'SELECT signer_id, sig_id, source, source_kind, embedding FROM "references" ORDER BY 1')
    assert [(r["signer_id"], r["sig_id"], Path(r["source"]).name, r["source_kind"]) for r in got] == [
        (f"P{i}", best[d.name], d.name, "pdf") for i, d in enumerate(docs)]
    catalog(CatalogParams(inbox=csv_path.parent, lake=lake, detector=DEFAULT_DETECTOR, verifier=DEFAULT_VERIFIER))
    emb = {r["sig_id"]: np.asarray(r["embedding"]) for r in _rows(lake, "SELECT sig_id, embedding FROM embeddings")}
    for r in got:
        assert float(np.dot(np.asarray(r["embedding"]), emb[r["sig_id"]])) > 0.999


def test_a_retried_detect_task_overwrites_its_chunk_of_signatures(batch, tmp_path):
    """A detect task writes its chunk's signatures as one part keyed by the chunk's documents: the task run
    again (a retry, the same run) replaces that part, whichever of its documents could be read this time."""
    import shutil

    from tasks.detect import detect_documents

    lake = tmp_path / "lake"
    shutil.copytree(batch["lake"], lake)
    pages = _rows(lake, "SELECT doc_id, page, width, height, dpi, image_path FROM pages ORDER BY doc_id, page")
    docs: dict[str, list] = {}
    for p in pages:
        docs.setdefault(p.pop("doc_id"), []).append(p)
    chunk = [{"doc_id": d, "pages": ps} for d, ps in list(docs.items())[:3]]
    first = detect_documents.fn(chunk, str(lake), "detect-retry", str(DEFAULT_DETECTOR))
    assert sum(d["signatures"] for d in first["done"]) > 0
    # the retry cannot read one document's page images: it is reported failed, the others are written again
    gone = chunk[0]["pages"][0]["image_path"]
    (lake / gone).rename(lake / (gone + ".away"))
    again = detect_documents.fn(chunk, str(lake), "detect-retry", str(DEFAULT_DETECTOR))
    assert [f["doc_id"] for f in again["failed"]] == [chunk[0]["doc_id"]]
    parts = list((lake / "signatures" / "run_id=detect-retry").glob("*.parquet"))
    assert len(parts) == 1
    raw = storage.read_table(lake, "signatures").to_pylist()
    ids = [r["sig_id"] for r in raw if r["run_id"] == "detect-retry"]
    assert len(ids) == len(set(ids)) == sum(d["signatures"] for d in again["done"])


def test_a_claim_the_detector_left_unsigned_gets_a_second_look(prefect_harness, batch, tmp_path, strict_detector):
    """The detector's card asks for more confidence than any box has: every claim is left without a signature
    at first, and the second look finds the claimed signatures among the weaker boxes. A claim it accepts is
    decided genuine with the box of the signature written for it, no sig_id and an evidence sheet; otherwise the
    claim stays no_signature: a weak box never makes a claim forgery or inconclusive."""

    data = batch["data"]
    lake = tmp_path / "lake"
    enroll(EnrollParams(source=data / "references", lake=lake, verifier=DEFAULT_VERIFIER))
    res = audit(AuditParams(inbox=data / "inbox", manifest=data / "manifest.csv", lake=lake, detector=strict_detector,
                            verifier=DEFAULT_VERIFIER))
    assert _rows(lake, "SELECT count(*) AS n FROM signatures") == [{"n": 0}]
    truth = _truth(data)
    verdicts = _rows(lake, "SELECT * FROM verdicts WHERE claimed_signer <> 'S9999'")
    assert {v["decision"] for v in verdicts} <= {"genuine", "no_signature"}
    found = [v for v in verdicts if v["decision"] == "genuine"]
    for v in found:
        page, box, _ = truth[(v["document"], v["claimed_signer"])]
        got = (v["nx0"], v["ny0"], v["nx1"], v["ny1"])
        assert v["page"] == page and box_iou(got, box) > 0.5, (v, box)  # the signature written for this claim
        assert v["sig_id"] is None and v["score"] >= v["threshold"] and v["best_ref_id"]
        assert (lake / v["evidence_path"]).read_bytes()[:4] == b"\x89PNG"
    genuine_claims = sum(truth[(v["document"], v["claimed_signer"])][2] for v in verdicts)
    assert len(found) >= genuine_claims // 2
    # the report shows each box the second look accepted, cut from its stored page (there is no stored crop), and
    # says how it was found
    assert Path(res["report"]).read_text().count('<img alt="signature"') == len(found) > 0
    assert Path(res["report"]).read_text().count("<small>second look</small>") == len(found)
    _assert_report_renders(Path(res["report"]), tmp_path)
    # audit_summary counts the boxes it accepted as the signatures the run checked (there is no signatures row)
    assert _rows(lake, "SELECT signatures, genuine FROM audit_summary") == [{"signatures": len(found),
                                                                             "genuine": len(found)}]


def _truth(data: Path) -> dict[tuple[str, str], tuple[int, list[float], bool]]:
    """(document, claimed signer) -> (page, normalised box, genuine) from the batch's ground truth."""
    import json

    truth = {}
    for f in (data / "truth").glob("*.json"):
        t = json.loads(f.read_text())
        for pg in t["pages"]:
            for sig in pg["signatures"]:
                truth[(t["document"], sig["claimed_signer_id"])] = (pg["page"], sig["box_norm"], sig["genuine"])
    return truth


def test_a_page_the_second_look_cannot_read_is_a_failure_and_its_claim_stays_unsigned(prefect_harness, batch,
                                                                                      tmp_path, strict_detector):
    """Pages ingested and detected in an earlier run, one claimed page's stored image damaged since: the audit's
    second look records a failure naming the document, the page and the image file, and the claim signed on that
    page stays no_signature. A rerun records nothing more."""
    data = batch["data"]
    lake = tmp_path / "lake"
    enroll(EnrollParams(source=data / "references", lake=lake, verifier=DEFAULT_VERIFIER))
    detect(DetectParams(inbox=data / "inbox", lake=lake, detector=strict_detector))
    with open(data / "manifest.csv") as f:
        claimed = {(r["document"], r["signer_id"]) for r in csv.DictReader(f)}
    document, signer = next(k for k, v in sorted(_truth(data).items()) if v[2] and k in claimed)
    page = _truth(data)[(document, signer)][0]
    [target] = _rows(lake, "SELECT p.doc_id, p.image_path FROM pages AS p JOIN documents AS d USING (doc_id) "
                           "WHERE d.file_name = $f AND p.page = $p", {"f": Path(document).name, "p": page})
    (lake / target["image_path"]).write_bytes(b"\xff\xd8 damaged")
    params = AuditParams(inbox=data / "inbox", manifest=data / "manifest.csv", lake=lake, detector=strict_detector,
                         verifier=DEFAULT_VERIFIER)
    audit(params)
    failures = _rows(lake, "SELECT path, doc_id, flow, reason FROM failures WHERE stage = 'second-look'")
    assert len(failures) == 1 and failures[0]["doc_id"] == target["doc_id"] and failures[0]["flow"] == "audit"
    assert failures[0]["path"].endswith(document)
    assert f"page {page}" in failures[0]["reason"] and target["image_path"] in failures[0]["reason"]
    assert _rows(lake, "SELECT decision FROM verdicts WHERE document = $d AND claimed_signer = $s",
                 {"d": document, "s": signer}) == [{"decision": "no_signature"}]
    assert _rows(lake, "SELECT count(*) AS n FROM verdicts WHERE decision = 'genuine'")[0]["n"] > 0  # the others
    before = _files(lake)
    audit(params)
    assert _files(lake) == before  # every claim decided: nothing is looked at, recorded or written again


def test_a_claimed_page_the_document_does_not_have_is_a_manifest_error(prefect_harness, batch, tmp_path):
    """A manifest row naming page 99 of a shorter document is reported against its manifest line, not decided
    no_signature (that would say the page exists and is unsigned); the document's other claims are decided, and a
    rerun writes nothing."""
    pdf = sorted((batch["data"] / "inbox").glob("doc-*.pdf"))[0]
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(pdf, inbox / pdf.name)
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(f"document,signer_id,page\n{pdf.name},S0001,1\n{pdf.name},S0002,99\n")
    lake = tmp_path / "lake"
    params = AuditParams(inbox=inbox, manifest=manifest, lake=lake, detector=DEFAULT_DETECTOR,
                         verifier=DEFAULT_VERIFIER)
    res = audit(params)
    [n_pages] = [r["n_pages"] for r in _rows(lake, "SELECT n_pages FROM documents")]
    assert n_pages < 99 and res["claims"] == 2 and res["decided"] == 1
    assert _rows(lake, "SELECT path, flow, stage, reason FROM failures") == [{
        "path": f"{manifest}:3 ({pdf.name})", "flow": "audit", "stage": "manifest",
        "reason": f"page 99 is beyond the document's {n_pages} page(s)"}]
    assert _rows(lake, "SELECT claimed_signer, page FROM verdicts") == [{"claimed_signer": "S0001", "page": 1}]
    before = _files(lake)
    audit(params)
    assert _files(lake) == before




def _turned_inbox(src: Path, dst: Path, turns: dict[str, int]) -> None:
    """Copies of the PDFs ``turns`` names (file name -> counter-clockwise quarter turns, 0 for none), every page
    scanned again turned (:func:`sigpipe.synth.dataset.rescan`)."""
    from sigpipe.synth.dataset import rescan

    dst.mkdir(parents=True)
    for name, k in sorted(turns.items()):
        rescan(src / name, dst / name, 90 * k)


def test_pages_scanned_turned_are_stood_upright_before_detection(prefect_harness, batch, tmp_path):
    """The batch's documents scanned upside down and sideways: the detector's page orienter turns each page
    upright, so every claim is decided as on the upright scan (the same signatures found, the same decisions),
    crops are cut upright, and the rows keep boxes in the stored (turned) page's pixels with the turn recorded."""
    from sigpipe.orient import turn_box

    data = batch["data"]
    docs = sorted(p.name for p in (data / "inbox").glob("*.pdf") if p.name != "broken.pdf")
    turns = {d: (2, 1, 3)[i % 3] for i, d in enumerate(docs)}  # 180, 90 and 270 degrees
    lake_up, lake_turned = tmp_path / "lake-up", tmp_path / "lake-turned"
    inbox, inbox_up = tmp_path / "inbox-turned", tmp_path / "inbox-up"
    _turned_inbox(data / "inbox", inbox, turns)
    _turned_inbox(data / "inbox", inbox_up, dict.fromkeys(turns, 0))  # the same scans, not turned
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("".join(line + "\n" for line in (data / "manifest.csv").read_text().splitlines()
                                if not line.startswith(("missing.pdf", "../"))))
    for lake, box in ((lake_up, inbox_up), (lake_turned, inbox)):
        enroll(EnrollParams(source=data / "references", lake=lake, verifier=DEFAULT_VERIFIER))
        audit(AuditParams(inbox=box, manifest=manifest, lake=lake, detector=DEFAULT_DETECTOR,
                          verifier=DEFAULT_VERIFIER))
    sql = ("SELECT document, claimed_signer, decision, page, nx0, ny0, nx1, ny1, sig_id FROM verdicts "
           "ORDER BY document, claimed_signer")
    up, turned = _rows(lake_up, sql), _rows(lake_turned, sql)
    assert [(v["document"], v["claimed_signer"], v["decision"]) for v in turned] == \
        [(v["document"], v["claimed_signer"], v["decision"]) for v in up]
    assert any(v["decision"] == "genuine" for v in turned)
    # the pages were turned back: every detections row of a turned document records the turn that undid it
    rows = _rows(lake_turned, "SELECT d.file_name, x.page_turn FROM detections x JOIN documents d USING (doc_id)")
    assert rows and all(r["page_turn"] == (-90 * turns[r["file_name"]]) % 360 for r in rows)
    assert {r["page_turn"] for r in _rows(lake_up, "SELECT page_turn FROM detections")} == {0}
    # boxes are in the stored page's pixels: the upright scan's box, turned as the page was
    for u, t in zip(up, turned, strict=True):
        if u["nx0"] is None:
            continue
        k = turns[u["document"]]
        expect = turn_box((u["nx0"], u["ny0"], u["nx1"], u["ny1"]), k, (1, 1))
        assert box_iou((t["nx0"], t["ny0"], t["nx1"], t["ny1"]), expect) > 0.8, (u, t)
    # crops are cut from the upright page: each the shape of the upright scan's crop of the same signature (the
    # same page and reading-order index), whatever the turn
    sql = ("SELECT d.file_name, s.page, s.box_index, s.crop_path, s.page_turn FROM signatures s "
           "JOIN documents d USING (doc_id) ORDER BY 1, 2, 3")
    crops_up, crops_turned = _rows(lake_up, sql), _rows(lake_turned, sql)
    assert [(c["file_name"], c["page"], c["box_index"]) for c in crops_turned] == \
        [(c["file_name"], c["page"], c["box_index"]) for c in crops_up]
    assert {c["page_turn"] for c in crops_turned} == {90, 180, 270}
    for u, t in zip(crops_up, crops_turned, strict=True):
        hu, wu = cv2.imread(str(lake_up / u["crop_path"]), cv2.IMREAD_GRAYSCALE).shape
        ht, wt = cv2.imread(str(lake_turned / t["crop_path"]), cv2.IMREAD_GRAYSCALE).shape
        assert abs(ht - hu) <= max(6, 0.1 * hu) and abs(wt - wu) <= max(6, 0.1 * wu), (u, t, (hu, wu), (ht, wt))


def test_signatures_of_pages_the_orienter_is_not_sure_of_are_not_decided(prefect_harness, batch, tmp_path,
                                                                         monkeypatch):
    """An orienter unsure of every page (each of its four answers gives every turn 0.25): the pages are left as they
    came and recorded page_turn_sure false; every claim answered by a signature is inconclusive whatever its score
    (never genuine, never forgery), with an evidence sheet that says why; no second look is taken on such pages;
    the catalogue makes none of their signatures a match or a member of a group; and a reference cut from such a
    page is not enrolled but recorded as a failure."""
    from sigpipe import orient

    monkeypatch.setattr(orient.Orienter, "_answers",
                        lambda self, squares, batch=32: np.full((len(squares), 4), 0.25, np.float32))
    data, lake = batch["data"], tmp_path / "lake"
    enroll(EnrollParams(source=data / "references", lake=lake, verifier=DEFAULT_VERIFIER))
    audit(AuditParams(inbox=data / "inbox", manifest=data / "manifest.csv", lake=lake, detector=DEFAULT_DETECTOR,
                      verifier=DEFAULT_VERIFIER))
    pages = _rows(lake, "SELECT page_turn, page_turn_sure FROM page_signatures")
    assert pages and all(p["page_turn"] == 0 and p["page_turn_sure"] is False for p in pages)
    assert {s["page_turn_sure"] for s in _rows(lake, "SELECT page_turn_sure FROM signatures")} == {False}
    verdicts = _rows(lake, "SELECT decision, sig_id, score, threshold, evidence_path FROM verdicts")
    decided = [v for v in verdicts if v["sig_id"] is not None]
    assert decided and all(v["decision"] == "inconclusive" and v["score"] is not None and v["evidence_path"]
                           for v in decided)
    assert {v["decision"] for v in verdicts} <= {"inconclusive", "no_signature", "unknown_signer"}
    assert all(v["sig_id"] is not None for v in verdicts if v["decision"] == "inconclusive")  # no second look
    sheet = cv2.imread(str(lake / decided[0]["evidence_path"]))
    assert sheet is not None and sheet.shape[0] > 100
    # the catalogue keeps their top-k scores, but none is a match or in a group of unknown writers
    res = catalog(CatalogParams(inbox=data / "inbox", lake=lake, detector=DEFAULT_DETECTOR, verifier=DEFAULT_VERIFIER))
    assert res["not_sure"] == res["signatures"] > 0 and res["matched"] == res["unknown"] == res["clusters"] == 0
    matches = _rows(lake, "SELECT is_match, cluster_id, score FROM matches")
    assert matches and not any(m["is_match"] or m["cluster_id"] for m in matches)
    assert all(m["score"] is not None for m in matches)
    # references cut from PDFs whose pages the orienter is not sure of are refused, each named
    docs, csv_path = _reference_pdfs(data, tmp_path / "refs", ["S0001", "S0002"])
    res = enroll(EnrollParams(source=csv_path, lake=tmp_path / "lake-pdf", verifier=DEFAULT_VERIFIER,
                              detector=DEFAULT_DETECTOR))
    assert res["references"] == 0
    assert sorted(Path(f["path"]).name for f in res["failed"]) == sorted(d.name for d in docs)
    assert all("not sure which way up" in f["reason"] for f in res["failed"])
