"""Detect tasks: stored page images of one document -> signature boxes, crops, detections rows."""

from __future__ import annotations

from typing import Any

from prefect import task

import storage
from sigpipe import pdf
from sigpipe.detect import crop
from tasks import models
from tasks.common import now

__all__ = ["detect_document", "crop_relpath"]

CROP_MARGIN = 0.04  # of the box size: keeps pen strokes the box clipped, without reaching printed text


def crop_relpath(doc_id: str, page: int, k: int) -> str:
    return f"blobs/crops/{doc_id[:2]}/{doc_id}/p{page:05d}-{k:02d}{pdf.PAGE_IMAGE_EXT}"


@task(name="detect-document", retries=2, retry_delay_seconds=2, tags=["detector"])
def detect_document(doc_id: str, pages: list[dict[str, Any]], lake: str, run_id: str, model: str) -> dict[str, Any]:
    """``pages``: rows of the pages view (page, width, height, dpi, image_path). Writes signatures, then the
    document's detections rows (the commit marker), and returns counts."""
    det, lock = models.detector(model)
    images = [pdf.decode_page(storage.lake_path(lake) / p["image_path"]) for p in pages]
    with lock:
        found = det.detect(images)
    sigs, dets, t = [], [], now()
    for p, img, boxes in zip(pages, images, found, strict=True):
        for k, b in enumerate(sorted(boxes, key=lambda b: (round(b.ny0, 2), b.nx0))):  # reading order
            jpg = pdf.encode_page(crop(img, b, CROP_MARGIN))
            rel = storage.write_blob(lake, crop_relpath(doc_id, p["page"], k), jpg)
            sigs.append({"sig_id": f"{doc_id}:{p['page']}:{k}", "doc_id": doc_id, "page": p["page"], "box_index": k,
                         "x0": round(b.x0), "y0": round(b.y0), "x1": round(b.x1), "y1": round(b.y1),
                         "nx0": b.nx0, "ny0": b.ny0, "nx1": b.nx1, "ny1": b.ny1, "page_width": p["width"],
                         "page_height": p["height"], "dpi": p["dpi"], "confidence": b.confidence, "crop_path": rel,
                         "detector_name": det.card.name, "detector_version": det.card.version, "run_id": run_id,
                         "created_at": t})
        dets.append({"page_id": f"{doc_id}:{p['page']}", "doc_id": doc_id, "page": p["page"],
                     "n_signatures": len(boxes), "detector_name": det.card.name,
                     "detector_version": det.card.version, "run_id": run_id, "created_at": t})
    if sigs:
        storage.write_part(lake, "signatures", run_id, doc_id, sigs)
    storage.write_part(lake, "detections", run_id, doc_id, dets)
    return {"doc_id": doc_id, "pages": len(pages), "signatures": len(sigs)}
