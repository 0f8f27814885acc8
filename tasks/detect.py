"""Detect tasks: stored page images of a chunk of documents -> signature boxes, crops, detections rows."""

from __future__ import annotations

from typing import Any

from prefect import task

import storage
from sigpipe import pdf
from sigpipe.clean import grow_to_ink
from sigpipe.detect import Box, crop
from sigpipe.orient import turn_box, turn_page
from tasks import models
from tasks.common import now, releases_heap

__all__ = ["detect_documents", "crop_relpath", "detector_page", "signature_crop", "stored_box", "turned_shape"]

CROP_MARGIN = 0.04  # of the box size: keeps pen strokes the box clipped, without reaching printed text


def crop_relpath(doc_id: str, page: int, k: int) -> str:
    return f"blobs/crops/{doc_id[:2]}/{doc_id}/p{page:05d}-{k:02d}{pdf.PAGE_IMAGE_EXT}"


def detector_page(det: Any, root: Any, page: dict[str, Any]) -> Any:
    """A stored page (a ``pages`` row: image_path, height, width) as ``det`` should see it: the JPEG decoded
    straight to the smallest size still at least ``det.decode_side`` (DCT-domain scaling; closer to the input
    size, faint signatures lose confidence). Pass ``shapes`` with the full (height, width) to ``det.detect``."""
    return pdf.decode_page(root / page["image_path"],
                           reduce=pdf.reduction_for(page["height"], page["width"], det.decode_side))


def turned_shape(shape: tuple[int, int], q: int) -> tuple[int, int]:
    """The (H, W) of an (H, W) page after ``q`` quarter turns."""
    return (shape[1], shape[0]) if q % 2 else (shape[0], shape[1])


def stored_box(box: Box, q: int, shape: tuple[int, int]) -> Box:
    """A box found on the stored page ``(H, W)`` = ``shape`` turned upright by ``q`` counter-clockwise quarter
    turns -> the same box in the stored page's pixels and normalised coordinates (exact: pixel edges map onto
    pixel edges)."""
    return Box.from_pixels(turn_box(box.xyxy, -q, turned_shape(shape, q)), box.confidence, shape)


def signature_crop(page: Any, xyxy: Any) -> Any:
    """A detector box's crop of ``page`` ``(H, W) uint8``: the whole strokes the box mostly holds (boxes cut
    flourishes, :func:`sigpipe.clean.grow_to_ink`) and a margin."""
    return crop(page, grow_to_ink(page, xyxy), CROP_MARGIN)


