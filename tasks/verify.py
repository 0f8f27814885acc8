"""Verifier tasks: embed crops, enrol references, audit claims, catalogue signatures, write the report.

Tasks take ids, paths and small dicts; embeddings travel through the lake, never through task arguments.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from prefect import task

import storage
from sigpipe import __version__, evidence, identify, pdf
from sigpipe import audit as audit_lib
from sigpipe.clean import load_image, remove_faint_marks, remove_rules, to_grey
from sigpipe.detect import box_iou
from sigpipe.orient import turn_box, turn_page
from sigpipe.verifier import explain
from tasks import models
from tasks.common import failure_row, now, releases_heap
from tasks.detect import detector_page, signature_crop, stored_box, turned_shape

__all__ = ["embed_signatures", "enroll_signer", "carry_references", "audit_documents", "catalog_signatures",
           "write_audit_report"]


# the evidence sheet boxes the cell whose erasure raises the score most only when it raises it this much: the
# smaller gains of most genuine signatures (median 0.003-0.009 on CEDAR, bench/explain.py) would box a stray stroke end
_BOXED_GAIN = 0.01


def _h(text: str, n: int = 16) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def _clean(v: Any, images: list[np.ndarray], page_dpi: int | Sequence[int | None] | None = None) -> np.ndarray:
    """Raw crops -> what the verifier sees ``(N, h, w) uint8``: printed rules under a signature and faint marks
    over it (stamps) are not the writer's, so they are erased before the card's cleaning. Embeddings and evidence
    sheets both use it. ``page_dpi``: the crops were cut from pages rendered at this dpi (one for all, or one per
    crop), so the verifier's stamp remover (:mod:`sigpipe.destamp`), when its card names one, goes first; None (for
    all, or for one crop) for reference images from files, which it leaves alone."""
    if v.destamp is not None and page_dpi is not None:
        dpis = [page_dpi] * len(images) if isinstance(page_dpi, int) else list(page_dpi)
        images = [i if d is None else v.destamp(to_grey(i), d)[0] for i, d in zip(images, dpis, strict=True)]
    return v.clean([remove_faint_marks(remove_rules(i)) for i in images], workers=2)


def clean_relpath(card: Any, crop_path: str) -> str:
    """Where the cleaned crop (what this verifier version saw) of the stored crop ``crop_path`` is kept:
    ``blobs/clean/<name>/<version>/<crop_path without blobs/>.png`` (lossless, so it is exactly what was embedded)."""
    rel = Path(crop_path)
    rel = rel.relative_to("blobs") if rel.parts[:1] == ("blobs",) else rel
    return (Path("blobs/clean") / card.name / str(card.version) / rel).with_suffix(".png").as_posix()


def _keep_clean(lake: str, v: Any, crop_paths: list[str], cleaned: np.ndarray) -> None:
    """Store the cleaned crops next to their embeddings (not yet flushed: the caller's part write follows a
    flush), so evidence sheets read them instead of cleaning again (rule erasure costs ~5 ms a crop)."""
    for rel, c in zip(crop_paths, cleaned, strict=True):
        try:
            storage.write_blob(lake, clean_relpath(v.card, rel), pdf.encode_png(c), durable=False)
        except ValueError:  # not kept: the evidence sheet cleans the crop again
            continue


def _cleaned(lake: str, v: Any, crop_path: str, raw: np.ndarray, page_dpi: int | None = None) -> np.ndarray:
    """The cleaned crop as it was embedded: read back when kept, else the stored crop cleaned again (crops
    embedded before sigpipe kept them, or a damaged file). Cleaned again, a crop cut from a page gives the same
    pixels, and so does a reference (stored as PNG since 0.4.0; before, as a JPEG: nearly the same)."""
    path = storage.lake_path(lake) / clean_relpath(v.card, crop_path)
    if path.is_file():
        import cv2

        img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if img is not None and img.ndim == 2 and img.shape == v.clean_kwargs["size"]:
            return img
    return _clean(v, [raw], [page_dpi])[0]


def _embed(verifier: str, images: list[np.ndarray], page_dpi: int | Sequence[int | None] | None = None,
           precision: str = "auto") -> tuple[np.ndarray, np.ndarray, Any, np.ndarray]:
    """Raw crops -> (embeddings (N, D), ink fraction (N,), the Verifier, cleaned crops (N, h, w)). Cleaning and
    the forward pass batch; ``page_dpi`` as for :func:`_clean`; ``precision`` the flow's (tasks.models)."""
    v, lock = models.verifier(verifier, precision)
    cleaned = _clean(v, images, page_dpi)
    with lock:
        emb = v.embed_clean(cleaned)
    ink = (cleaned > 0).reshape(len(cleaned), -1).mean(axis=1) if len(cleaned) else np.zeros(0)
    return emb, ink.astype(np.float32), v, cleaned


@task(name="embed-signatures", retries=2, retry_delay_seconds=2)
@releases_heap
def embed_signatures(items: list[dict[str, str]], lake: str, run_id: str, verifier: str, key: str,
                     precision: str = "auto") -> int:
    """``items``: ``{sig_id, crop_path, dpi}`` -> one ``embeddings`` part (batched across documents)."""
    root = storage.lake_path(lake)
    emb, ink, v, cleaned = _embed(verifier, [pdf.decode_page(root / it["crop_path"]) for it in items],
                                  [int(it["dpi"]) for it in items], precision)
    _keep_clean(lake, v, [it["crop_path"] for it in items], cleaned)
    storage.flush(lake)
    t = now()
    storage.write_part(lake, "embeddings", run_id, key, [
        {"sig_id": it["sig_id"], "model_name": v.card.name, "model_version": v.card.version, "dim": int(e.shape[0]),
         "embedding": e.tolist(), "ink_fraction": float(f), "run_id": run_id, "created_at": t}
        for it, e, f in zip(items, emb, ink, strict=True)])
    return len(items)


