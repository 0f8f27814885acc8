"""Lake upkeep (storage/maintain.py): per-run audit counts and compaction of finished runs' partitions.

Lakes come from bench/sql.py's generator at a small size (the flows' layout: every table split into many parts
per run, every run finished with a ``runs`` row and its audit counts). Checked: the views answer exactly as
before compaction and as the previous view definitions did; compaction is idempotent, leaves unfinished runs
alone and keeps the lake owner-only; a compaction SIGKILLed at any point (mid-write, before or after the
directory swap, or at random moments) never shows a row twice or loses one, and the next compaction finishes.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import random
import shutil
import signal
import stat
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import storage

ROOT = Path(__file__).resolve().parents[1]

# The analyst views as they were defined before audit_counts and the rewrites in storage/views (same names and
# columns): the new definitions must give the same answers.
OLD_VIEWS = {
    "audit_summary": """
        SELECT run_id, min(created_at) AS audited_at, count(DISTINCT doc_id) AS documents,
            count(DISTINCT sig_id) AS signatures, count(*) AS claims,
            count(*) FILTER (WHERE decision = 'genuine') AS genuine,
            count(*) FILTER (WHERE decision = 'forgery') AS forgery,
            count(*) FILTER (WHERE decision = 'inconclusive') AS inconclusive,
            count(*) FILTER (WHERE decision = 'no_signature') AS no_signature,
            count(*) FILTER (WHERE decision = 'unknown_signer') AS unknown_signer
        FROM verdicts GROUP BY run_id ORDER BY audited_at""",
    "signatures": """
        WITH committed AS (SELECT DISTINCT doc_id, run_id, detector_name, detector_version FROM detections)
        SELECT s.* FROM _src_signatures AS s
        SEMI JOIN committed AS c ON s.doc_id = c.doc_id AND s.run_id = c.run_id
           AND s.detector_name = c.detector_name AND s.detector_version = c.detector_version""",
    "unsigned_pages": """
        SELECT file_name, page, detector_name, detector_version, doc_id, page_id
        FROM page_signatures WHERE n_signatures = 0""",
    # before detections.max_confidence: the best confidence aggregated over every signature
    "page_signatures": """
        WITH best AS (
            SELECT doc_id, page, detector_name, detector_version, max(confidence) AS max_confidence
            FROM signatures GROUP BY ALL)
        SELECT d.file_name, x.page, x.n_signatures, b.max_confidence, x.detector_name, x.detector_version,
            x.doc_id, x.page_id, x.page_turn, x.page_turn_sure
        FROM detections AS x
        JOIN documents AS d USING (doc_id)
        LEFT JOIN best AS b
            ON b.doc_id = x.doc_id AND b.page = x.page
           AND b.detector_name = x.detector_name AND b.detector_version = x.detector_version""",
    "documents": """
        WITH ranked AS (
            SELECT *, row_number() OVER (PARTITION BY doc_id ORDER BY ingested_at, run_id) AS rn FROM _src_documents)
        SELECT * EXCLUDE (rn) FROM ranked WHERE rn = 1""",
    "detections": """
        WITH ranked AS (
            SELECT *, row_number() OVER (
                PARTITION BY page_id, detector_name, detector_version ORDER BY created_at, run_id) AS rn
            FROM _src_detections)
        SELECT * EXCLUDE (rn) FROM ranked WHERE rn = 1""",
}
# documents_by_signer before verdicts and matches carried file_name: the name joined from documents
OLD_DOCUMENTS_BY_SIGNER = """
    WITH audited AS (
        SELECT claimed_signer AS signer_id, doc_id, page, 'audit' AS source, score, run_id
        FROM verdicts WHERE decision = 'genuine'),
    catalogued AS (
        SELECT signer_id, doc_id, page, 'catalog' AS source, score, run_id
        FROM matches WHERE rank = 1 AND is_match)
    SELECT x.signer_id, d.file_name, x.page, x.source, x.score, x.run_id, x.doc_id
    FROM (SELECT * FROM audited UNION ALL SELECT * FROM catalogued) AS x
    JOIN documents AS d USING (doc_id)
    ORDER BY x.signer_id, d.file_name, x.page"""
# views without ORDER BY: compared as multisets
UNORDERED = {"signatures", "unsigned_pages", "documents", "detections", "page_signatures"}


def _bench():
    spec = importlib.util.spec_from_file_location("bench_sql", ROOT / "bench" / "sql.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def small_lake(tmp_path_factory) -> Path:
    """2,000 verdicts over 200 documents and 30 runs per flow, every table in about 300 parts."""
    lake = tmp_path_factory.mktemp("maintain") / "lake"
    lake.mkdir()
    _bench().build_lake(lake, 2000, seed=3, small_parts=300, runs=30)
    return lake


@pytest.fixture()
def lake(small_lake, tmp_path) -> Path:
    dest = tmp_path / "lake"
    shutil.copytree(small_lake, dest)
    return dest


def _rows(con, sql: str) -> list[str]:
    """Rows as sorted JSON lines: a multiset, compared whole."""
    return sorted(json.dumps(r, sort_keys=True, default=str) for r in storage.query(con, sql).to_pylist())


def _answers(lake: Path) -> dict[str, list[str]]:
    con = storage.connect(lake)
    try:
        return {v: _rows(con, f'SELECT * FROM "{v}"') for v in storage.view_names()}
    finally:
        con.close()


def _files(lake: Path) -> dict[str, str]:
    return {str(p.relative_to(lake)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(lake.rglob("*.parquet"))}


def _assert_clean(lake: Path) -> None:
    """No partition shows both the merged file and parts; no hidden leftovers once a compaction finished."""
    for folder in lake.glob("*/run_id=*"):
        names = sorted(p.name for p in folder.glob("*.parquet"))
        assert storage.COMPACTED not in names or names == [storage.COMPACTED], folder


def _add_duplicates(lake: Path) -> None:
    """Documents and pages committed twice (racing runs), one copy earlier and one later than the original."""
    docs = storage.read_table(lake, "documents").slice(0, 4).to_pylist()
    dets = storage.read_table(lake, "detections").slice(0, 4).to_pylist()
    for k, (d, x) in enumerate(zip(docs, dets, strict=True)):
        shift = timedelta(hours=-1 if k % 2 else 1)
        storage.write_part(lake, "documents", "ingest-race", f"d{k}", [
            {**d, "file_name": f"race-{k}.pdf", "run_id": "ingest-race", "ingested_at": d["ingested_at"] + shift}])
        storage.write_part(lake, "detections", "detect-race", f"d{k}", [
            {**x, "n_signatures": 9, "run_id": "detect-race", "created_at": x["created_at"] + shift}])


def test_old_and_new_view_definitions_agree(lake):
    _add_duplicates(lake)
    con = storage.connect(lake)
    races = storage.query(con, "SELECT count(*) AS n FROM documents WHERE run_id = 'ingest-race'").to_pylist()
    assert races == [{"n": 2}]  # the two earlier copies win
    for name, old in OLD_VIEWS.items():
        new, was = storage.query(con, f'SELECT * FROM "{name}"'), storage.query(con, old)
        assert new.num_rows > 0 and new.schema == was.schema, name
        if name in UNORDERED:
            assert _rows(con, f'SELECT * FROM "{name}"') == _rows(con, old), name
        else:
            assert new.to_pylist() == was.to_pylist(), name  # same rows in the same order
    con.close()


def test_audit_summary_counts_runs_without_stored_counts(lake):
    """Runs killed before their counts were stored (or lakes from before audit_counts) are counted from verdicts."""
    con = storage.connect(lake)
    full = storage.query(con, OLD_VIEWS["audit_summary"]).to_pylist()
    con.close()
    runs = sorted(d for d in (lake / "audit_counts").glob("run_id=*"))
    assert len(runs) == len(full) == 30
    for d in runs[::2]:
        shutil.rmtree(d)
    con = storage.connect(lake)
    assert storage.query(con, "SELECT * FROM audit_summary").to_pylist() == full
    con.close()
    shutil.rmtree(lake / "audit_counts")
    con = storage.connect(lake)
    assert storage.query(con, "SELECT * FROM audit_summary").to_pylist() == full
    con.close()
    # compaction stores the missing counts of finished runs again
    assert storage.compact(lake, tables=[])["audit_counts"] == 30
    assert storage.read_table(lake, "audit_counts").num_rows == 30


def test_compaction_keeps_every_answer_and_is_idempotent(lake):
    before = _answers(lake)
    n_before = len(_files(lake))
    # an unfinished run (no runs row): its parts must stay as they are
    for key in ("x1", "x2"):
        storage.write_part(lake, "failures", "audit-running", key, [{
            "path": f"/in/{key}.pdf", "doc_id": None, "flow": "audit", "stage": "read", "error_type": "E",
            "reason": "r", "run_id": "audit-running", "created_at": datetime(2026, 1, 1, tzinfo=UTC)}])
    before = _answers(lake)
    done = storage.compact(lake)
    assert done["partitions"] > 0 and done["parts"] > done["partitions"]
    assert _answers(lake) == before
    _assert_clean(lake)
    running = sorted(p.name for p in (lake / "failures" / "run_id=audit-running").iterdir())
    assert running == ["part-x1.parquet", "part-x2.parquet"]
    for table in ("documents", "detections", "signatures", "verdicts", "matches"):
        for folder in (lake / table).glob("run_id=*"):
            assert [p.name for p in folder.iterdir()] == [storage.COMPACTED], folder
    assert len(_files(lake)) < n_before / 5
    # verdicts sorted by decision, then signer, inside each run's file (zone maps skip other decisions)
    for f in (lake / "verdicts").glob("run_id=*/*.parquet"):
        keys = pq.read_table(f, columns=["decision", "claimed_signer"]).to_pylist()
        assert keys == sorted(keys, key=lambda r: (r["decision"], r["claimed_signer"]))
    # a second compaction changes nothing; nothing left hidden; owner-only throughout
    files = _files(lake)
    assert storage.compact(lake) == {"partitions": 0, "parts": 0, "rows": 0, "audit_counts": 0, "leftovers": 0}
    assert _files(lake) == files
    assert not list(lake.glob("*/.compact-*"))
    for p in lake.glob("*/run_id=*/" + storage.COMPACTED):  # the generator's own folders are not owner-only
        assert stat.S_IMODE(p.stat().st_mode) == 0o600 and stat.S_IMODE(p.parent.stat().st_mode) == 0o700, p


def test_compaction_of_one_run_only(lake):
    runs = sorted(storage.finished_runs(lake))
    one = next(r for r in runs if r.startswith("audit-"))
    storage.compact(lake, runs=[one])
    assert [p.name for p in (lake / "verdicts" / f"run_id={one}").iterdir()] == [storage.COMPACTED]
    others = [d for d in (lake / "verdicts").glob("run_id=*") if d.name != f"run_id={one}"]
    assert others and all(storage.COMPACTED not in {p.name for p in d.iterdir()} for d in others)


# a child process that compacts the lake and SIGKILLs itself at the n-th time it reaches a given point
_CHILD = """
import os, signal, sys
sys.path.insert(0, {root!r})
import storage.maintain as m
lake, point, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
calls = [0]
def due():
    calls[0] += 1
    return calls[0] >= n
