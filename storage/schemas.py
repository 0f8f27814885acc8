"""One pyarrow schema per lake table: the on-disk contract.

Ids are content-derived so that a rerun produces the same keys:
- ``doc_id``  sha256 of the PDF bytes (64 hex chars)
- ``page_id`` ``<doc_id>:<page>`` (page is 1-based)
- ``sig_id``  ``<doc_id>:<page>:<k>`` with k the box index on the page in reading order, or ``ref:<sha256>``
  for a reference image enrolled from a plain image file.
Every row carries the ``run_id`` that wrote it; partitions are ``<lake>/<table>/run_id=<id>/``.
"""

from __future__ import annotations

import pyarrow as pa

__all__ = ["SCHEMAS", "TABLES", "schema"]

_TS = pa.timestamp("us", tz="UTC")
_EMB = pa.list_(pa.float32())  # (D,) L2-normalised; D is recorded in `dim` (model cards say which)

_BOX = [
    pa.field("x0", pa.int32()), pa.field("y0", pa.int32()),  # page pixels, at the page's render dpi
    pa.field("x1", pa.int32()), pa.field("y1", pa.int32()),
    pa.field("nx0", pa.float32()), pa.field("ny0", pa.float32()),  # normalised to page size, in [0, 1]
    pa.field("nx1", pa.float32()), pa.field("ny1", pa.float32()),
]