@task(name="enroll-signer", retries=2, retry_delay_seconds=2)
def enroll_signer(signer_id: str, items: list[dict[str, Any]], lake: str, run_id: str, verifier: str,
                  precision: str = "auto") -> dict:
    """``items``: ``{ref_id, source, source_kind, image, sig_id}`` (``image`` absolute, or lake-relative for PDF
    crops, which also carry the ``dpi`` of their page) -> ``references`` rows for the usable ones; unusable ones
    come back with the reason."""
    root = storage.lake_path(lake)
    images, usable, unusable = [], [], []
    for it in items:
        try:
            img = load_image(root / it["image"] if it["source_kind"] == "pdf" else Path(it["image"]))
        except ValueError as e:
            unusable.append({"source": it["source"], "reason": str(e)})
            continue
        images.append(img)
        usable.append(it)
    rows = []
    if usable:
        emb, ink, v, cleaned = _embed(verifier, images, [int(it["dpi"]) if it["source_kind"] == "pdf" else None
                                                         for it in usable], precision)
        t = now()
        kept: tuple[list[str], list[np.ndarray]] = ([], [])
        for it, img, e, f, c in zip(usable, images, emb, ink, cleaned, strict=True):
            if f <= 0.0:
                unusable.append({"source": it["source"], "reason": "no ink found after cleaning"})
                continue
            # lossless: a later verifier version carries the reference from this copy (carry_references), and
            # must see the pixels enrolled, not a JPEG of them (one demo reference moved to cosine 0.93)
            rel = storage.write_blob(lake, f"blobs/references/{_h(signer_id)}/{it['ref_id'][:24]}.png",
                                     pdf.encode_png(img))
            kept[0].append(rel)
            kept[1].append(c)
            rows.append({"ref_id": it["ref_id"], "signer_id": signer_id, "source": it["source"],
                         "source_kind": it["source_kind"], "sig_id": it.get("sig_id"), "crop_path": rel,
                         "model_name": v.card.name, "model_version": v.card.version, "dim": int(e.shape[0]),
                         "embedding": e.tolist(), "run_id": run_id, "enrolled_at": t})
    if rows:
        _keep_clean(lake, v, kept[0], np.asarray(kept[1]))
        storage.flush(lake)
        storage.write_part(lake, "references", run_id, _h(signer_id, 32), rows)
    return {"signer_id": signer_id, "enrolled": len(rows), "unusable": unusable}


@task(name="carry-references", retries=2, retry_delay_seconds=2)
@releases_heap
def carry_references(lake: str, run_id: str, verifier: str, chunk: int = 256,
                     precision: str = "auto") -> dict[str, Any]:
    """References enrolled under another verifier (an older version) and not under this one, embedded by this one
    from the crops the lake stored at enrolment; the rows keep their signer, ref_id and source.

    A new verifier version embeds in another space: without this, every signer enrolled before the upgrade would
    be an ``unknown_signer`` until their references were enrolled again from the original files. A stored crop
    that cannot be read, or in which this version's cleaning finds no ink, comes back in ``failed`` (path,
    reason; the flow records it once) and is tried again by the next run."""
    if not (storage.lake_path(lake) / "references").is_dir():
        return {"references": 0, "signers": 0, "failed": []}
    v, _ = models.verifier(verifier, precision)
    con = storage.connect(lake)
    try:
        todo = storage.query(con, 'SELECT signer_id, ref_id, arg_max(source, enrolled_at) AS source, '
                                  "arg_max(source_kind, enrolled_at) AS source_kind, arg_max(sig_id, enrolled_at) AS "
                                  'sig_id, arg_max(crop_path, enrolled_at) AS crop_path FROM "references" r '
                                  'WHERE NOT EXISTS (SELECT 1 FROM "references" c WHERE c.signer_id = r.signer_id '
                                  "AND c.ref_id = r.ref_id AND c.model_name = $n AND c.model_version = $v) "
                                  "GROUP BY signer_id, ref_id ORDER BY signer_id, ref_id",
                             {"n": v.card.name, "v": str(v.card.version)}).to_pylist()
        # a reference cut from a PDF is a page's crop: its page's dpi, for the stamp remover
        dpi_of = {r["sig_id"]: r["dpi"] for r in storage.query(
            con, "SELECT sig_id, any_value(dpi) AS dpi FROM signatures WHERE list_contains($s, sig_id) GROUP BY 1",
            {"s": [r["sig_id"] for r in todo if r["sig_id"]]}).to_pylist()}
    finally:
        con.close()
    root = storage.lake_path(lake)
    done, failed = 0, []
    for i in range(0, len(todo), chunk):
        part, images = [], []
        for r in todo[i : i + chunk]:
            try:
                images.append(pdf.decode_page(root / r["crop_path"]))
            except (OSError, ValueError) as e:  # a stored crop lost or damaged: that reference alone is skipped
                failed.append({"path": r["crop_path"], "reason": f"reference {r['ref_id']} of {r['signer_id']} "
                                                                 f"not carried to the new verifier version: {e}"})
                continue
            part.append(r)
        if not part:
            continue
        emb, ink, v, cleaned = _embed(verifier, images, [
            (dpi_of.get(r["sig_id"]) or (v.destamp.dpi if v.destamp else None)) if r["source_kind"] == "pdf" else None
            for r in part], precision)
        keep = [k for k, f in enumerate(ink) if f > 0]
        failed += [{"path": part[k]["crop_path"],
                    "reason": f"reference {part[k]['ref_id']} of {part[k]['signer_id']} not carried to the new "
                              f"verifier version: no ink found after its cleaning"}
                   for k, f in enumerate(ink) if f <= 0]
        if not keep:
            continue
        _keep_clean(lake, v, [part[k]["crop_path"] for k in keep], cleaned[keep])
        storage.flush(lake)
        t = now()
        key = storage.chunk_key([f"{r['signer_id']}:{r['ref_id']}" for r in part], "carried")
        storage.write_part(lake, "references", run_id, key, [
            {**{c: part[k][c] for c in ("signer_id", "ref_id", "source", "source_kind", "sig_id", "crop_path")},
             "model_name": v.card.name, "model_version": v.card.version, "dim": int(emb.shape[1]),
             "embedding": emb[k].tolist(), "run_id": run_id, "enrolled_at": t} for k in keep])
        done += len(keep)
    return {"references": done, "signers": len({r["signer_id"] for r in todo}), "failed": failed}