if point == "mid-write":
    real_write = m._write_compacted
    def write(dest, tbl, table):
        if due():  # half a file on disk, then death
            fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.write(fd, b"PAR1" + b"x" * 4096)
            os.kill(os.getpid(), signal.SIGKILL)
        real_write(dest, tbl, table)
    m._write_compacted = write
else:
    real_exchange = m._exchange
    def exchange(a, b):
        if point == "before-exchange" and due():
            os.kill(os.getpid(), signal.SIGKILL)
        real_exchange(a, b)
        if point == "after-exchange" and due():
            os.kill(os.getpid(), signal.SIGKILL)
    m._exchange = exchange
m.compact(lake)
"""


def _child(lake: Path, point: str, n: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", _CHILD.format(root=str(ROOT)), str(lake), point, str(n)],
                            cwd=ROOT, stderr=subprocess.PIPE, start_new_session=True)


@pytest.mark.slow
def test_compaction_killed_at_any_point_loses_and_duplicates_nothing(lake):
    reference = _answers(lake)
    killed = []
    for point, n in [("mid-write", 1), ("before-exchange", 2), ("after-exchange", 3), ("mid-write", 7),
                     ("after-exchange", 11)]:
        proc = _child(lake, point, n)
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == -signal.SIGKILL, err.decode()[-2000:]
        killed.append(point)
        assert list(lake.glob("*/.compact-*")), "a killed compaction leaves its hidden folder"
        _assert_clean(lake)
        assert _answers(lake) == reference, f"after a kill at {point} #{n}"
    # kills at random moments (the real code, no injected point), counted from the moment compact() is called:
    # a fixed delay from the process start raced the import time and the compaction's own speed
    rng = random.Random(5)
    for _ in range(4):
        proc = subprocess.Popen([sys.executable, "-c", f"import sys; sys.path.insert(0, {str(ROOT)!r}); "
                                 f"import storage; print('start', flush=True); storage.compact({str(lake)!r})"],
                                cwd=ROOT, start_new_session=True, stdout=subprocess.PIPE)
        assert proc.stdout.readline().strip() == b"start"
        time.sleep(rng.uniform(0.0, 0.2))
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            killed.append("random")
        proc.wait(timeout=300)
        proc.stdout.close()
        _assert_clean(lake)
        assert _answers(lake) == reference
    print("killed at", killed)
    assert killed.count("random") >= 2, killed
    storage.compact(lake)
    assert not list(lake.glob("*/.compact-*"))
    _assert_clean(lake)
    assert _answers(lake) == reference
    assert storage.compact(lake)["partitions"] == 0


def test_query_after_a_swap_under_an_open_connection(lake):
    """A connection made before compaction still answers afterwards (its views glob again at each query)."""
    con = storage.connect(lake)
    before = _rows(con, "SELECT * FROM verdicts")
    storage.compact(lake)
    assert _rows(con, "SELECT * FROM verdicts") == before
    con.close()


def test_a_finished_flow_run_compacts_its_own_partitions(prefect_harness, tmp_path):
    """The ingest flow's last write (tasks.common.record_run) leaves one owner-only file per table for its run."""
    from flows.ingest import ingest
    from flows.params import IngestParams
    from sigpipe.synth import generate

    generate(tmp_path / "set", signers=2, documents=3, seed=4, dpi=100, references_per_signer=0,
             genuine_per_signer=0, forged_per_signer=0)
    lake = tmp_path / "lake"
    res = ingest(IngestParams(inbox=tmp_path / "set" / "inbox", lake=lake, dpi=100))
    assert res["ingested"] == 3
    for table in ("documents", "pages"):
        folder = lake / table / f"run_id={res['run_id']}"
        assert [p.name for p in folder.iterdir()] == [storage.COMPACTED]
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        assert stat.S_IMODE((folder / storage.COMPACTED).stat().st_mode) == 0o600
    con = storage.connect(lake)
    assert storage.query(con, "SELECT count(*) AS n FROM documents").to_pylist() == [{"n": 3}]
    assert storage.query(con, "SELECT sum(pages_stored) AS n FROM document_summary").to_pylist() == [
        {"n": res["pages"]}]
    con.close()