SCHEMAS: dict[str, pa.Schema] = {
    # One row per ingested PDF; written last for a document, so it is the document's commit marker.
    "documents": pa.schema([
        pa.field("doc_id", pa.string(), nullable=False),
        pa.field("path", pa.string(), nullable=False),        # as found in the inbox (absolute)
        pa.field("file_name", pa.string(), nullable=False),
        pa.field("size_bytes", pa.int64(), nullable=False),
        pa.field("n_pages", pa.int32(), nullable=False),
        pa.field("dpi", pa.int32(), nullable=False),
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("ingested_at", _TS, nullable=False),
    ]),
    "pages": pa.schema([
        pa.field("page_id", pa.string(), nullable=False),
        pa.field("doc_id", pa.string(), nullable=False),
        pa.field("page", pa.int32(), nullable=False),          # 1-based
        pa.field("width", pa.int32(), nullable=False),         # pixels at `dpi`
        pa.field("height", pa.int32(), nullable=False),
        pa.field("dpi", pa.int32(), nullable=False),
        pa.field("image_path", pa.string(), nullable=False),   # relative to the lake root
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("created_at", _TS, nullable=False),
    ]),
    # One row per page a detector looked at: a page with n_signatures = 0 is a recorded fact (unsigned).
    "detections": pa.schema([
        pa.field("page_id", pa.string(), nullable=False),
        pa.field("doc_id", pa.string(), nullable=False),
        pa.field("page", pa.int32(), nullable=False),
        pa.field("n_signatures", pa.int32(), nullable=False),
        # best box confidence on the page, null when n_signatures = 0: stored here so page_signatures need not
        # aggregate every signature row
        pa.field("max_confidence", pa.float32()),
        # degrees (counter-clockwise: 0, 90, 180, 270) the stored page image was turned to stand upright before
        # detection (the detector card's page orienter); 0 for pages detected as stored
        pa.field("page_turn", pa.int32(), nullable=False),
        # whether the page orienter was sure of page_turn: false for a page it left as it came without being sure
        # it is upright (it may lie turned: the audit decides none of its signatures), null when no orienter
        # looked (a detector without one, or rows from before schema 6)
        pa.field("page_turn_sure", pa.bool_()),
        pa.field("detector_name", pa.string(), nullable=False),
        pa.field("detector_version", pa.string(), nullable=False),
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("created_at", _TS, nullable=False),
    ]),
    "signatures": pa.schema([
        pa.field("sig_id", pa.string(), nullable=False),
        pa.field("doc_id", pa.string(), nullable=False),
        pa.field("page", pa.int32(), nullable=False),
        pa.field("box_index", pa.int32(), nullable=False),
        *_BOX,
        pa.field("page_width", pa.int32(), nullable=False),
        pa.field("page_height", pa.int32(), nullable=False),
        pa.field("dpi", pa.int32(), nullable=False),
        # as detections.page_turn: the box is in the stored page's pixels, the crop is cut from the upright page
        pa.field("page_turn", pa.int32(), nullable=False),
        pa.field("page_turn_sure", pa.bool_()),
        pa.field("confidence", pa.float32(), nullable=False),
        pa.field("crop_path", pa.string(), nullable=False),    # relative to the lake root
        pa.field("detector_name", pa.string(), nullable=False),
        pa.field("detector_version", pa.string(), nullable=False),
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("created_at", _TS, nullable=False),
    ]),
    "embeddings": pa.schema([
        pa.field("sig_id", pa.string(), nullable=False),
        pa.field("model_name", pa.string(), nullable=False),
        pa.field("model_version", pa.string(), nullable=False),
        pa.field("dim", pa.int32(), nullable=False),
        pa.field("embedding", _EMB, nullable=False),
        pa.field("ink_fraction", pa.float32()),                # share of ink pixels after cleaning (QA)
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("created_at", _TS, nullable=False),
    ]),
    "references": pa.schema([
        pa.field("ref_id", pa.string(), nullable=False),       # sha256 of the source image bytes (+ box)
        pa.field("signer_id", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),       # image or PDF path as given
        pa.field("source_kind", pa.string(), nullable=False),  # image | pdf
        pa.field("sig_id", pa.string()),                       # when cut from a PDF
        pa.field("crop_path", pa.string(), nullable=False),    # copy of the reference image, lake-relative
        pa.field("model_name", pa.string(), nullable=False),
        pa.field("model_version", pa.string(), nullable=False),
        pa.field("dim", pa.int32(), nullable=False),
        pa.field("embedding", _EMB, nullable=False),
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("enrolled_at", _TS, nullable=False),
    ]),
    # A reference taken out of use (``sigpipe withdraw``, or ``sigpipe enroll --replace``): the ``references`` view
    # hides every row of (signer_id, ref_id) enrolled at or before ``withdrawn_at``, whichever verifier version embedded
    # it. Nothing is deleted: the rows stay for the verdicts that name them, and enrolling the same image again later
    # (a newer ``enrolled_at``) brings the reference back.
    "withdrawals": pa.schema([
        pa.field("signer_id", pa.string(), nullable=False),
        pa.field("ref_id", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),       # as given, or "replaced by ..." for enroll --replace
        pa.field("withdrawn_by", pa.string()),                 # who asked, when they said
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("withdrawn_at", _TS, nullable=False),
    ]),
    "verdicts": pa.schema([
        pa.field("verdict_id", pa.string(), nullable=False),   # <doc_id>:<page>:<box>:<claimed_signer>
        pa.field("doc_id", pa.string(), nullable=False),
        pa.field("document", pa.string(), nullable=False),     # manifest path, relative to the inbox
        # the document's file name as the documents view gives it (copied here so views need not join documents);
        # null when the document is unknown to the lake
        pa.field("file_name", pa.string()),
        pa.field("page", pa.int32()),                          # null for no_signature on a whole document
        pa.field("sig_id", pa.string()),
        *_BOX,
        pa.field("claimed_signer", pa.string(), nullable=False),
        pa.field("score", pa.float32()),                       # similarity, higher = more alike
        pa.field("threshold", pa.float32()),
        pa.field("threshold_kind", pa.string()),               # writer | global
        # genuine | forgery | inconclusive | no_signature | unknown_signer
        pa.field("decision", pa.string(), nullable=False),
        pa.field("best_ref_id", pa.string()),
        pa.field("n_references", pa.int32(), nullable=False),
        pa.field("verifier_name", pa.string(), nullable=False),
        pa.field("verifier_version", pa.string(), nullable=False),
        pa.field("detector_name", pa.string(), nullable=False),
        pa.field("detector_version", pa.string(), nullable=False),
        pa.field("evidence_path", pa.string()),
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("created_at", _TS, nullable=False),
    ]),
    # What a person found on looking at a claim (``sigpipe review``): the truth about a verdict_id, whichever run or
    # model decided it, so it scores every verdict of that claim. A later review of the same claim supersedes an
    # earlier one in the views; the rows stay as the history of who decided what.
    "reviews": pa.schema([
        pa.field("review_id", pa.string(), nullable=False),    # sha256 of the finding (claim, outcome, reviewer, ...)
        pa.field("verdict_id", pa.string(), nullable=False),
        pa.field("doc_id", pa.string(), nullable=False),       # copied from the verdict, so views need no join
        pa.field("sig_id", pa.string()),
        pa.field("claimed_signer", pa.string(), nullable=False),
        pa.field("outcome", pa.string(), nullable=False),      # genuine | forgery | not_signed | unclear
        pa.field("reviewer", pa.string()),
        pa.field("note", pa.string()),
        pa.field("reviewed_at", _TS, nullable=False),          # as the file gives it, else when it was recorded
        pa.field("source", pa.string(), nullable=False),       # <review file>:<line>
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("created_at", _TS, nullable=False),
    ]),
    "matches": pa.schema([
        pa.field("sig_id", pa.string(), nullable=False),
        pa.field("doc_id", pa.string(), nullable=False),
        pa.field("file_name", pa.string()),                    # as in verdicts: the documents view's name
        pa.field("page", pa.int32(), nullable=False),
        pa.field("rank", pa.int32()),                          # 1..k; null for a signature that matched nobody
        pa.field("signer_id", pa.string()),
        pa.field("score", pa.float32()),
        pa.field("is_match", pa.bool_(), nullable=False),      # score >= the signer's threshold
        pa.field("cluster_id", pa.string()),                   # unknown-writer group, for unmatched signatures
        pa.field("verifier_name", pa.string(), nullable=False),
        pa.field("verifier_version", pa.string(), nullable=False),
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("created_at", _TS, nullable=False),
    ]),
    "failures": pa.schema([
        pa.field("path", pa.string(), nullable=False),
        pa.field("doc_id", pa.string()),                       # sha256 of the bytes when they could be read
        pa.field("flow", pa.string(), nullable=False),
        pa.field("stage", pa.string(), nullable=False),        # read | render | detect | clean | embed | verify ...
        pa.field("error_type", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("created_at", _TS, nullable=False),
    ]),
    # Per audit run, the counts the audit_summary view shows: written when the run finishes (storage.maintain), so
    # the view need not count distinct ids over every verdict; runs without a row are counted from verdicts.
    "audit_counts": pa.schema([
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("audited_at", _TS, nullable=False),           # the run's first verdict
        pa.field("documents", pa.int64(), nullable=False),
        pa.field("signatures", pa.int64(), nullable=False),
        pa.field("claims", pa.int64(), nullable=False),
        pa.field("genuine", pa.int64(), nullable=False),
        pa.field("forgery", pa.int64(), nullable=False),
        pa.field("inconclusive", pa.int64(), nullable=False),
        pa.field("no_signature", pa.int64(), nullable=False),
        pa.field("unknown_signer", pa.int64(), nullable=False),
    ]),
    # One row per model (detector or verifier) the first time a run of this lake used it. Rows written by a model
    # are keyed by its name and version alone, so one name and version must always mean the same weights: a flow
    # refuses a model whose sha256 differs from the one registered here under its name and version.
    "models": pa.schema([
        pa.field("kind", pa.string(), nullable=False),          # detector | verifier
        pa.field("name", pa.string(), nullable=False),
        pa.field("version", pa.string(), nullable=False),
        pa.field("sha256", pa.string(), nullable=False),        # of the weights file, as in the card
        pa.field("folder", pa.string(), nullable=False),        # where the run loaded it from
        pa.field("card", pa.string(), nullable=False),          # the card as JSON: thresholds, metrics, training
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("registered_at", _TS, nullable=False),
    ]),
    "runs": pa.schema([
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("flow", pa.string(), nullable=False),
        pa.field("started_at", _TS, nullable=False),
        pa.field("finished_at", _TS, nullable=False),
        pa.field("status", pa.string(), nullable=False),       # completed | partial (some failures)
        pa.field("params", pa.string(), nullable=False),       # JSON
        pa.field("n_inputs", pa.int32(), nullable=False),
        pa.field("n_processed", pa.int32(), nullable=False),
        pa.field("n_skipped", pa.int32(), nullable=False),
        pa.field("n_failed", pa.int32(), nullable=False),
        pa.field("sigpipe_version", pa.string(), nullable=False),
        pa.field("host", pa.string(), nullable=False),
    ]),
}

TABLES = tuple(SCHEMAS)


def schema(table: str) -> pa.Schema:
    try:
        return SCHEMAS[table]
    except KeyError:
        raise KeyError(f"unknown table {table!r}; tables: {', '.join(TABLES)}") from None
