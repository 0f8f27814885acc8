from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from sigpipe.manifest import (
    ManifestError,
    check_manifest,
    inside,
    read_audit_manifest,
    read_enroll_manifest,
    read_review_manifest,
)


def test_audit_manifest_edge_cases(tmp_path):
    inbox = tmp_path / "inbox"
    (inbox / "sub").mkdir(parents=True)
    (inbox / "a.pdf").write_bytes(b"%PDF-")
    (inbox / "sub" / "b.pdf").write_bytes(b"%PDF-")
    (tmp_path / "outside.pdf").write_bytes(b"%PDF-")
    m = tmp_path / "m.csv"
    m.write_text("document,signer_id,page\n"
                 "a.pdf,S1,\n"
                 "a.pdf,S2,1\n"            # several signers on one page
                 "a.pdf,S2,1\n"            # duplicate row: kept once
                 "sub/b.pdf,S1,2\n"
                 "../outside.pdf,S1,\n"    # escapes the inbox
                 "/etc/passwd,S1,\n"       # absolute
                 "missing.pdf,S1,\n"
                 "a.pdf,,\n"
                 "a.pdf,S1,zero\n")
    rows, errors = read_audit_manifest(m, inbox)
    assert [(r.document, r.signer_id, r.page) for r in rows] == [
        ("a.pdf", "S1", None), ("a.pdf", "S2", 1), ("sub/b.pdf", "S1", 2)]
    reasons = {(e.line, e.reason.split(" (")[0]) for e in errors}
    assert reasons == {(6, "path escapes the inbox"), (7, "path escapes the inbox"),
                       (8, "document missing from the inbox"), (9, "empty or invalid signer_id"),
                       (10, "page 'zero' is not a page number >= 1")}


def test_symlink_out_of_the_inbox_is_refused(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (tmp_path / "secret.pdf").write_bytes(b"%PDF-")
    (inbox / "link.pdf").symlink_to(tmp_path / "secret.pdf")
    assert inside(inbox, "link.pdf") is None


def test_manifest_missing_columns_is_a_clear_error(tmp_path):
    m = tmp_path / "m.csv"
    m.write_text("file,who\nx.pdf,S1\n")
    with pytest.raises(ManifestError, match="missing column"):
        read_audit_manifest(m, tmp_path)
    with pytest.raises(ManifestError, match="cannot read"):
        read_audit_manifest(tmp_path / "nope.csv", tmp_path)


def test_a_manifest_not_in_utf8_names_the_line_and_how_to_save_it(tmp_path):
    m = tmp_path / "m.csv"
    m.write_bytes("document,signer_id\na.pdf,S1\nb.pdf,Ren\u00e9e\n".encode("cp1252"))  # Excel's plain "CSV"
    with pytest.raises(ManifestError, match=r"m.csv: not UTF-8 text \(line 3, byte 0xe9\); save the CSV as UTF-8"):
        read_audit_manifest(m, tmp_path)
    m.write_bytes("\ufeffdocument,signer_id\na.pdf,Ren\u00e9e\n".encode())  # "CSV UTF-8": a BOM, read as UTF-8
    (tmp_path / "a.pdf").write_bytes(b"%PDF-")
    rows, errors = read_audit_manifest(m, tmp_path)
    assert [(r.document, r.signer_id) for r in rows] == [("a.pdf", "Ren\u00e9e")] and not errors


def test_enroll_manifest(tmp_path):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "x.png").write_bytes(b"png")
    m = tmp_path / "refs.csv"
    m.write_text("file,signer_id\nr/x.png,S1\nr/y.png,S1\n../z.png,S2\n")
    rows, errors = read_enroll_manifest(m)
    assert [(r.document, r.signer_id) for r in rows] == [("r/x.png", "S1")]
    assert [e.reason for e in errors] == ["file missing", "path escapes the manifest's folder (refused)"]


def test_enroll_manifest_rows_may_name_a_signature_the_lake_holds(tmp_path):
    (tmp_path / "x.png").write_bytes(b"png")
    m = tmp_path / "named.csv"
    m.write_text("sig_id,signer_id,file\n"
                 "abc:1:0,Jane Doe,\n"        # a signature the lake holds (the flow checks that it does)
                 "abc:2:0,Jane Doe,x.png\n"   # both: refused
                 ",Jane Doe,\n"               # neither
                 "abc:3:0,,\n"                # no signer
                 "abc:\x074:0,Jane Doe,\n"    # not printable
                 ",Jane Doe,x.png\n")
    rows, errors = read_enroll_manifest(m)
    assert [(r.line, r.document, r.signer_id, r.sig_id, r.path) for r in rows] == [
        (2, "abc:1:0", "Jane Doe", "abc:1:0", None), (7, "x.png", "Jane Doe", None, tmp_path / "x.png")]
    assert [(e.line, e.reason) for e in errors] == [
        (3, "both file and sig_id given: a row enrols one or the other"), (4, "neither file nor sig_id given"),
        (5, "empty or invalid signer_id"), (6, "invalid sig_id")]
    only_sigs = tmp_path / "only.csv"
    only_sigs.write_text("sig_id,signer_id\nabc:1:0,S1\n")
    check_manifest(only_sigs, "enroll")  # a file column is not needed when rows name signatures
    (tmp_path / "none.csv").write_text("signer_id,page\nS1,1\n")
    with pytest.raises(ManifestError, match=r"missing column\(s\) \['file or sig_id'\]"):
        check_manifest(tmp_path / "none.csv", "enroll")