def test_cli_compact(lake, tmp_path):
    from typer.testing import CliRunner

    from flows.cli import app

    before = _answers(lake)
    first = CliRunner().invoke(app, ["compact", "--lake", str(lake)])
    assert first.exit_code == 0, first.output
    assert json.loads(first.output)["partitions"] > 0
    again = CliRunner().invoke(app, ["compact", "--lake", str(lake)])
    assert json.loads(again.output)["partitions"] == 0
    assert _answers(lake) == before
    missing = CliRunner().invoke(app, ["compact", "--lake", str(tmp_path / "nope")])
    assert missing.exit_code == 2 and "does not exist" in missing.output


def test_a_changed_layout_is_applied_by_the_next_compaction(lake, monkeypatch):
    from storage import maintain

    storage.compact(lake)
    before = _answers(lake)
    n_runs = len(list((lake / "verdicts").glob("run_id=*")))
    f = next((lake / "verdicts").glob("run_id=*/" + storage.COMPACTED))
    meta = pq.ParquetFile(f).metadata  # one row group per decision, each holding one decision only
    decisions = pq.read_table(f, columns=["decision"]).column(0).unique().to_pylist()
    assert meta.num_row_groups == len(decisions)
    for g in range(meta.num_row_groups):
        st = meta.row_group(g).column(meta.schema.names.index("decision")).statistics
        assert st.min == st.max
    _, blooms, _ = maintain._LAYOUT["verdicts"]
    monkeypatch.setitem(maintain._LAYOUT, "verdicts", (["claimed_signer"], blooms, None))
    assert storage.compact(lake)["partitions"] == n_runs  # only the verdicts are merged again
    assert pq.ParquetFile(f).metadata.num_row_groups == 1
    assert _answers(lake) == before
    assert storage.compact(lake)["partitions"] == 0


