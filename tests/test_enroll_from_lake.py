"""Signatures the lake holds, enrolled as references by sig_id: an archive's unknown writer named, a signature a
reviewer found forged refused. Real flows and models on synthetic PDFs with known truth."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from lake_helpers import files as _files
from lake_helpers import rows as _rows

from flows.audit import audit
from flows.catalog import catalog
from flows.enroll import enroll
from flows.params import DEFAULT_DETECTOR, DEFAULT_VERIFIER, AuditParams, CatalogParams, EnrollParams, ReviewParams
from flows.review import review
from sigpipe.detect import box_iou

pytestmark = pytest.mark.slow


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


@pytest.fixture(scope="module")
def archive(tmp_path_factory, prefect_harness):
    """Three writers; only S0001 and S0002 enrolled. The documents split into two archive boxes, the first one
    catalogued; ``truth``: every signature written, (document, page, normalised box, writer, claimed, genuine)."""
    from sigpipe.synth import generate

    root = tmp_path_factory.mktemp("named")
    data = root / "data"
    generate(data, signers=3, documents=12, seed=31)
    refs = root / "refs"
    for s in ("S0001", "S0002"):
        shutil.copytree(data / "references" / s, refs / s)
    docs = sorted(p.name for p in (data / "inbox").glob("*.pdf"))
    boxes = {}
    for i, names in enumerate((docs[: len(docs) // 2], docs[len(docs) // 2 :])):
        boxes[i] = root / f"box{i}"
        boxes[i].mkdir()
        for n in names:
            shutil.copy(data / "inbox" / n, boxes[i] / n)
    truth = []
    for f in sorted((data / "truth").glob("*.json")):
        t = json.loads(f.read_text())
        for pg in t["pages"]:
            truth += [(t["document"], pg["page"], sig["box_norm"], sig["signer_id"], sig["claimed_signer_id"],
                       sig["genuine"]) for sig in pg["signatures"]]
    lake = root / "lake"
    enroll(EnrollParams(source=refs, lake=lake, verifier=DEFAULT_VERIFIER))
    catalog(CatalogParams(inbox=boxes[0], lake=lake, detector=DEFAULT_DETECTOR, verifier=DEFAULT_VERIFIER, top_k=2))
    return {"root": root, "data": data, "boxes": boxes, "docs": docs, "truth": truth, "lake": lake}


def _sig_ids(lake: Path, truth: list, writer: str, in_box: set[str]) -> dict[str, str]:
    """sig_id -> document of each signature ``writer`` wrote in the given documents that the detector found."""
    sigs = _rows(lake, "SELECT sig_id, file_name, page, nx0, ny0, nx1, ny1 FROM signatures s "
                       "JOIN documents USING (doc_id)")
    found = {}
    for doc, page, box, who, _claimed, _genuine in truth:
        if who != writer or doc not in in_box:
            continue
        for s in sigs:
            if (s["file_name"], s["page"]) == (doc, page) and box_iou((s["nx0"], s["ny0"], s["nx1"], s["ny1"]),
                                                                      box) > 0.5:
                found[s["sig_id"]] = doc
    return found


def test_the_next_box_of_an_unknown_writer_joins_the_group_the_first_box_made(archive, tmp_path):
    """The archive catalogued box by box: S0003 (enrolled by no one) wrote in both boxes. The second box's
    catalogue puts S0003's signatures in the group the first box's catalogue made of S0003's (its cluster_id kept),
    so unknown_writers lists one writer for both boxes; a rerun of the second box adds nothing. (Defined before the
    test that names S0003, on a copy of the lake as the first box left it.)"""
    lake = tmp_path / "lake"
    shutil.copytree(archive["lake"], lake)
    assert not _rows(lake, 'SELECT 1 FROM "references" WHERE signer_id = $s', {"s": "S0003"})
    half = len(archive["docs"]) // 2
    first, second = set(archive["docs"][:half]), set(archive["docs"][half:])
    before = _sig_ids(lake, archive["truth"], "S0003", first)
    groups = {r["cluster_id"] for r in _rows(lake, "SELECT DISTINCT cluster_id FROM matches "
                                                   "WHERE list_contains($s, sig_id)", {"s": list(before)})}
    assert len(groups) == 1 and None not in groups  # the first box: one unknown writer

    res = catalog(CatalogParams(inbox=archive["boxes"][1], lake=lake, detector=DEFAULT_DETECTOR,
                                verifier=DEFAULT_VERIFIER, top_k=2))
    later = _sig_ids(lake, archive["truth"], "S0003", second)
    assert later
    got = _rows(lake, "SELECT DISTINCT sig_id, cluster_id, run_id FROM matches WHERE list_contains($s, sig_id)",
                {"s": list(later)})
    assert {g["cluster_id"] for g in got} == groups and {g["run_id"] for g in got} == {res["run_id"]}
    assert res["joined"] >= len(later)
    (listed,) = [u for u in _rows(lake, "SELECT cluster_id, signatures, files FROM unknown_writers")
                 if u["cluster_id"] in groups]
    assert listed["signatures"] == len(before) + len(later)
    assert set(listed["files"]) == set(before.values()) | set(later.values())

    files = _files(lake)
    again = catalog(CatalogParams(inbox=archive["boxes"][1], lake=lake, detector=DEFAULT_DETECTOR,
                                  verifier=DEFAULT_VERIFIER, top_k=2))
    assert again["signatures"] == 0 and _files(lake) == files


def test_an_unknown_writer_named_by_sig_id_is_enrolled_listed_and_recognised(archive):
    """The catalogue groups S0003's signatures as an unknown writer; the archivist enrols that group's signatures
    as S0003 (a CSV exported from unknown_writers' matches). They become S0003's references, cut from the stored
    crops; documents_by_signer lists their documents under S0003 and unknown_writers no longer lists them; a sig_id
    the lake does not hold is a failure and the rest goes on; enrolling the file again writes nothing; and the
    next archive box's signatures by S0003 are catalogued as S0003's."""
    lake, truth = archive["lake"], archive["truth"]
    first, second = set(archive["docs"][: len(archive["docs"]) // 2]), set(archive["docs"][len(archive["docs"]) // 2 :])
    written = _sig_ids(lake, truth, "S0003", first)
    assert len(written) >= 2
    clusters = _rows(lake, "SELECT DISTINCT sig_id, cluster_id FROM matches WHERE list_contains($s, sig_id)",
                     {"s": list(written)})
    assert len(clusters) == len(written) and all(c["cluster_id"] for c in clusters)  # unknown to the catalogue
    group = _rows(lake, "SELECT DISTINCT sig_id FROM matches WHERE list_contains($c, cluster_id) ORDER BY 1",
                  {"c": sorted({c["cluster_id"] for c in clusters})})
    assert {g["sig_id"] for g in group} == set(written)  # the catalogue grouped them, and only them, together
    named = _write_csv(archive["root"] / "named.csv", ["sig_id", "signer_id"],
                       [[g["sig_id"], "S0003"] for g in group] + [[group[0]["sig_id"], "S0003"]]  # given twice
                       + [["0" * 64 + ":1:0", "S0003"]])
    res = enroll(EnrollParams(source=named, lake=lake, verifier=DEFAULT_VERIFIER))
    assert (res["references"], res["already_enrolled"], res["signers"]) == (len(written), 1, 1)
    assert [f["reason"] for f in res["failed"]] == [f"no signature {'0' * 64}:1:0 in the lake"]
    assert _rows(lake, "SELECT path, stage FROM failures WHERE flow = 'enroll'") == [
        {"path": f"{named}:{len(group) + 3} ({'0' * 64}:1:0)", "stage": "lookup"}]
    assert _rows(lake, 'SELECT count(*) AS n FROM _src_references WHERE signer_id = $s', {"s": "S0003"}) == [
        {"n": len(written)}]  # each once in the files, not only in the view
    refs = _rows(lake, 'SELECT ref_id, sig_id, source, source_kind FROM "references" WHERE signer_id = $s',
                 {"s": "S0003"})
    assert {r["ref_id"] for r in refs} == {r["sig_id"] for r in refs} == set(written)
    assert all(r["source_kind"] == "pdf" and Path(r["source"]).name == written[r["sig_id"]] for r in refs)
    listed = _rows(lake, "SELECT file_name, source FROM documents_by_signer WHERE signer_id = 'S0003'")
    assert {r["file_name"] for r in listed} == set(written.values()) and {r["source"] for r in listed} == {"reference"}
    still = _rows(lake, "SELECT DISTINCT m.sig_id FROM matches m JOIN unknown_writers u USING (cluster_id) "
                        "WHERE list_contains($s, m.sig_id)", {"s": list(written)})
    assert still == []  # named: the writer is no longer unknown

    before = _files(lake)
    again = enroll(EnrollParams(source=named, lake=lake, verifier=DEFAULT_VERIFIER))
    assert again["references"] == 0 and again["already_enrolled"] == len(written) + 1
    assert _files(lake) == before

    catalog(CatalogParams(inbox=archive["boxes"][1], lake=lake, detector=DEFAULT_DETECTOR, verifier=DEFAULT_VERIFIER,
                          top_k=2))
    later = _sig_ids(lake, truth, "S0003", second)
    assert later
    top = _rows(lake, "SELECT sig_id, signer_id, is_match FROM matches WHERE rank = 1 AND list_contains($s, sig_id)",
                {"s": list(later)})
    assert {(t["signer_id"], t["is_match"]) for t in top} == {("S0003", True)} and len(top) == len(later)


def test_reviewed_signatures_are_enrolled_only_as_the_hand_the_reviewer_found(archive, tmp_path):
    """The first box audited against its manifest; a forged claim reviewed as forgery and a genuine one as genuine.
    The genuine signature is enrolled as its signer's reference (the fraud team confirming a cheque); enrolling it
    as anyone else's, or the forged one as the claimed signer's, is refused with a failures row each."""
    data, lake = archive["data"], tmp_path / "lake"
    shutil.copytree(archive["lake"], lake)
    first = set(archive["docs"][: len(archive["docs"]) // 2])
    with open(data / "manifest.csv", newline="") as f:
        claims = [r for r in csv.DictReader(f) if r["document"] in first]
    manifest = _write_csv(tmp_path / "manifest.csv", ["document", "signer_id", "page"],
                          [[r["document"], r["signer_id"], r["page"]] for r in claims])
    audit(AuditParams(inbox=archive["boxes"][0], manifest=manifest, lake=lake, detector=DEFAULT_DETECTOR,
                      verifier=DEFAULT_VERIFIER))

    def claim(genuine: bool) -> tuple[str, str, str]:
        """(sig_id, claimed signer, verdict_id) of the first such claim in the first box the audit found."""
        for doc, _p, _b, who, claimed, real in archive["truth"]:
            if doc in first and real == genuine and claimed in ("S0001", "S0002"):
                for sig in _sig_ids(lake, archive["truth"], who, {doc}):
                    v = _rows(lake, "SELECT verdict_id FROM verdicts WHERE sig_id = $s AND claimed_signer = $c",
                              {"s": sig, "c": claimed})
                    if v:
                        return sig, claimed, v[0]["verdict_id"]
        raise AssertionError(f"no {'genuine' if genuine else 'forged'} claim with a signature found")

    forged, genuine = claim(False), claim(True)
    review(ReviewParams(file=_write_csv(tmp_path / "reviewed.csv", ["verdict_id", "outcome"],
                                        [[forged[2], "forgery"], [genuine[2], "genuine"]]), lake=lake,
                        reviewer="desk"))
    other = "S0001" if genuine[1] == "S0002" else "S0002"
    res = enroll(EnrollParams(source=_write_csv(tmp_path / "more.csv", ["sig_id", "signer_id"],
                                                [[forged[0], forged[1]], [genuine[0], genuine[1]],
                                                 [genuine[0], other]]),
                              lake=lake, verifier=DEFAULT_VERIFIER))
    assert res["references"] == 1
    assert [f["reason"] for f in res["failed"]] == [
        f"a reviewer found this signature forged (claimed as {forged[1]}'s); not enrolled",
        f"a reviewer found this signature genuine as {genuine[1]}'s; not enrolled as {other}'s"]
    refs = _rows(lake, 'SELECT signer_id, ref_id FROM "references" WHERE list_contains($s, ref_id)',
                 {"s": [forged[0], genuine[0]]})
    assert refs == [{"signer_id": genuine[1], "ref_id": genuine[0]}]
