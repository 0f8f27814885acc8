"""Every view in storage/views, queried on one lake with checked results.

The lake is written by the real ingest and detect flows on a small synthetic batch (documents, pages, page
images, detections of a random-init detector that finds nothing, a failure, runs). What needs a trained model
(signature boxes, embeddings, references, verdicts, catalogue matches) is added as hand-written rows through
``storage.write_part``, on those same documents, together with the leftovers of runs that crashed or repeated
work, which the views must hide.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

import storage

DPI = 100
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
HAND = {"detector_name": "hand-det", "detector_version": "1"}
VER = {"model_name": "hand-ver", "model_version": "1"}
CHECKED = set()  # views with a test below; test_every_view_is_checked compares it with storage/views


def _checks(*views: str):
    CHECKED.update(views)
    return lambda f: f


def _q(con, sql: str, params: dict | None = None) -> list[dict]:
    return storage.query(con, sql, params).to_pylist()


@pytest.fixture(scope="module")
def lake(tmp_path_factory, prefect_harness):
    """Real flows, then hand-written rows for what a trained model would have written."""
    import torch
    from ultralytics import YOLO

    from flows.detect import detect
    from flows.ingest import ingest
    from flows.params import DetectParams, IngestParams
    from sigpipe.synth import generate
    from sigpipe.weights import write_card

    root = tmp_path_factory.mktemp("views")
    generate(root / "set", signers=2, documents=3, seed=4, dpi=DPI, references_per_signer=0, genuine_per_signer=0,
             forged_per_signer=0)
    inbox = root / "set" / "inbox"
    (inbox / "broken.pdf").write_bytes(b"")
    det = root / "det"
    det.mkdir()
    torch.manual_seed(0)
    YOLO("yolo11n.yaml").save(str(det / "detector.pt"))
    write_card(det, {"name": "rand-det", "version": "0", "kind": "detector", "weights": "detector.pt",
                     "input": {"imgsz": 320}, "thresholds": {"conf": 0.25, "iou": 0.7}})
    lake = root / "lake"
    ing = ingest(IngestParams(inbox=inbox, lake=lake, dpi=DPI))
    detect(DetectParams(inbox=inbox, lake=lake, dpi=DPI, detector=det))

    con = storage.connect(lake)
    docs = _q(con, "SELECT doc_id, file_name, n_pages, run_id FROM documents ORDER BY file_name")
    pages = _q(con, "SELECT doc_id, page, width, height FROM pages ORDER BY doc_id, page")
    con.close()
    a, b, c = docs  # three documents, in file-name order
    size = {(p["doc_id"], p["page"]): (p["width"], p["height"]) for p in pages}
    last = {d["doc_id"]: d["n_pages"] for d in docs}

    # detector "hand-det v1": doc a's last page has 2 signatures, doc b's last page 1, everything else none
    signed = {(a["doc_id"], last[a["doc_id"]]): [0.91, 0.62], (b["doc_id"], last[b["doc_id"]]): [0.75]}
    for d in docs:
        dets, sigs = [], []
        for p in range(1, d["n_pages"] + 1):
            confs = signed.get((d["doc_id"], p), [])
            w, h = size[(d["doc_id"], p)]
            dets.append({"page_id": f"{d['doc_id']}:{p}", "doc_id": d["doc_id"], "page": p,
                         "n_signatures": len(confs), "max_confidence": max(confs, default=None), "page_turn": 0, **HAND,
                         "run_id": "detect-hand", "created_at": T0})
            for k, conf in enumerate(confs):
                x0, y0 = 10 + 100 * k, h - 60
                sigs.append({"sig_id": f"{d['doc_id']}:{p}:{k}", "doc_id": d["doc_id"], "page": p, "box_index": k,
                             "x0": x0, "y0": y0, "x1": x0 + 80, "y1": y0 + 30, "nx0": x0 / w, "ny0": y0 / h,
                             "nx1": (x0 + 80) / w, "ny1": (y0 + 30) / h, "page_width": w, "page_height": h,
                             "dpi": DPI, "page_turn": 0, "confidence": conf,
                             "crop_path": f"blobs/crops/{d['doc_id']}-{p}-{k}.jpg", **HAND,
                             "run_id": "detect-hand", "created_at": T0})
        if sigs:
            storage.write_part(lake, "signatures", "detect-hand", d["doc_id"], sigs)
        storage.write_part(lake, "detections", "detect-hand", d["doc_id"], dets)
    # a crashed detect run: signatures of doc c written, its detections (the commit marker) never were
    cp = last[c["doc_id"]]
    w, h = size[(c["doc_id"], cp)]
    storage.write_part(lake, "signatures", "detect-crashed", c["doc_id"], [
        {"sig_id": f"{c['doc_id']}:{cp}:0", "doc_id": c["doc_id"], "page": cp, "box_index": 0, "x0": 1, "y0": 1,
         "x1": 9, "y1": 9, "nx0": 0.0, "ny0": 0.0, "nx1": 0.1, "ny1": 0.1, "page_width": w, "page_height": h,
         "dpi": DPI, "page_turn": 0, "confidence": 0.99, "crop_path": "blobs/x.jpg", **HAND, "run_id": "detect-crashed",
         "created_at": T0 + timedelta(hours=1)}])
    # a repeated detect of doc a by the same detector version later (a race): the first detections win
    storage.write_part(lake, "detections", "detect-again", a["doc_id"], [
        {"page_id": f"{a['doc_id']}:1", "doc_id": a["doc_id"], "page": 1, "n_signatures": 7, "max_confidence": 0.5,
         "page_turn": 0,
         **HAND, "run_id": "detect-again", "created_at": T0 + timedelta(hours=2)}])
    # a crashed ingest run re-rendered doc b's pages but never committed it: hidden by the pages view
    storage.write_part(lake, "pages", "ingest-crashed", b["doc_id"], [
        {"page_id": f"{b['doc_id']}:1", "doc_id": b["doc_id"], "page": 1, "width": 1, "height": 1, "dpi": DPI,
         "image_path": "blobs/nowhere.jpg", "run_id": "ingest-crashed", "created_at": T0}])

    sig_a0, sig_a1 = f"{a['doc_id']}:{last[a['doc_id']]}:0", f"{a['doc_id']}:{last[a['doc_id']]}:1"
    sig_b0 = f"{b['doc_id']}:{last[b['doc_id']]}:0"
    # embeddings: one per signature; a second, later embedding of sig_a0 by the same model is ignored
    storage.write_part(lake, "embeddings", "emb-1", "k1", [
        {"sig_id": s, **VER, "dim": 2, "embedding": e, "ink_fraction": 0.1, "run_id": "emb-1", "created_at": T0}
        for s, e in [(sig_a0, [1.0, 0.0]), (sig_a1, [0.0, 1.0]), (sig_b0, [0.6, 0.8])]])
    storage.write_part(lake, "embeddings", "emb-2", "k1", [
        {"sig_id": sig_a0, **VER, "dim": 2, "embedding": [0.0, -1.0], "ink_fraction": 0.2, "run_id": "emb-2",
         "created_at": T0 + timedelta(hours=1)}])
    # references: S0001 has two; re-enrolling ref r1 later replaces the row (the latest wins)
    ref = {"source_kind": "image", "sig_id": None, **VER, "dim": 2}
    storage.write_part(lake, "references", "enroll-1", "s1", [
        {"ref_id": "r1", "signer_id": "S0001", "source": "old/r1.png", "crop_path": "blobs/r1.jpg",
         "embedding": [1.0, 0.0], "run_id": "enroll-1", "enrolled_at": T0, **ref},
        {"ref_id": "r2", "signer_id": "S0001", "source": "r2.png", "crop_path": "blobs/r2.jpg",
         "embedding": [0.8, 0.6], "run_id": "enroll-1", "enrolled_at": T0, **ref}])
    storage.write_part(lake, "references", "enroll-2", "s1", [
        {"ref_id": "r1", "signer_id": "S0001", "source": "new/r1.png", "crop_path": "blobs/r1.jpg",
         "embedding": [1.0, 0.0], "run_id": "enroll-2", "enrolled_at": T0 + timedelta(days=1), **ref},
        {"ref_id": "r3", "signer_id": "S0002", "source": "r3.png", "crop_path": "blobs/r3.jpg",
         "embedding": [0.0, 1.0], "run_id": "enroll-2", "enrolled_at": T0 + timedelta(days=1), **ref},
        {"ref_id": "r4", "signer_id": "S0002", "source": "r4.png", "crop_path": "blobs/r4.jpg",
         "embedding": [0.6, 0.8], "run_id": "enroll-2", "enrolled_at": T0 + timedelta(days=1), **ref}])
    # withdrawals: r1 withdrawn before its re-enrolment (so back in use); r4 withdrawn twice (the last one is shown)
    def withdrawal(signer: str, ref_id: str, reason: str, who: str | None, t: datetime) -> dict:
        return {"signer_id": signer, "ref_id": ref_id, "reason": reason, "withdrawn_by": who, "run_id": "withdraw-1",
                "withdrawn_at": t}

    storage.write_part(lake, "withdrawals", "withdraw-1", "k", [
        withdrawal("S0001", "r1", "rescanned", None, T0 + timedelta(hours=6)),
        withdrawal("S0002", "r4", "another hand", "ann", T0 + timedelta(days=2)),
        withdrawal("S0002", "r4", "account closed", "bob", T0 + timedelta(days=3)),
        withdrawal("S0002", "r3", "too early", None, T0)])  # before r3 was enrolled: it stays in use

    # verdicts: two audit runs
    def verdict(run: str, doc: dict, sig: str | None, signer: str, decision: str, score: float | None,
                t: datetime, evidence: str | None = None) -> dict:
        page = int(sig.split(":")[1]) if sig else None
        return {"verdict_id": f"{doc['doc_id']}:{page or 0}:{sig.split(':')[2] if sig else '-'}:{signer}",
                "doc_id": doc["doc_id"], "document": doc["file_name"], "file_name": doc["file_name"], "page": page,
                "sig_id": sig,
                "claimed_signer": signer, "score": score, "threshold": 0.5 if score is not None else None,
                "threshold_kind": "writer" if score is not None else None, "decision": decision,
                "best_ref_id": "r1" if score is not None else None, "n_references": 2,
                "verifier_name": "hand-ver", "verifier_version": "1", **HAND, "evidence_path": evidence,
                "run_id": run, "created_at": t}

    t1, t2 = T0 + timedelta(days=2), T0 + timedelta(days=3)
    storage.write_part(lake, "verdicts", "audit-1", a["doc_id"], [
        verdict("audit-1", a, sig_a0, "S0001", "genuine", 0.9, t1),
        verdict("audit-1", a, sig_a1, "S0002", "forgery", 0.1, t1, "blobs/evidence/1.png")])
    storage.write_part(lake, "verdicts", "audit-1", b["doc_id"], [
        verdict("audit-1", b, sig_b0, "S0001", "inconclusive", 0.52, t1, "blobs/evidence/2.png")])
    storage.write_part(lake, "verdicts", "audit-2", c["doc_id"], [
        verdict("audit-2", c, None, "S0001", "no_signature", None, t2),
        verdict("audit-2", c, None, "S0009", "unknown_signer", None, t2)])
    storage.write_part(lake, "verdicts", "audit-2", b["doc_id"], [
        verdict("audit-2", b, sig_b0, "S0002", "forgery", 0.3, t2, "blobs/evidence/3.png")])

    # reviews: the audit-1 forgery on a1 confirmed; the audit-2 forgery on b0 first confirmed by ann, then found
    # genuine by bob (the later finding wins; the first stays as history)
    def finding(rid: str, sig: str, signer: str, outcome: str, who: str, t: datetime) -> dict:
        return {"review_id": rid, "verdict_id": f"{sig}:{signer}", "doc_id": sig.split(":")[0], "sig_id": sig,
                "claimed_signer": signer, "outcome": outcome, "reviewer": who, "note": None, "reviewed_at": t,
                "source": f"reviewed.csv:{rid}", "run_id": "review-1", "created_at": t}

    storage.write_part(lake, "reviews", "review-1", "k", [
        finding("1", sig_a1, "S0002", "forgery", "ann", t2 + timedelta(hours=1)),
        finding("2", sig_b0, "S0002", "forgery", "ann", t2 + timedelta(hours=1)),
        finding("3", sig_b0, "S0002", "genuine", "bob", t2 + timedelta(hours=5))])

    # catalogue: sig_a0 matches S0001 at rank 1 (S0002 rank 2, no match); sig_a1 and sig_b0 match nobody and
    # form one unknown writer w0001; a second cluster w0002 holds nothing from a committed document
    def match(sig: str, doc: dict, rank: int | None, signer: str | None, score: float | None, ok: bool,
              cluster: str | None) -> dict:
        return {"sig_id": sig, "doc_id": doc["doc_id"], "file_name": doc.get("file_name"),
                "page": int(sig.split(":")[1]), "rank": rank,
                "signer_id": signer, "score": score, "is_match": ok, "cluster_id": cluster,
                "verifier_name": "hand-ver", "verifier_version": "1", "run_id": "catalog-1", "created_at": t2}

    storage.write_part(lake, "matches", "catalog-1", a["doc_id"], [
        match(sig_a0, a, 1, "S0001", 0.95, True, None), match(sig_a0, a, 2, "S0002", 0.2, False, None),
        match(sig_a1, a, 1, "S0001", 0.3, False, "catalog-1:w0001"),
        match(sig_a1, a, 2, "S0002", 0.1, False, "catalog-1:w0001")])
    storage.write_part(lake, "matches", "catalog-1", b["doc_id"], [
        match(sig_b0, b, None, None, None, False, "catalog-1:w0001")])
    storage.write_part(lake, "matches", "catalog-1", "ghost", [
        {**match("f" * 64 + ":1:0", {"doc_id": "f" * 64}, None, None, None, False, "catalog-1:w0002")},
        # a rank-1 match of the same never-ingested document: not "signed by" anyone in documents_by_signer
        {**match("f" * 64 + ":1:1", {"doc_id": "f" * 64}, 1, "S0001", 0.99, True, None)}])
    return {"lake": lake, "det": det, "docs": docs, "pages": pages, "last": last, "ingest": ing, "sig": {
        "a0": sig_a0, "a1": sig_a1, "b0": sig_b0}}


@pytest.fixture()
def con(lake):
    c = storage.connect(lake["lake"])
    yield c
    c.close()


@_checks("documents", "pages", "document_summary")
def test_documents_pages_and_summary(lake, con):
    docs, pages = lake["docs"], lake["pages"]
    assert [d["file_name"] for d in docs] == sorted(d["file_name"] for d in docs) and len(docs) == 3
    assert all(d["file_name"].startswith("doc-") for d in docs)
    assert {d["run_id"] for d in docs} == {lake["ingest"]["run_id"]}
    # the crashed run's re-rendered page of doc b is hidden: each page once, at its real size
    rows = _q(con, "SELECT doc_id, page, width, height, run_id FROM pages ORDER BY doc_id, page")
    assert [(r["doc_id"], r["page"]) for r in rows] == [(p["doc_id"], p["page"]) for p in pages]
    assert all(r["width"] > 100 and r["run_id"] == lake["ingest"]["run_id"] for r in rows)
    assert len(rows) == sum(d["n_pages"] for d in docs) == lake["ingest"]["pages"]
    summary = _q(con, "SELECT * FROM document_summary")
    assert [s["file_name"] for s in summary] == [d["file_name"] for d in docs]
    for s, d in zip(summary, docs, strict=True):
        mine = [p for p in pages if p["doc_id"] == d["doc_id"]]
        assert s["n_pages"] == s["pages_stored"] == d["n_pages"] == len(mine)
        assert (s["max_width"], s["max_height"]) == (max(p["width"] for p in mine), max(p["height"] for p in mine))
        assert s["dpi"] == DPI and s["size_kib"] > 0


@_checks("detections", "signatures", "page_signatures", "unsigned_pages")
def test_detections_signatures_and_page_views(lake, con):
    a, b, c = (d["doc_id"] for d in lake["docs"])
    last = lake["last"]
    n_pages = sum(last.values())
    by_det = {r["detector_name"]: r["n"] for r in _q(con, "SELECT detector_name, count(*) AS n FROM detections "
                                                          "GROUP BY 1")}
    assert by_det == {"rand-det": n_pages, "hand-det": n_pages}  # the repeated detection of doc a is hidden
    first = _q(con, "SELECT n_signatures, run_id FROM detections WHERE page_id = $p AND detector_name = 'hand-det'",
               {"p": f"{a}:1"})
    assert first == [{"n_signatures": 2 if last[a] == 1 else 0, "run_id": "detect-hand"}]
    sigs = _q(con, "SELECT sig_id, confidence FROM signatures ORDER BY sig_id")
    assert [s["sig_id"] for s in sigs] == sorted(lake["sig"].values())  # the crashed run's doc-c box is hidden
    rows = _q(con, "SELECT file_name, page, n_signatures, max_confidence, doc_id FROM page_signatures "
                   "WHERE detector_name = 'hand-det' ORDER BY doc_id, page")
    expect = {(a, last[a]): (2, 0.91), (b, last[b]): (1, 0.75)}
    names = {d["doc_id"]: d["file_name"] for d in lake["docs"]}
    assert len(rows) == n_pages
    for r in rows:
        n, conf = expect.get((r["doc_id"], r["page"]), (0, None))
        assert (r["file_name"], r["n_signatures"]) == (names[r["doc_id"]], n)
        assert (r["max_confidence"] is None) if conf is None else r["max_confidence"] == pytest.approx(conf)
    unsigned = _q(con, "SELECT doc_id, page, detector_name FROM unsigned_pages ORDER BY detector_name, doc_id, page")
    assert [(u["doc_id"], u["page"]) for u in unsigned if u["detector_name"] == "hand-det"] == sorted(
        (r["doc_id"], r["page"]) for r in rows if (r["doc_id"], r["page"]) not in expect)
    assert sum(u["detector_name"] == "rand-det" for u in unsigned) == n_pages  # the random detector found none
    assert c not in {r["doc_id"] for r in rows if r["n_signatures"]}
    # the stored best confidence is the max over the page's committed signatures, null on unsigned pages (for the
    # real detect flow's random detector too, which found none)
    cols = [r[0] for r in con.sql("DESCRIBE page_signatures").fetchall()]
    assert cols == ["file_name", "page", "n_signatures", "max_confidence", "detector_name", "detector_version",
                    "doc_id", "page_id", "page_turn", "page_turn_sure"]
    assert _q(con, "SELECT DISTINCT page_turn FROM page_signatures") == [{"page_turn": 0}]
    # no orienter looked at these pages (hand-written rows and a stand-in detector without one)
    assert _q(con, "SELECT DISTINCT page_turn_sure FROM page_signatures") == [{"page_turn_sure": None}]
    off = _q(con, """
        SELECT x.page_id, x.detector_name, x.max_confidence, max(s.confidence) AS best
        FROM page_signatures AS x
        LEFT JOIN signatures AS s ON s.doc_id = x.doc_id AND s.page = x.page
           AND s.detector_name = x.detector_name AND s.detector_version = x.detector_version
        GROUP BY ALL
        HAVING x.max_confidence IS DISTINCT FROM max(s.confidence)""")
    assert off == []
    assert _q(con, "SELECT count(*) AS n FROM page_signatures WHERE (n_signatures = 0) != (max_confidence IS NULL)"
              ) == [{"n": 0}]


@_checks("embeddings", "references", "withdrawn_references", "withdrawals")
def test_embeddings_first_wins_and_references_latest_wins_unless_withdrawn(lake, con):
    emb = {r["sig_id"]: r for r in _q(con, "SELECT sig_id, embedding, run_id FROM embeddings")}
    assert set(emb) == set(lake["sig"].values())
    assert emb[lake["sig"]["a0"]]["embedding"] == [1.0, 0.0] and emb[lake["sig"]["a0"]]["run_id"] == "emb-1"
    refs = _q(con, 'SELECT signer_id, ref_id, source, run_id FROM "references" ORDER BY signer_id, ref_id')
    assert refs == [{"signer_id": "S0001", "ref_id": "r1", "source": "new/r1.png", "run_id": "enroll-2"},
                    {"signer_id": "S0001", "ref_id": "r2", "source": "r2.png", "run_id": "enroll-1"},
                    {"signer_id": "S0002", "ref_id": "r3", "source": "r3.png", "run_id": "enroll-2"}]
    gone = _q(con, "SELECT * FROM withdrawn_references")
    assert gone == [{"signer_id": "S0002", "ref_id": "r4", "source": "r4.png", "source_kind": "image", **VER,
                     "enrolled_at": T0 + timedelta(days=1), "withdrawn_at": T0 + timedelta(days=3),
                     "reason": "account closed", "withdrawn_by": "bob", "withdrawal_run_id": "withdraw-1"}]
    history = _q(con, "SELECT signer_id, ref_id, reason FROM withdrawals ORDER BY withdrawn_at")
    assert [(r["ref_id"], r["reason"]) for r in history] == [
        ("r3", "too early"), ("r1", "rescanned"), ("r4", "another hand"), ("r4", "account closed")]


@_checks("signers")
def test_signers_counts_references_withdrawals_and_verdicts(lake, con):
    t2 = T0 + timedelta(days=3)  # audit-2, the last verdicts' run
    zero = {"genuine": 0, "forgery": 0, "inconclusive": 0, "no_signature": 0, "unknown_signer": 0}
    assert _q(con, "SELECT * FROM signers") == [
        {"signer_id": "S0001", "references_in_use": 2, "references_withdrawn": 0, "first_enrolled_at": T0,
         "last_withdrawn_at": None,  # r1's withdrawal came before it was enrolled again
         "verdicts": 3, **zero, "genuine": 1, "inconclusive": 1, "no_signature": 1, "last_verdict_at": t2},
        {"signer_id": "S0002", "references_in_use": 1, "references_withdrawn": 1,
         "first_enrolled_at": T0 + timedelta(days=1), "last_withdrawn_at": T0 + timedelta(days=3), "verdicts": 2,
         **zero, "forgery": 2, "last_verdict_at": t2},
        {"signer_id": "S0009", "references_in_use": 0, "references_withdrawn": 0, "first_enrolled_at": None,
         "last_withdrawn_at": None, "verdicts": 1, **zero, "unknown_signer": 1, "last_verdict_at": t2}]


@_checks("verdicts", "audit_summary", "flagged")
def test_verdicts_audit_summary_and_flagged(lake, con):
    assert _q(con, "SELECT count(*) AS n, count(DISTINCT verdict_id) AS k FROM verdicts") == [{"n": 6, "k": 6}]
    summary = _q(con, "SELECT * EXCLUDE (audited_at) FROM audit_summary")
    assert summary == [
        {"run_id": "audit-1", "documents": 2, "signatures": 3, "claims": 3, "genuine": 1, "forgery": 1,
         "inconclusive": 1, "no_signature": 0, "unknown_signer": 0},
        {"run_id": "audit-2", "documents": 2, "signatures": 1, "claims": 3, "genuine": 0, "forgery": 1,
         "inconclusive": 0, "no_signature": 1, "unknown_signer": 1}]
    flagged = _q(con, "SELECT document, claimed_signer, decision, score, evidence_path FROM flagged")
    names = [d["file_name"] for d in lake["docs"]]
    # forgeries first, lowest score first, then the inconclusive, each with its evidence sheet; then the claim
    # whose signature was not found (nothing to score, nothing to show: still a case to look at)
    assert [(f["document"], f["claimed_signer"], f["decision"], f["score"] and round(f["score"], 2))
            for f in flagged][:3] == [(names[0], "S0002", "forgery", 0.1), (names[1], "S0002", "forgery", 0.3),
                                      (names[1], "S0001", "inconclusive", 0.52)]
    assert [(f["decision"], f["score"], f["evidence_path"]) for f in flagged[3:]] == [("no_signature", None, None)]
    assert all(f["evidence_path"] for f in flagged[:3])
    # a typical ad-hoc question with a bound value
    mine = _q(con, "SELECT document, decision FROM flagged WHERE claimed_signer = $s", {"s": "S0001"})
    assert mine[0] == {"document": names[1], "decision": "inconclusive"}
    assert mine[1:] == [{"document": f["document"], "decision": "no_signature"} for f in flagged[3:]
                        if f["claimed_signer"] == "S0001"]


@_checks("reviews", "review_queue", "review_outcomes")
def test_review_views(lake, con):
    c, sig = lake["docs"][2]["doc_id"], lake["sig"]
    hist = _q(con, "SELECT review_id, outcome, reviewer, superseded FROM reviews ORDER BY review_id")
    assert [(r["outcome"], r["reviewer"], r["superseded"]) for r in hist] == [
        ("forgery", "ann", False), ("forgery", "ann", True), ("genuine", "bob", False)]
    # flagged claims without a finding: the inconclusive on b0 and the claim whose signature was not found; the
    # verdict_id is what a review file names, and the flagged view gives it too
    queue = _q(con, "SELECT verdict_id, decision, claimed_signer FROM review_queue")
    assert queue == [{"verdict_id": f"{sig['b0']}:S0001", "decision": "inconclusive", "claimed_signer": "S0001"},
                     {"verdict_id": f"{c}:0:-:S0001", "decision": "no_signature", "claimed_signer": "S0001"}]
    flagged = {r["verdict_id"] for r in _q(con, "SELECT verdict_id FROM flagged")}
    assert {q["verdict_id"] for q in queue} < flagged and f"{sig['a1']}:S0002" in flagged
    out = _q(con, "SELECT verifier_version, decision, reviewed, found_genuine, found_forgery, agreed, false_alarms "
                  "FROM review_outcomes")
    assert out == [{"verifier_version": "1", "decision": "forgery", "reviewed": 2, "found_genuine": 1,
                    "found_forgery": 1, "agreed": 1, "false_alarms": 1}]


@_checks("matches", "documents_by_signer", "unknown_writers")
def test_catalogue_views(lake, con):
    names = {d["doc_id"]: d["file_name"] for d in lake["docs"]}
    a, b = lake["docs"][0]["doc_id"], lake["docs"][1]["doc_id"]
    assert _q(con, "SELECT count(*) AS n FROM matches") == [{"n": 7}]
    assert [r[0] for r in con.sql("DESCRIBE documents_by_signer").fetchall()] == [
        "signer_id", "file_name", "page", "source", "score", "run_id", "doc_id"]
    rows = _q(con, "SELECT signer_id, file_name, page, source, round(score::DOUBLE, 2) AS score "
                   "FROM documents_by_signer")
    # S0001: the genuine audit verdict and the catalogue's rank-1 match of the same signature (ordered by signer,
    # file, page); the inconclusive, the forgeries and non-matches are not "signed by"
    assert sorted(rows, key=lambda r: r["source"]) == [
        {"signer_id": "S0001", "file_name": names[a], "page": lake["last"][a], "source": "audit", "score": 0.9},
        {"signer_id": "S0001", "file_name": names[a], "page": lake["last"][a], "source": "catalog", "score": 0.95}]
    unknown = _q(con, "SELECT cluster_id, signatures, documents, files FROM unknown_writers")
    # the ghost cluster's document was never ingested: it is not listed
    assert unknown == [{"cluster_id": "catalog-1:w0001", "signatures": 2, "documents": 2,
                        "files": sorted([names[a], names[b]])}]


@_checks("unknown_writers", "documents_by_signer", "recatalogued", "latest_matches")
def test_an_archive_catalogued_again_by_another_verifier_version_lists_each_signature_once(lake, tmp_path):
    """After an upgrade, document a (not b) catalogued again by verifier version 2: S0001's match of a0 again, and
    a1, one of v1's unknown writer, now matched to S0002. recatalogued lists a0 and a1 with version 2;
    documents_by_signer lists a's documents once each, as v2 matched them; unknown_writers keeps v1's group for b0
    alone (b is not catalogued again), not a1 twice."""
    import shutil

    copy = tmp_path / "lake"
    shutil.copytree(lake["lake"], copy)
    names = {d["doc_id"]: d["file_name"] for d in lake["docs"]}
    a, b = lake["docs"][0]["doc_id"], lake["docs"][1]["doc_id"]
    sig = lake["sig"]
    t = T0 + timedelta(days=9)

    def match(s: str, rank: int, signer: str, score: float, ok: bool) -> dict:
        return {"sig_id": s, "doc_id": a, "file_name": names[a], "page": int(s.split(":")[1]), "rank": rank,
                "signer_id": signer, "score": score, "is_match": ok, "cluster_id": None, "verifier_name": "hand-ver",
                "verifier_version": "2", "run_id": "catalog-2", "created_at": t}

    def model(version: str, run: str, at: datetime) -> dict:  # as a catalogue registers its verifier
        return {"kind": "verifier", "name": "hand-ver", "version": version, "sha256": version * 64, "folder": "/m",
                "card": "{}", "run_id": run, "registered_at": at}

    storage.write_part(copy, "models", "catalog-1", "verifier", [model("1", "catalog-1", T0 + timedelta(days=3))])
    storage.write_part(copy, "matches", "catalog-2", a, [
        match(sig["a0"], 1, "S0001", 0.9, True), match(sig["a0"], 2, "S0002", 0.1, False),
        match(sig["a1"], 1, "S0002", 0.8, True), match(sig["a1"], 2, "S0001", 0.2, False)])
    c = storage.connect(copy)
    try:  # while models lists one verifier, recatalogued does not read matches (a flow registers before it writes)
        assert _q(c, "SELECT count(*) AS n FROM recatalogued") == [{"n": 0}]
    finally:
        c.close()
    storage.write_part(copy, "models", "catalog-2", "verifier", [model("2", "catalog-2", t)])
    c = storage.connect(copy)
    try:
        assert _q(c, "SELECT sig_id, verifier_name, verifier_version, catalogued_at FROM recatalogued "
                     "ORDER BY sig_id") == [
            {"sig_id": s, "verifier_name": "hand-ver", "verifier_version": "2", "catalogued_at": t}
            for s in sorted([sig["a0"], sig["a1"]])]
        assert _q(c, "SELECT signer_id, file_name, page, run_id, round(score::DOUBLE, 2) AS score "
                     "FROM documents_by_signer WHERE source = 'catalog' ORDER BY signer_id") == [
            {"signer_id": "S0001", "file_name": names[a], "page": lake["last"][a], "run_id": "catalog-2",
             "score": 0.9},
            {"signer_id": "S0002", "file_name": names[a], "page": int(sig["a1"].split(":")[1]), "run_id": "catalog-2",
             "score": 0.8}]
        assert _q(c, "SELECT cluster_id, signatures, documents, files, verifier_version FROM unknown_writers") == [
            {"cluster_id": "catalog-1:w0001", "signatures": 1, "documents": 1, "files": [names[b]],
             "verifier_version": "1"}]
        assert _q(c, "SELECT count(*) AS n FROM matches") == [{"n": 11}]  # the matches themselves are all kept
        # ... and latest_matches leaves out version 1's four rows of a0 and a1
        assert _q(c, "SELECT verifier_version, count(*) AS n FROM latest_matches GROUP BY 1 ORDER BY 1") == [
            {"verifier_version": "1", "n": 3}, {"verifier_version": "2", "n": 4}]
    finally:
        c.close()


@_checks("enrolled_signatures")
def test_a_writer_named_by_enrolling_their_signatures_is_no_longer_unknown(lake, tmp_path):
    """The unknown writer's signature on doc b enrolled as S0007's reference (twice: two verifier versions), its
    signature on doc a enrolled as S0008's and then withdrawn, a reference PDF's signature of S0009 and an image
    reference: enrolled_signatures lists the ones in use once each, named by their latest source and with the run
    that first enrolled them; documents_by_signer lists their documents; unknown_writers keeps only the signature
    whose naming was withdrawn."""
    import shutil

    copy = tmp_path / "lake"
    shutil.copytree(lake["lake"], copy)
    names = {d["doc_id"]: d["file_name"] for d in lake["docs"]}
    a, b = lake["docs"][0]["doc_id"], lake["docs"][1]["doc_id"]
    sig = lake["sig"]

    def ref(signer: str, sig_id: str, run: str, version: str, t: datetime, source: str) -> dict:
        return {"ref_id": sig_id, "signer_id": signer, "source": source, "source_kind": "pdf",
                "sig_id": sig_id, "crop_path": "blobs/c.png", "model_name": "hand-ver", "model_version": version,
                "dim": 2, "embedding": [1.0, 0.0], "run_id": run, "enrolled_at": t}

    t4 = T0 + timedelta(days=4)
    storage.write_part(copy, "references", "enroll-n1", "k", [
        ref("S0007", sig["b0"], "enroll-n1", "1", t4, f"/old/{names[b]}"),
        ref("S0008", sig["a1"], "enroll-n1", "1", t4, f"/archive/{names[a]}"),
        ref("S0009", "f" * 64 + ":1:0", "enroll-n1", "1", t4, "/cards/card-9.pdf"),  # a reference PDF's signature
        ref("S0009", "ref:" + "e" * 64, "enroll-n1", "1", t4, "/cards/old.png")])  # an old image reference's id
    storage.write_part(copy, "references", "audit-carry", "k", [  # an audit carried it to version 2; the carry
        ref("S0007", sig["b0"], "audit-carry", "2", T0 + timedelta(days=5), f"/archive/{names[b]}")])  # kept source
    storage.write_part(copy, "withdrawals", "withdraw-n", "k", [
        {"signer_id": "S0008", "ref_id": sig["a1"], "reason": "another hand", "withdrawn_by": None,
         "run_id": "withdraw-n", "withdrawn_at": T0 + timedelta(days=6)}])
    c = storage.connect(copy)
    try:
        assert _q(c, "SELECT signer_id, sig_id, doc_id, page, file_name, source, enrolled_at, run_id "
                     "FROM enrolled_signatures ORDER BY signer_id") == [
            {"signer_id": "S0007", "sig_id": sig["b0"], "doc_id": b, "page": lake["last"][b], "file_name": names[b],
             "source": f"/archive/{names[b]}", "enrolled_at": t4, "run_id": "enroll-n1"},
            {"signer_id": "S0009", "sig_id": "f" * 64 + ":1:0", "doc_id": "f" * 64, "page": 1,
             "file_name": "card-9.pdf", "source": "/cards/card-9.pdf", "enrolled_at": t4, "run_id": "enroll-n1"}]
        named = _q(c, "SELECT signer_id, file_name, page, source, score, run_id FROM documents_by_signer "
                      "WHERE source = 'reference'")
        assert named == [
            {"signer_id": "S0007", "file_name": names[b], "page": lake["last"][b], "source": "reference",
             "score": None, "run_id": "enroll-n1"},
            {"signer_id": "S0009", "file_name": "card-9.pdf", "page": 1, "source": "reference", "score": None,
             "run_id": "enroll-n1"}]
        assert _q(c, "SELECT cluster_id, signatures, documents, files FROM unknown_writers") == [
            {"cluster_id": "catalog-1:w0001", "signatures": 1, "documents": 1, "files": [names[a]]}]
    finally:
        c.close()


@_checks("failures", "runs")
def test_failures_and_runs_from_the_flows(lake, con):
    fails = _q(con, "SELECT path, flow, stage, reason FROM failures")
    assert len(fails) == 1 and fails[0]["path"].endswith("broken.pdf")
    assert (fails[0]["flow"], fails[0]["stage"], fails[0]["reason"]) == ("ingest", "render", "empty file (0 bytes)")
    runs = _q(con, "SELECT flow, status, n_inputs, n_processed, n_failed FROM runs ORDER BY started_at")
    assert runs == [{"flow": "ingest", "status": "partial", "n_inputs": 4, "n_processed": 3, "n_failed": 1},
                    {"flow": "detect", "status": "completed", "n_inputs": 3, "n_processed": 3, "n_failed": 0}]
    from sigpipe import __version__

    # which code made each run (CHANGELOG.md says what a version changed in the rows)
    assert _q(con, "SELECT DISTINCT sigpipe_version FROM runs") == [{"sigpipe_version": __version__}]


@_checks("models")
def test_models_registered_by_the_flows(lake, con):
    import json

    from sigpipe.weights import load_card

    card = load_card(lake["det"]).data
    rows = _q(con, "SELECT kind, name, version, sha256, folder, card, run_id FROM models")
    assert len(rows) == 1  # the detect flow's detector, once, though two tasks of the run asked for it
    r = rows[0]
    assert (r["kind"], r["name"], r["version"], r["sha256"]) == ("detector", "rand-det", "0", card["sha256"])
    assert r["folder"] == str(lake["det"].resolve()) and r["run_id"].startswith("detect-")
    assert json.loads(r["card"])["thresholds"] == {"conf": 0.25, "iou": 0.7}


def test_every_view_is_checked():
    assert set(storage.view_names()) == CHECKED, "a view in storage/views has no checked test in test_views.py"