def _writers(con, signers: list[str], card: dict[str, Any]) -> tuple[dict, dict]:
    """Enrolled signers among ``signers`` -> ({signer: (WriterModel, band)}, {signer: [ref rows]})."""
    refs = storage.query(con, 'SELECT signer_id, ref_id, crop_path, source_kind, embedding FROM "references" '
                              "WHERE model_name = $n AND model_version = $v AND list_contains($s, signer_id) "
                              "ORDER BY signer_id, ref_id",
                         {"n": card["name"], "v": card["version"], "s": signers}).to_pylist()
    by: dict[str, list[dict]] = defaultdict(list)
    for r in refs:
        by[r["signer_id"]].append(r)
    return ({s: audit_lib.writer_model(card, s, np.asarray([r["embedding"] for r in rs], np.float32))
             for s, rs in by.items()}, by)


def _signature_embeddings(con, doc_ids: list[str], detector: dict[str, str], card: dict[str, Any]) -> list[dict]:
    """Signatures of ``doc_ids`` found by this detector version, with their embedding by this verifier version,
    in document, page and box order."""
    return storage.query(con, "SELECT s.*, e.embedding FROM signatures s JOIN embeddings e USING (sig_id) "
                              "WHERE list_contains($d, s.doc_id) AND s.detector_name = $dn "
                              "AND s.detector_version = $dv AND e.model_name = $n AND e.model_version = $v "
                              "ORDER BY s.doc_id, s.page, s.box_index",
                         {"d": doc_ids, "dn": detector["name"], "dv": detector["version"], "n": card["name"],
                          "v": card["version"]}).to_pylist()


def _pages_of(con, wanted: dict[str, set[int | None]], detector: dict[str, str]) -> list[dict]:
    """``wanted``: doc_id -> the pages of its claims to look at again (None: any page) -> those ``pages`` rows
    (doc_id, page, width, height, dpi, image_path) with the quarter turns ``q`` that stood the page
    upright when ``detector`` (name, version) looked at it (``detections.page_turn`` / 90), except the pages the
    page orienter was not sure of (``page_turn_sure`` false: a box there would be decided on a crop that may lie
    turned, :func:`sigpipe.audit.unsure_pages`)."""
    rows = storage.query(con, "SELECT p.doc_id, p.page, p.width, p.height, p.dpi, p.image_path, "
                              "coalesce(x.page_turn, 0) // 90 AS q FROM pages p LEFT JOIN detections x "
                              "ON x.page_id = p.page_id AND x.detector_name = $dn AND x.detector_version = $dv "
                              "WHERE list_contains($d, p.doc_id) AND x.page_turn_sure IS DISTINCT FROM false "
                              "ORDER BY p.doc_id, p.page",
                         {"d": sorted(wanted), "dn": detector["name"], "dv": detector["version"]})
    return [p for p in rows.to_pylist() if None in wanted[p["doc_id"]] or p["page"] in wanted[p["doc_id"]]]


def _second_look_boxes(lake: str, folder: str, verifier: str, pages: list[dict], precision: str = "auto"
                       ) -> tuple[dict[str, list[dict]], list[dict]]:
    """``pages`` (:func:`_pages_of`) -> (doc_id -> the boxes a second look found on them, each ``{page,
    x0.., nx0.., confidence, card_conf, destamped, crop, cleaned, embedding}``, cropped and embedded as
    signatures are; the pages whose stored image could not be read, each ``{doc_id, page, reason}``).

    The boxes are the detector's between :data:`sigpipe.audit.SECOND_LOOK_CONF` and the card's confidence (the
    ones at or above it are the document's signatures already), and, when the verifier's card names a stamp
    remover, the boxes it finds (down to that confidence) once the remover has painted the stamps around its
    boxes down to :data:`sigpipe.audit.STAMP_REGION_CONF` (``destamped``): a stamp over a signature can hide it
    from the detector. Those are cut from the painted page (the stamp's ink would otherwise widen the crop, and
    the remover sees more of a stamp on a page region than on a crop), then cleaned as any page crop is; a box
    over one of the page's signatures is left out, one over a weak box is a second look at it. Boxes whose crop
    holds no ink after cleaning are dropped."""
    root = storage.lake_path(lake)
    found, crops, dpis, unread = [], [], [], []
    remover = models.verifier(verifier, precision)[0].destamp

    with models.detector(folder, precision) as det:
        small, ok = [], []
        for p in pages:  # turned upright as the detect stage turned them
            try:
                small.append(turn_page(detector_page(det, root, p), p["q"]))
                ok.append(p)
            except (OSError, ValueError) as e:
                unread.append(_page_lost(p, e))
        look = audit_lib.SECOND_LOOK_CONF if remover is None else audit_lib.STAMP_REGION_CONF
        boxes = det.detect(small, shapes=[turned_shape((p["height"], p["width"]), p["q"]) for p in ok], conf=look)
        card_conf = det.conf
        for p, bs in zip(ok, boxes, strict=True):
            weak = [b for b in bs if audit_lib.SECOND_LOOK_CONF <= b.confidence < card_conf]
            if not weak and (remover is None or not bs):
                continue
            try:
                img = turn_page(pdf.decode_page(root / p["image_path"]), p["q"])
            except (OSError, ValueError) as e:
                unread.append(_page_lost(p, e))
                continue
            look_at = [(b, img, False) for b in weak]
            if remover is not None:
                painted, n = remover.paint_regions(img, [b.xyxy for b in bs[:audit_lib.STAMP_REGIONS]], int(p["dpi"]))
                held = [b.xyxy for b in bs if b.confidence >= card_conf]  # the page's signatures
                again = det.detect([painted], conf=audit_lib.SECOND_LOOK_CONF)[0] if n else []
                look_at += [(b, painted, True) for b in again
                            if not any(box_iou(b.xyxy, h) > audit_lib.SAME_BOX_IOU for h in held)]
            for b, page, destamped in look_at:
                crops.append(signature_crop(page, b.xyxy))
                dpis.append(int(p["dpi"]))
                found.append(_found_box(p, b, card_conf, destamped=destamped))
    return _embedded_boxes(verifier, found, crops, dpis, precision), unread