def test_upgrade_brings_old_detections_files_to_the_present_schema(lake):
    """A lake written before detections.max_confidence existed: every views' answer after the upgrade equals the
    answer from the same lake written with it; a second upgrade rewrites nothing."""
    before = _answers(lake)
    files = sorted((lake / "detections").glob("run_id=*/*.parquet"))
    for f in files:  # as an older sigpipe wrote them: no max_confidence column
        tbl = pq.read_table(f)
        pq.write_table(tbl.drop_columns(["max_confidence"]), f)
    assert all("max_confidence" not in pq.read_schema(f).names for f in files)
    assert storage.upgrade(lake) == len(files)
    assert all("max_confidence" in pq.read_schema(f).names for f in files)
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)
    assert _answers(lake) == before
    assert (lake / ".schema-version").read_text().strip() == str(storage.SCHEMA_VERSION)  # next calls: one read
    assert storage.upgrade(lake) == 0



@pytest.mark.parametrize(("column", "old", "version"), [
    ("page_turn", pa.array([0], pa.int32()), 4),  # version 5: no detector turned pages before, so 0
    ("page_turn_sure", pa.nulls(1, pa.bool_()), 5),  # version 6: what the orienter made of a page was not kept
])
def test_upgrade_gives_old_detections_and_signatures_the_turn_columns(lake, column, old, version):
    """A lake from before ``column`` of detections and signatures: after the upgrade every file has it, with the
    value old rows get on every row, and the other answers are the same."""
    files = {t: sorted((lake / t).glob("run_id=*/*.parquet")) for t in ("detections", "signatures")}
    for fs in files.values():  # as they read after the upgrade: the old rows' value
        for f in fs:
            tbl = pq.read_table(f)
            tbl = tbl.set_column(tbl.schema.get_field_index(column), column,
                                 pa.repeat(old[0], tbl.num_rows).cast(old.type))
            pq.write_table(tbl, f)
    before = _answers(lake)
    for fs in files.values():
        _drop_column(fs, column)
    (lake / ".schema-version").write_text(f"{version}\n")
    assert storage.upgrade(lake) == sum(len(fs) for fs in files.values())
    for fs in files.values():
        for f in fs:
            col = pq.read_table(f, columns=[column]).column(column)
            assert col.type == old.type and col.to_pylist() == [old[0].as_py()] * len(col)
    assert _answers(lake) == before
    assert storage.upgrade(lake) == 0