def _crop_document(det: Any, root: Any, lake: str, run_id: str, doc_id: str, pages: list[dict[str, Any]],
                   found: list[list[Any]], turns: list[tuple[int, bool | None]]
                   ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Crops (written, not yet flushed to disk) for one document's boxes -> (its ``signatures`` rows, its
    ``detections`` rows: the commit marker). The caller writes both, the markers last, after a flush.

    ``found``: per page the boxes on the page turned upright by ``turns`` (counter-clockwise quarter turns and
    whether the orienter was sure, :meth:`sigpipe.detect.Detector.upright`): crops are cut from the upright page
    and numbered in its reading order; the rows keep the boxes in the stored page's pixels, with the turn as
    ``page_turn`` degrees and ``page_turn_sure``."""
    sigs, dets, t = [], [], now()
    for p, boxes, (q, sure) in zip(pages, found, turns, strict=True):
        img = turn_page(pdf.decode_page(root / p["image_path"]), q) if boxes else None
        shape = (p["height"], p["width"])
        for k, b in enumerate(sorted(boxes, key=lambda b: (round(b.ny0, 2), b.nx0))):  # reading order, upright
            jpg = pdf.encode_page(signature_crop(img, b.xyxy))  # the row keeps the detector's box
            rel = storage.write_blob(lake, crop_relpath(doc_id, p["page"], k), jpg, durable=False)
            sb = stored_box(b, q, shape)
            sigs.append({"sig_id": f"{doc_id}:{p['page']}:{k}", "doc_id": doc_id, "page": p["page"], "box_index": k,
                         "x0": round(sb.x0), "y0": round(sb.y0), "x1": round(sb.x1), "y1": round(sb.y1),
                         "nx0": sb.nx0, "ny0": sb.ny0, "nx1": sb.nx1, "ny1": sb.ny1, "page_width": p["width"],
                         "page_height": p["height"], "dpi": p["dpi"], "page_turn": 90 * q, "page_turn_sure": sure,
                         "confidence": b.confidence,
                         "crop_path": rel, "detector_name": det.card.name, "detector_version": det.card.version,
                         "run_id": run_id, "created_at": t})
        # the page's best confidence rides on its detections row: page_signatures reads it without the signatures
        dets.append({"page_id": f"{doc_id}:{p['page']}", "doc_id": doc_id, "page": p["page"],
                     "n_signatures": len(boxes), "max_confidence": max((b.confidence for b in boxes), default=None),
                     "page_turn": 90 * q, "page_turn_sure": sure, "detector_name": det.card.name,
                     "detector_version": det.card.version,
                     "run_id": run_id, "created_at": t})
    return sigs, dets


@task(name="detect-documents", retries=2, retry_delay_seconds=2)
@releases_heap
def detect_documents(docs: list[dict[str, Any]], lake: str, run_id: str, model: str,
                     precision: str = "auto") -> dict[str, Any]:
    """``docs``: ``{doc_id, pages}`` with ``pages`` rows of the pages view (page, width, height, dpi, image_path)
    for a chunk of documents: one detector batch across them, then each document's crops, then the chunk's
    signatures and detections parts.

    A document whose page images cannot be read is returned under ``failed`` with the reason; the others go
    on. Returns ``{"done": [{doc_id, pages, signatures}], "failed": [{doc_id, reason}]}``.
    """
    root = storage.lake_path(lake)
    with models.detector(model, precision) as det:
        # the detector sees a small letterboxed page: decode each JPEG reduced (detector_page), and decode whole
        # only the pages that have a signature to crop
        ok, small, failed = [], [], []
        for d in docs:
            try:
                imgs = [detector_page(det, root, p) for p in d["pages"]]
            except (OSError, ValueError) as e:
                failed.append({"doc_id": d["doc_id"], "reason": f"page image unreadable ({e})"})
                continue
            ok.append(d)
            small += imgs
        # a page scanned turned is stood upright first (the card's page orienter; none: every page as stored)
        turns = det.upright(small)
        small = [turn_page(im, q) for im, (q, _) in zip(small, turns, strict=True)]
        shapes = [turned_shape((p["height"], p["width"]), q)
                  for p, (q, _) in zip((p for d in ok for p in d["pages"]), turns, strict=True)]
        found = det.detect(small, shapes=shapes)
        done, markers, rows, at = [], [], [], 0
        for d in ok:
            n = len(d["pages"])
            sigs, dets = _crop_document(det, root, lake, run_id, d["doc_id"], d["pages"], found[at:at + n],
                                        turns[at:at + n])
            at += n
            done.append({"doc_id": d["doc_id"], "pages": n, "signatures": len(sigs)})
            markers.append(dets)
            rows += sigs
    # the chunk's signatures are one part and its detections (the markers) another (a file per document cost
    # ~2 ms to write and more to read back), keyed by the chunk's documents, so a retry of the task overwrites
    # them; the signatures view shows only the rows of committed documents. Crops and signatures reach the disk
    # in one flush, before the markers.
    key = storage.chunk_key(d["doc_id"] for d in docs)
    if rows:
        storage.write_part(lake, "signatures", run_id, key, rows, durable=False)
    if markers:  # then the chunk's documents commit together, under the same key
        storage.flush(lake)
        storage.write_part(lake, "detections", run_id, key, [row for dets in markers for row in dets])
    return {"done": done, "failed": failed}