def _page_lost(p: dict, e: Exception) -> dict:
    """The ``{doc_id, page, reason}`` of a page a second look could not read: the detect stage read it, maybe in an
    earlier run; lost since."""
    return {"doc_id": p["doc_id"], "page": p["page"],
            "reason": f"no second look at page {p['page']}: its stored image {p['image_path']} could not be read "
                      f"({type(e).__name__}: {e})"}


def _found_box(p: dict, b: Any, card_conf: float, **more: Any) -> dict:
    """A box a second look found on the page ``p`` (a :func:`_pages_of` row) turned upright: its row fields, in the
    stored page's pixels and normalised coordinates, with ``more``."""
    sb = stored_box(b, p["q"], (p["height"], p["width"]))
    return {"doc_id": p["doc_id"], "page": p["page"], "x0": round(sb.x0), "y0": round(sb.y0), "x1": round(sb.x1),
            "y1": round(sb.y1), "nx0": sb.nx0, "ny0": sb.ny0, "nx1": sb.nx1, "ny1": sb.ny1,
            "confidence": b.confidence, "card_conf": card_conf, **more}


def _embedded_boxes(verifier: str, found: list[dict], crops: list[np.ndarray], dpis: list[int],
                    precision: str = "auto") -> dict[str, list[dict]]:
    """``found`` boxes with their ``crops`` (cut from pages at ``dpis``) cleaned and embedded -> doc_id -> the boxes
    whose crop holds ink after cleaning, each with ``crop``, ``cleaned`` and ``embedding``."""
    out: dict[str, list[dict]] = defaultdict(list)
    if not crops:
        return out
    emb, ink, _, cleaned = _embed(verifier, crops, dpis, precision)
    for f, c, e, i, q in zip(found, crops, emb, ink, cleaned, strict=True):
        if i > 0:
            out[f["doc_id"]].append({**f, "crop": c, "cleaned": q, "embedding": e})
    return out


def _recut_boxes(lake: str, folder: str, verifier: str, pages: list[dict], todo: list[dict],
                 precision: str = "auto") -> tuple[dict[str, list[dict]], list[dict]]:
    """Signatures a stamp may have cut short, found again whole (:func:`sigpipe.audit.look_again`).

    ``todo``: ``{doc_id, k, sig}`` per claim decided forgery (``k``: its index among the document's verdicts;
    ``sig``: the signatures row it was decided on); ``pages``: their pages (:func:`_pages_of`). On each page the
    verifier's stamp remover paints the stamps around those signatures (the regions of
    :meth:`sigpipe.destamp.StampRemover.paint_regions`) and the detector looks again at the card's confidence; a
    box it finds that holds a claim's signature box and reaches further (:func:`sigpipe.audit.extends`; the largest
    when several do) is cut from the painted page, cleaned and embedded as the second look's boxes are. Returns
    (doc_id -> those boxes, each ``{k, page, x0.., nx0.., confidence, card_conf, destamped, recut_from, crop,
    cleaned, embedding}``; the pages whose stored image could not be read, each ``{doc_id, page, reason}``). Nothing
    without a remover, or on a page where it paints nothing."""
    remover = models.verifier(verifier, precision)[0].destamp
    if remover is None or not todo:
        return {}, []
    root = storage.lake_path(lake)
    found, crops, dpis, unread = [], [], [], []
    on_page: dict[tuple[str, int], list[dict]] = defaultdict(list)
    for t in todo:
        on_page[(t["doc_id"], t["sig"]["page"])].append(t)
    with models.detector(folder, precision) as det:
        for p in pages:
            items = on_page.get((p["doc_id"], p["page"]))
            if not items:
                continue
            shape, q = (p["height"], p["width"]), p["q"]
            try:
                img = turn_page(pdf.decode_page(root / p["image_path"]), q)
            except (OSError, ValueError) as e:
                unread.append(_page_lost(p, e))
                continue
            upright = [turn_box((t["sig"]["x0"], t["sig"]["y0"], t["sig"]["x1"], t["sig"]["y1"]), q, shape)
                       for t in items]
            painted, n = remover.paint_regions(img, upright, int(p["dpi"]))
            if not n:
                continue
            again = det.detect([painted])[0]
            for t, box in zip(items, upright, strict=True):
                s = t["sig"]
                grown = [b for b in again if audit_lib.extends(box, b.xyxy)]
                if not grown:
                    continue
                b = max(grown, key=lambda b: (b.xyxy[2] - b.xyxy[0]) * (b.xyxy[3] - b.xyxy[1]))
                crops.append(signature_crop(painted, b.xyxy))
                dpis.append(int(p["dpi"]))
                found.append(_found_box(p, b, det.conf, k=t["k"], destamped=True,
                                        recut_from=[s["x0"], s["y0"], s["x1"], s["y1"]]))
    return _embedded_boxes(verifier, found, crops, dpis, precision), unread