def test_a_lake_a_newer_sigpipe_wrote_is_refused_and_left_as_it_is(lake):
    """An older sigpipe must not mark a newer lake as its own version (it would not know what the newer tables,
    withdrawals for one, hide): it refuses the lake and writes nothing."""
    newer = storage.SCHEMA_VERSION + 1
    (lake / ".schema-version").write_text(f"{newer}\n")
    files = _files(lake)
    with pytest.raises(storage.LakeTooNew, match=f"schema version {newer}.*upgrade sigpipe"):
        storage.upgrade(lake)
    assert _files(lake) == files and (lake / ".schema-version").read_text() == f"{newer}\n"


def test_upgrade_from_before_max_confidence_also_adds_page_turn(lake):
    """A detections file from before both columns: the max_confidence rewrite gives it page_turn too, and the
    page_turn step then leaves it alone (each file rewritten once)."""
    files = sorted((lake / "detections").glob("run_id=*/*.parquet"))
    _drop_column(files, "max_confidence")
    _drop_column(files, "page_turn")
    (lake / ".schema-version").unlink(missing_ok=True)
    sig_files = sorted((lake / "signatures").glob("run_id=*/*.parquet"))
    assert storage.upgrade(lake) == len(files)  # the signatures files have page_turn already
    assert all({"max_confidence", "page_turn"} <= set(pq.read_schema(f).names) for f in files)
    assert all("page_turn" in pq.read_schema(f).names for f in sig_files)