def test_review_file_edge_cases(tmp_path):
    m = tmp_path / "reviewed.csv"
    m.write_text("verdict_id,outcome,reviewer,note,reviewed_at\n"
                 "d:1:0:S1,Forgery,ann,slow tremor,2026-11-30T10:00:00\n"  # outcome case-insensitive, naive -> UTC
                 "d:1:1:S2,genuine,,,2026-11-30T11:00:00+01:00\n"          # no reviewer: the default; offset -> UTC
                 "d:2:-:S1,not_signed,bob,,\n"
                 "d:1:0:S1,genuine,bob,,\n"                                 # the same claim again in one file
                 "d:3:0:S1,fake,ann,,\n"
                 ",genuine,ann,,\n"
                 "d:4:0:S1,unclear,ann,,yesterday\n")
    rows, errors = read_review_manifest(m, reviewer="desk")
    assert [(r.line, r.verdict_id, r.outcome, r.reviewer, r.note) for r in rows] == [
        (2, "d:1:0:S1", "forgery", "ann", "slow tremor"), (3, "d:1:1:S2", "genuine", "desk", None),
        (4, "d:2:-:S1", "not_signed", "bob", None)]
    assert rows[0].reviewed_at == datetime(2026, 11, 30, 10, tzinfo=UTC)
    assert rows[1].reviewed_at == datetime(2026, 11, 30, 11, tzinfo=timezone(timedelta(hours=1)))
    assert rows[1].reviewed_at.tzinfo == UTC and rows[2].reviewed_at is None
    assert [(e.line, e.reason) for e in errors] == [
        (5, "verdict_id given twice (first on line 2): one finding per claim and file"),
        (6, "outcome 'fake' is not one of genuine, forgery, not_signed, unclear"),
        (7, "empty or invalid verdict_id"),
        (8, "reviewed_at 'yesterday' is not an ISO 8601 date or time")]
    (tmp_path / "bad.csv").write_text("verdict,outcome\nx,genuine\n")
    with pytest.raises(ManifestError, match="missing column"):
        read_review_manifest(tmp_path / "bad.csv")


def test_parameters_refuse_an_unusable_manifest_before_a_run(tmp_path):
    from pydantic import ValidationError

    from flows.params import AuditParams, EnrollParams, ReviewParams
    from sigpipe.manifest import check_manifest

    inbox, lake = tmp_path / "inbox", tmp_path / "lake"
    inbox.mkdir()
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("file,who\nx.pdf,S1\n")
    latin = tmp_path / "latin.csv"
    latin.write_bytes("document,signer_id\na.pdf,Ren\u00e9e\n".encode("cp1252"))
    with pytest.raises(ValidationError, match=r"missing column\(s\) \['document', 'signer_id'\]"):
        AuditParams(inbox=inbox, manifest=wrong, lake=lake)
    with pytest.raises(ValidationError, match="not UTF-8 text"):
        AuditParams(inbox=inbox, manifest=latin, lake=lake)
    with pytest.raises(ValidationError, match=r"missing column\(s\) \['verdict_id', 'outcome'\]"):
        ReviewParams(file=wrong, lake=lake)
    with pytest.raises(ValidationError, match=r"missing column\(s\) \['signer_id'\]"):
        EnrollParams(source=wrong, lake=lake)
    # usable files pass; bad rows are the run's to report
    ok = tmp_path / "ok.csv"
    ok.write_text("document,signer_id\nmissing.pdf,S1\n")
    assert AuditParams(inbox=inbox, manifest=ok, lake=lake).manifest == ok.resolve()
    check_manifest(ok, "audit")


@pytest.mark.parametrize("sep", [";", "\t"])
def test_a_manifest_separated_by_semicolons_or_tabs_reads_as_a_comma_separated_one(tmp_path, sep):
    (tmp_path / "a.pdf").write_bytes(b"%PDF-")
    (tmp_path / "b.pdf").write_bytes(b"%PDF-")
    comma, other = tmp_path / "comma.csv", tmp_path / "other.csv"
    comma.write_text('document,signer_id,page\na.pdf,"Doe; Jane",2\nb.pdf,S2,\n')
    # a spreadsheet's "CSV UTF-8" where the decimal mark is a comma: a BOM and semicolons; a value may hold a comma
    other.write_bytes(f'\ufeffdocument{sep}signer_id{sep}page\na.pdf{sep}"Doe; Jane"{sep}2\nb.pdf{sep}S2{sep}\n'
                      .encode())
    got = [[(r.document, r.signer_id, r.page, r.line) for r in read_audit_manifest(m, tmp_path)[0]]
           for m in (comma, other)]
    assert got[0] == got[1] == [("a.pdf", "Doe; Jane", 2, 2), ("b.pdf", "S2", None, 3)]
    # a one-column file (withdraw: signer_id) has no separator in its header: read as comma-separated
    one = tmp_path / "one.csv"
    one.write_text("signer_id\nS1;S2\n")
    check_manifest(one, "withdraw")