def _unknown_groups(con, card: dict[str, Any]) -> tuple[list[str], np.ndarray | None]:
    """The unknown writers earlier catalogues grouped with this verifier version, as ``unknown_writers`` shows them
    (their signatures not since enrolled as someone's reference, nor catalogued last by another version):
    (cluster_ids, ``(K, D)`` sums of their members' embeddings), the seeds of :func:`sigpipe.identify.cluster`."""
    tbl = storage.query(con, "SELECT m.cluster_id, e.embedding FROM (SELECT DISTINCT cluster_id, sig_id "
                             "FROM latest_matches WHERE cluster_id IS NOT NULL AND verifier_name = $n "
                             "AND verifier_version = $v "
                             "AND sig_id NOT IN (SELECT sig_id FROM enrolled_signatures)) AS m "
                             "JOIN embeddings e ON e.sig_id = m.sig_id AND e.model_name = $n AND e.model_version = $v",
                        {"n": card["name"], "v": card["version"]})
    if not tbl.num_rows:
        return [], None
    ids, code = np.unique(np.asarray(tbl.column("cluster_id").to_pylist(), dtype=object).astype(str),
                          return_inverse=True)
    col = tbl.column("embedding").combine_chunks()
    emb = col.flatten().to_numpy(zero_copy_only=False).astype(np.float32).reshape(len(col), -1)
    sums = np.zeros((len(ids), emb.shape[1]), np.float32)
    np.add.at(sums, code, emb)
    return ids.tolist(), sums


def _file_names(con, doc_ids: list[str]) -> dict[str, str]:
    """doc_id -> the name the ``documents`` view gives it, copied into verdicts and matches rows so that the
    analyst views need not join documents (a doc_id missing there gets none)."""
    return {r["doc_id"]: r["file_name"] for r in storage.query(
        con, "SELECT doc_id, file_name FROM documents WHERE list_contains($d, doc_id)", {"d": doc_ids}).to_pylist()}