def _drop_column(files: list[Path], column: str) -> None:
    """As an older sigpipe wrote them: the same rows in the same order without ``column``."""
    for f in files:
        pq.write_table(pq.read_table(f).drop_columns([column]), f)


def test_upgrade_gives_old_verdicts_and_matches_the_documents_file_name(lake):
    """A schema-2 lake (verdicts and matches without file_name, some runs merged, two documents committed twice
    under other names, a verdict and a match of a document the lake does not know): after the upgrade every file
    has file_name, equal to the name the documents view gives the doc_id (null when unknown); merged files keep
    their layout; documents_by_signer answers as its old definition (a join with documents) does, and every other
    view as before; a second upgrade, with or without the version marker, rewrites nothing."""
    from storage import maintain

    _add_duplicates(lake)  # the documents view now gives two documents the names race-1.pdf and race-3.pdf
    raced = {r["doc_id"]: r["file_name"] for r in storage.read_table(lake, "documents").to_pylist()
             if r["file_name"] in ("race-1.pdf", "race-3.pdf")}
    doc, ghost = sorted(raced)[0], "f" * 64  # a raced document, and one never ingested
    verdicts, matches = storage.read_table(lake, "verdicts"), storage.read_table(lake, "matches")
    v = verdicts.filter(pc.equal(verdicts.column("decision"), "genuine")).slice(0, 1).to_pylist()[0]
    m = matches.filter(pc.and_(matches.column("is_match"), pc.equal(matches.column("rank"), 1))).slice(0, 1)
    m = m.to_pylist()[0]
    storage.write_part(lake, "verdicts", v["run_id"], "extra", [
        {**v, "verdict_id": f"{d}:x", "doc_id": d, "file_name": None} for d in (doc, ghost)])
    storage.write_part(lake, "matches", m["run_id"], "extra", [
        {**m, "sig_id": f"{d}:2:9", "doc_id": d, "file_name": None} for d in (doc, ghost)])
    runs = sorted(storage.finished_runs(lake))
    storage.compact(lake, runs=runs[::2])  # half the runs merged (sorted, split, Bloom filters), half in parts
    con = storage.connect(lake)
    want = storage.query(con, OLD_DOCUMENTS_BY_SIGNER).to_pylist()
    others = {n: _rows(con, f'SELECT * FROM "{n}"') for n in storage.view_names()
              if n not in ("verdicts", "matches", "latest_matches", "documents_by_signer")}
    con.close()
    assert sum(r["doc_id"] == doc and r["file_name"] == raced[doc] for r in want) >= 2  # audit and catalogue

    old = sorted((lake / "verdicts").glob("run_id=*/*.parquet")) + sorted((lake / "matches").glob("run_id=*/*.parquet"))
    merged = {f: pq.ParquetFile(f).metadata.num_row_groups for f in old if f.name == storage.COMPACTED}
    assert merged and len(merged) < len(old)
    _drop_column(old, "file_name")
    assert all(maintain._is_current(f, f.parent.parent.name) for f in merged)  # the tag travels with the rows
    (lake / ".schema-version").write_text("2\n")  # brought to version 2 before
    with pytest.raises(RuntimeError, match="older sigpipe"):  # the views cannot be made over the old files
        storage.connect(lake)

    assert storage.upgrade(lake) == len(old)
    assert all("file_name" in pq.read_schema(f).names for f in old)
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in old)
    for f in merged:  # merged files stay merged (row groups, tag): the next compaction leaves them
        assert pq.ParquetFile(f).metadata.num_row_groups == merged[f]
        assert maintain._is_current(f, f.parent.parent.name)
    assert storage.compact(lake, runs=runs[::2])["partitions"] == 0
    con = storage.connect(lake)
    for table in ("verdicts", "matches", "latest_matches"):  # latest_matches: the rows of matches, as they are now
        off = storage.query(con, f"SELECT count(*) AS n FROM {table} AS x LEFT JOIN documents AS d USING (doc_id) "
                                 "WHERE x.file_name IS DISTINCT FROM d.file_name").to_pylist()
        assert off == [{"n": 0}], table
        named = storage.query(con, f"SELECT DISTINCT doc_id, file_name FROM {table} WHERE doc_id IN ($a, $g)",
                              {"a": doc, "g": ghost}).to_pylist()
        assert sorted(named, key=str) == sorted([{"doc_id": doc, "file_name": raced[doc]},
                                                 {"doc_id": ghost, "file_name": None}], key=str), table
    got = storage.query(con, "SELECT * FROM documents_by_signer").to_pylist()
    assert [c[0] for c in con.sql("DESCRIBE documents_by_signer").fetchall()] == [
        "signer_id", "file_name", "page", "source", "score", "run_id", "doc_id"]
    key = [(r["signer_id"], r["file_name"], r["page"]) for r in got]
    assert key == sorted(key)  # ORDER BY signer_id, file_name, page
    assert ghost not in {r["doc_id"] for r in got}  # a document the lake does not know is not listed, as before
    assert _rows(con, "SELECT * FROM documents_by_signer") == sorted(
        json.dumps(r, sort_keys=True, default=str) for r in want)
    assert {n: _rows(con, f'SELECT * FROM "{n}"') for n in others} == others
    con.close()

    assert (lake / ".schema-version").read_text().strip() == str(storage.SCHEMA_VERSION) == "7"
    files = _files(lake)
    assert storage.upgrade(lake) == 0
    (lake / ".schema-version").unlink()  # without the marker: one footer read per file, nothing rewritten
    assert storage.upgrade(lake) == 0
    assert _files(lake) == files