@task(name="audit-documents", retries=2, retry_delay_seconds=2)
@releases_heap
def audit_documents(claims: list[dict[str, Any]], lake: str, run_id: str, verifier: str,
                    detector: dict[str, str], detector_folder: str | None = None,
                    precision: str = "auto") -> dict[str, Any]:
    """``claims``: ``{doc_id, document, path, signer_id, page}`` for a chunk of documents -> evidence sheets for
    flagged verdicts, then the chunk's ``verdicts`` (the commit marker: one part, keyed by the chunk's
    documents, so a retried task replaces it).

    With ``detector_folder`` (the detector ``detector`` names), claims left without a signature get a second look
    (:func:`sigpipe.audit.second_look`): the detector's weaker boxes on the claimed pages, cropped and embedded
    here. A claim that one of them makes ``genuine`` has the box but no ``sig_id`` (the box is not in
    ``signatures``), and an evidence sheet with the crop, as it was decided on less than a detection. A claimed
    page whose stored image cannot be read any more gets no second look and a failures row (returned, for the
    flow to record): ``{documents, decisions: {decision: count}, failures: [rows]}``. ``precision``: the flow's,
    for the models the second look and the look again run (tasks.models)."""
    v, lock = models.verifier(verifier, precision)
    card = v.card.data
    con = storage.connect(lake)
    doc_ids = sorted({c["doc_id"] for c in claims})
    writers, ref_rows = _writers(con, sorted({c["signer_id"] for c in claims}), card)
    sigs = _signature_embeddings(con, doc_ids, detector, card)
    names = _file_names(con, doc_ids)
    by_doc: dict[str, list[dict]] = defaultdict(list)
    for s in sigs:
        by_doc[s["doc_id"]].append(s)
    claims_of: dict[str, list[dict]] = defaultdict(list)
    for c in claims:
        claims_of[c["doc_id"]].append(c)
    decided: dict[str, list[audit_lib.Verdict]] = {}
    for doc_id in doc_ids:
        ds = by_doc.get(doc_id, [])
        emb = np.asarray([s["embedding"] for s in ds], np.float32) if ds else np.zeros((0, 1), np.float32)
        decided[doc_id] = audit_lib.unsure_pages(audit_lib.audit_document(
            [audit_lib.Claim(c["signer_id"], c["page"]) for c in claims_of[doc_id]], [s["page"] for s in ds], emb,
            writers), [s["page_turn_sure"] for s in ds])
    unsigned = {d: {vd.claim.page for vd in vs if vd.decision == "no_signature"} for d, vs in decided.items()}
    unsigned = {d: pages for d, pages in unsigned.items() if pages}
    pages = _pages_of(con, unsigned, detector) if detector_folder and unsigned else []
    # claims decided forgery on a signature a stamp may have cut short: their pages, looked at again once painted
    # (only a verifier with a stamp remover can paint them)
    recut_todo = [] if not detector_folder or v.destamp is None else [
        {"doc_id": d, "k": k, "sig": by_doc[d][vs[k].signature]}
        for d, vs in decided.items() for k in audit_lib.forgeries_on_signatures(vs)]
    recut_pages = _pages_of(con, _pages_wanted(recut_todo), detector) if recut_todo else []
    con.close()
    weak, unread = _second_look_boxes(lake, detector_folder, verifier, pages, precision) if pages else ({}, [])
    recut, unread_recut = _recut_boxes(lake, detector_folder, verifier, recut_pages, recut_todo, precision)
    unread += unread_recut
    counts: dict[str, int] = defaultdict(int)
    pending: list[dict] = []  # the chunk's verdicts rows
    ref_crops: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for doc_id in doc_ids:
        doc_claims = claims_of[doc_id]
        ds = by_doc.get(doc_id, [])
        verdicts = decided[doc_id]
        boxes = weak.get(doc_id, [])
        if boxes:
            verdicts = audit_lib.second_look(verdicts, [b["page"] for b in boxes],
                                             np.asarray([b["embedding"] for b in boxes], np.float32), writers)
        if recut.get(doc_id):  # after the second look's boxes, in the same list
            verdicts = audit_lib.look_again(verdicts, {b["k"]: len(boxes) + i for i, b in enumerate(recut[doc_id])},
                                            np.asarray([b["embedding"] for b in boxes + recut[doc_id]], np.float32),
                                            writers)
            boxes = boxes + recut[doc_id]
        rows = []
        for c, vd in zip(doc_claims, verdicts, strict=True):
            ref = ref_rows[c["signer_id"]][vd.best_ref] if vd.best_ref is not None else None
            ev = None
            if vd.second_look:
                s = boxes[vd.signature]
                vid = f"{doc_id}:{s['page']}:second-{vd.signature}:{c['signer_id']}"
                ev = _evidence(lake, run_id, vid, s["crop"], s["cleaned"], s["page"], ref, vd, c, v, ref_crops,
                               writers[c["signer_id"]][0], lock, _second_look_note(s))
                s = {**s, "sig_id": None}
            else:
                s = ds[vd.signature] if vd.signature is not None else None
                vid = f"{doc_id}:{s['page'] if s else c['page'] or 0}:{s['box_index'] if s else '-'}:{c['signer_id']}"
                if vd.decision in ("forgery", "inconclusive") and s is not None and ref is not None:
                    q_img = pdf.decode_page(storage.lake_path(lake) / s["crop_path"])
                    q_clean = _cleaned(lake, v, s["crop_path"], q_img, s["dpi"])
                    ev = _evidence(lake, run_id, vid, q_img, q_clean, s["page"], ref, vd, c, v, ref_crops,
                                   writers[c["signer_id"]][0], lock, _UNSURE_NOTE if vd.page_unsure else None)
            counts[vd.decision] += 1
            rows.append({"verdict_id": vid, "doc_id": doc_id, "document": c["document"], "file_name": names.get(doc_id),
                         "page": s["page"] if s else c["page"], "sig_id": s["sig_id"] if s else None,
                         **({k: s[k] for k in ("x0", "y0", "x1", "y1", "nx0", "ny0", "nx1", "ny1")} if s else {}),
                         "claimed_signer": c["signer_id"], "score": vd.score, "threshold": vd.threshold,
                         "threshold_kind": vd.threshold_kind, "decision": vd.decision,
                         "best_ref_id": ref["ref_id"] if ref else None,
                         "n_references": len(ref_rows.get(c["signer_id"], [])),
                         "verifier_name": card["name"], "verifier_version": card["version"],
                         "detector_name": detector["name"], "detector_version": detector["version"],
                         "evidence_path": ev, "run_id": run_id, "created_at": now()})
        pending += rows
    # evidence sheets reach the disk in one flush, before the verdicts (the commit marker) name them
    if any(r["evidence_path"] for r in pending):
        storage.flush(lake)
    if pending:
        storage.write_part(lake, "verdicts", run_id, storage.chunk_key(doc_ids), pending)
    # the claim stays no_signature (it was decided on what could be read); the lost page is the flow's to record
    failures = [failure_row(claims_of[u["doc_id"]][0]["path"], u["doc_id"], "audit", "second-look", u["reason"],
                            run_id) for u in unread]
    return {"documents": len(doc_ids), "decisions": dict(counts), "failures": failures}


_UNSURE_NOTE = ("inconclusive whatever the score: the page orienter was not sure which way up this page lies "
                "(it may be scanned turned, and so this crop)")


def _pages_wanted(todo: list[dict]) -> dict[str, set[int | None]]:
    """doc_id -> the pages of ``todo``'s signatures (``{doc_id, sig}``), for :func:`_pages_of`."""
    wanted: dict[str, set[int | None]] = defaultdict(set)
    for t in todo:
        wanted[t["doc_id"]].add(t["sig"]["page"])
    return dict(wanted)


def _second_look_note(box: dict) -> str:
    """The evidence sheet's line for a box a second look found (:func:`_second_look_boxes`, :func:`_recut_boxes`)."""
    if box.get("recut_from"):
        x0, y0, x1, y1 = box["recut_from"]
        return (f"decided forgery on the detector's box ({x1 - x0} x {y1 - y0} px), which stopped at a stamp; with the "
                f"stamps painted out it found the signature {box['x1'] - box['x0']} x {box['y1'] - box['y0']} px "
                f"(confidence {box['confidence']:.2f}), not decided forgery: inconclusive, for a person to look; this "
                f"crop is cut from that page")
    if box["destamped"]:
        return (f"found on a second look once the stamps around it were painted out (this crop is cut from that "
                f"page): confidence {box['confidence']:.2f} (the card's {box['card_conf']:.2f})")
    return (f"found on a second look: detector confidence {box['confidence']:.2f} under the card's "
            f"{box['card_conf']:.2f}")


def _evidence(lake: str, run_id: str, vid: str, q_img: np.ndarray, q_clean: np.ndarray, page: int, ref: dict,
              vd: Any, claim: dict, v: Any, refs: dict[str, tuple[np.ndarray, np.ndarray]], writer: Any,
              lock: Any, note: str | None = None) -> str:
    """One verdict's review sheet: the query crop ``q_img`` as cut from the page and ``q_clean`` as it was
    embedded, against the best reference, with the occlusion map of ``q_clean`` against ``writer`` (the claimed
    signer's :class:`sigpipe.verify.WriterModel`, whose score decided), embedded under ``lock`` (the shared
    verifier's, as every embedding in these tasks); ``refs`` keeps each reference crop (as scanned, cleaned) for the
    task's later sheets: a signer's best reference recurs, and erasing rules costs ~5 ms a crop."""
    root = storage.lake_path(lake)
    if ref["crop_path"] not in refs:
        r_img = pdf.decode_page(root / ref["crop_path"])
        # a reference cut from a PDF is a page's crop (its page's dpi is not at hand here: the remover's own)
        dpi = v.destamp.dpi if ref.get("source_kind") == "pdf" and v.destamp is not None else None
        refs[ref["crop_path"]] = (r_img, _cleaned(lake, v, ref["crop_path"], r_img, dpi))
    r_img, r_clean = refs[ref["crop_path"]]
    with lock:
        occ = explain.occlusion(q_clean, v.embed_clean, writer.score)
    top = occ.windows[occ.top] if occ.top is not None and occ.top_gain >= _BOXED_GAIN else None
    lines = [f"document: {claim['document']} page {page}", f"claimed signer: {claim['signer_id']}",
             f"decision: {vd.decision.upper()}",
             f"score {vd.score:.3f} vs threshold {vd.threshold:.3f} ({vd.threshold_kind})",
             *([note] if note else []),
             f"best reference: {Path(ref['crop_path']).name}", f"verifier {v.card.name} v{v.card.version}",
             "what moved the score: each part of the cleaned crop erased in turn; red parts pull it away from the "
             "signer, green parts match" + (f"; erasing the boxed part gives {occ.base + occ.top_gain:.3f}"
                                             if top is not None else "")]
    png = evidence.evidence_png(q_img, r_img, q_clean, r_clean, f"{vd.decision}: {claim['document']}", lines,
                                evidence.weight_map(q_clean, occ.delta, None if top is None else tuple(top)))
    return storage.write_blob(lake, f"blobs/evidence/{run_id}/{_h(vid, 24)}.png", png, durable=False)


@task(name="write-audit-report", retries=2, retry_delay_seconds=1)
def write_audit_report(lake: str, run_id: str, precision: str = "auto") -> str | None:
    """``<lake>/reports/<run_id>.html``: every verdict of the run, flagged first, thumbnails inlined: the
    signature's stored crop, or for a box not in ``signatures`` (no ``sig_id``: the second look's, or a signature
    found whole once the stamps were painted), the box cut from its stored page. A line under the counts names the
    models that decided them, with the arithmetic the run's ``precision`` meant here, and sigpipe's version.
    A crop or page that cannot be read any more gets no thumbnail; the verdict is listed all the same."""
    import cv2

    root = storage.lake_path(lake)
    con = storage.connect(lake)
    rows = storage.query(con, "SELECT v.*, s.crop_path, p.image_path, coalesce(x.page_turn, 0) // 90 AS q "
                              "FROM verdicts v LEFT JOIN signatures s USING (sig_id) "
                              "LEFT JOIN pages p ON v.sig_id IS NULL AND v.score IS NOT NULL "
                              "AND p.doc_id = v.doc_id AND p.page = v.page "
                              "LEFT JOIN detections x ON x.page_id = p.page_id AND x.detector_name = v.detector_name "
                              "AND x.detector_version = v.detector_version WHERE v.run_id = $r",
                         {"r": run_id}).to_pylist()
    con.close()
    if not rows:
        return None

    def thumbnail(r: dict[str, Any]) -> bytes | None:
        try:
            if r["crop_path"]:
                img = pdf.decode_page(root / r["crop_path"])
            elif r["image_path"]:  # cut from the page turned upright as the second look saw it
                page = pdf.decode_page(root / r["image_path"])
                img = signature_crop(turn_page(page, r["q"]),
                                     turn_box((r["x0"], r["y0"], r["x1"], r["y1"]), r["q"], page.shape))
            else:
                return None
        except (OSError, ValueError):
            return None
        s = 60 / img.shape[0]
        try:
            return pdf.encode_png(cv2.resize(img, (max(1, int(img.shape[1] * s)), 60), interpolation=cv2.INTER_AREA))
        except ValueError:
            return None

    # the flow's last step, with nothing else running: both cores decode and shrink (cv2 releases the GIL)
    with ThreadPoolExecutor(max_workers=2) as pool:
        thumbs = list(pool.map(thumbnail, rows))
    items = [evidence.EvidenceItem(r["document"], r["page"], r["claimed_signer"], r["decision"], r["score"],
                                   r["threshold"], f"../{r['evidence_path']}" if r["evidence_path"] else None, t,
                                   "second look" if r["sig_id"] is None and r["score"] is not None else None)
             for r, t in zip(rows, thumbs, strict=True)]
    used = models.precision_used(precision)
    made = sorted({(k, r[f"{k}_name"], r[f"{k}_version"]) for r in rows for k in ("verifier", "detector")
                   if r[f"{k}_name"]}, key=lambda m: (m[0] != "verifier", m[1], m[2]))
    made_by = (f"Models: {', '.join(f'{k} {n} v{v}' for k, n, v in made)}. This run's arithmetic: verifier "
               f"{used['verifier']}, detector {used['detector']} (boxes and embeddings an earlier run made keep that "
               f"run's: runs.params). sigpipe {__version__}.")
    page = evidence.html_report(run_id, items, now().isoformat(timespec="seconds"), made_by)
    return str(root / storage.write_blob(lake, f"reports/{run_id}.html", page.encode()))