def test_upgrade_counts_the_second_looks_boxes_in_stored_audit_counts(lake):
    """A run audited by 0.3.0 stored its counts with ``signatures`` = distinct sig_ids, leaving out the boxes its
    second look decided genuine (no sig_id). Version 4 counts that run again, and only that run; the view counts
    such a run the same way when it has no stored counts."""
    verdicts = storage.read_table(lake, "verdicts")
    v = verdicts.filter(pc.equal(verdicts.column("decision"), "genuine")).slice(0, 1).to_pylist()[0]
    run = v["run_id"]
    storage.write_part(lake, "verdicts", run, "second-look", [
        {**v, "verdict_id": f"{v['doc_id']}:2:second-{k}:S0", "sig_id": None, "claimed_signer": "S0"} for k in (0, 1)])
    storage.write_audit_counts(lake, run)
    stored = storage.read_table(lake, "audit_counts").to_pylist()
    ours = next(r for r in stored if r["run_id"] == run)
    sig_ids = {r["sig_id"] for r in verdicts.to_pylist() if r["run_id"] == run and r["sig_id"] is not None}
    assert ours["signatures"] == len(sig_ids) + 2
    part = next((lake / "audit_counts" / f"run_id={run}").glob("*.parquet"))
    # as 0.3.0 stored it: the two boxes missing from signatures
    storage.write_part(lake, "audit_counts", run, part.stem.removeprefix("part-"),
                       [{**ours, "signatures": ours["signatures"] - 2}])
    (lake / ".schema-version").write_text("3\n")
    others = {p: p.read_bytes() for p in (lake / "audit_counts").rglob("*.parquet") if f"run_id={run}" not in str(p)}
    assert storage.upgrade(lake) == 1
    assert {p: p.read_bytes() for p in others} == others  # the other runs' counts are not rewritten
    con = storage.connect(lake)
    got = storage.query(con, "SELECT * FROM audit_summary WHERE run_id = $r", {"r": run}).to_pylist()
    con.close()
    assert got[0]["signatures"] == ours["signatures"] and got[0]["genuine"] == ours["genuine"]
    shutil.rmtree(lake / "audit_counts" / f"run_id={run}")  # counted by the view from verdicts: the same answer
    con = storage.connect(lake)
    assert storage.query(con, "SELECT * FROM audit_summary WHERE run_id = $r", {"r": run}).to_pylist() == got
    con.close()
    assert (lake / ".schema-version").read_text().strip() == str(storage.SCHEMA_VERSION) and storage.upgrade(lake) == 0