@task(name="catalog-signatures", retries=2, retry_delay_seconds=2)
@releases_heap
def catalog_signatures(doc_ids: list[str], lake: str, run_id: str, verifier: str, detector: dict[str, str],
                       k: int, precision: str = "auto") -> dict[str, Any]:
    """Every signature of ``doc_ids`` -> top-k enrolled signers (``matches``); the unmatched grouped by writer.

    A signature of a page the page orienter was not sure of (``page_turn_sure`` false: it may lie turned) keeps its
    top-k scores but is no one's match and in no group (``not_sure``): as in the audit, a turned crop's score says
    nothing either way, and a group of turned crops would be an unknown writer that is not one. ``precision``: the
    flow's, so that the verifier its embedding tasks loaded is the one read here (tasks.models)."""
    v, _ = models.verifier(verifier, precision)
    card = v.card.data
    con = storage.connect(lake)
    sigs = _signature_embeddings(con, doc_ids, detector, card)
    names = _file_names(con, doc_ids)
    refs = storage.query(con, 'SELECT signer_id, embedding FROM "references" WHERE model_name = $n '
                              "AND model_version = $v ORDER BY signer_id, ref_id",
                         {"n": card["name"], "v": card["version"]})
    signers, ref_code = np.unique(np.asarray(refs.column("signer_id").to_pylist(), dtype=object).astype(str),
                                  return_inverse=True) if refs.num_rows else (np.array([], str), np.array([], int))
    ref_emb = np.asarray(refs.column("embedding").to_pylist(), np.float32) if refs.num_rows else None
    q = np.asarray([s["embedding"] for s in sigs], np.float32) if sigs else np.zeros((0, 1), np.float32)
    rows, t = [], now()
    if ref_emb is not None and len(q):
        cand = identify.topk_signers(q, ref_emb, ref_code, k=k).signers
    else:
        cand = np.full((len(q), 0), -1, np.int32)
    # writer models (the card's aggregation and per-writer thresholds) only for the shortlisted signers
    writers = {}
    if len(cand) and (cand >= 0).any():
        order = np.argsort(ref_code, kind="stable")
        lo = np.searchsorted(ref_code[order], np.unique(cand[cand >= 0]), "left")
        hi = np.searchsorted(ref_code[order], np.unique(cand[cand >= 0]), "right")
        for c, a, b in zip(np.unique(cand[cand >= 0]), lo, hi, strict=True):
            writers[int(c)] = audit_lib.writer_model(card, str(signers[c]), ref_emb[order[a:b]])[0]
    matched = np.zeros(len(q), bool)
    unsure = np.array([s["page_turn_sure"] is False for s in sigs], bool)
    per_sig: list[list[tuple[str, float, bool]]] = []
    for i in range(len(q)):
        found = []
        for code in cand[i]:
            if code < 0:
                continue
            s, ok = writers[int(code)].verify(q[i : i + 1])
            found.append((str(signers[code]), float(s[0]), bool(ok[0])))
        found.sort(key=lambda f: -f[1])  # re-ranked by the card's writer-dependent score
        if unsure[i]:
            found = [(signer, score, False) for signer, score, _ in found]
        matched[i] = bool(found) and found[0][2]
        per_sig.append(found)
    group = ~matched & ~unsure
    # an unknown writer an earlier catalogue grouped is one a new signature may join: an archive catalogued box by
    # box, night by night, groups each unknown hand once, under the cluster_id it was first given (read only when
    # there is a signature to group: a catalogue that matched everything does not read the lake's groups)
    earlier, seeds = _unknown_groups(con, card) if group.any() else ([], None)
    con.close()
    labels = identify.cluster(q[group], float(card["threshold"]["value"]), seeds=seeds) if group.any() else []
    k0 = len(earlier)
    cluster_of = dict(zip(np.flatnonzero(group).tolist(),
                          (earlier[c] if c < k0 else f"{run_id}:w{int(c) - k0:04d}" for c in labels), strict=True))
    for i, s in enumerate(sigs):
        base = {"sig_id": s["sig_id"], "doc_id": s["doc_id"], "file_name": names.get(s["doc_id"]), "page": s["page"],
                "cluster_id": cluster_of.get(i),
                "verifier_name": card["name"], "verifier_version": card["version"], "run_id": run_id, "created_at": t}
        if not per_sig[i]:
            rows.append({**base, "rank": None, "signer_id": None, "score": None, "is_match": False})
        for rank, (signer, score, ok) in enumerate(per_sig[i], 1):
            rows.append({**base, "rank": rank, "signer_id": signer, "score": score, "is_match": ok})
    # one part for the whole catalogue: the clusters of unknown writers span documents, so a run killed while
    # writing leaves all of its matches or none, and its rerun clusters every document together again
    if rows:
        storage.write_part(lake, "matches", run_id, storage.chunk_key(doc_ids), rows)
    return {"signatures": len(sigs), "matched": int(matched.sum()), "unknown": int(group.sum()),
            "clusters": len(set(cluster_of.values())), "joined": int(sum(c < k0 for c in labels)),
            "not_sure": int(unsure.sum())}
