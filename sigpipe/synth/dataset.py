"""Whole synthetic data sets on disk: verifier crops, enrolment references, scanned PDFs with ground truth,
and a YOLO detection data set of synthetic pages.

Every random stream is keyed by ``(seed, purpose, index)``, so a signer, a document or an image depends only
on the seed and its own index (not on how many others were asked for) and reruns are byte-identical.
"""

from __future__ import annotations

import csv
import json
import math
import shutil
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from sigpipe.synth.documents import ComposedPage, compose_page
from sigpipe.synth.signers import (
    Forger,
    SignerStyle,
    forger_id,
    make_forger,
    make_signer,
    signature_crop,
    signer_id,
)

__all__ = ["make_signers", "make_forgers", "make_document", "write_pdf", "rescan", "generate", "export_yolo",
           "DOC_KIND_P"]

# Stream keys: purpose codes of the (seed, purpose, index) random streams.
_SIGNER, _FORGER, _GENUINE, _FORGED, _REFERENCE, _DOCUMENT = 1, 2, 3, 4, 5, 6
_YOLO_SIGNER, _YOLO_FORGER, _YOLO_TRAIN, _YOLO_VAL = 11, 12, 13, 14

DOC_KIND_P = {"cheque": 0.3, "letter": 0.25, "contract": 0.25, "form": 0.2}
_N_PAGES_P = {"cheque": (1.0,), "letter": (0.8, 0.2), "contract": (0.3, 0.4, 0.3), "form": (0.85, 0.15)}
_OUTPUTS = ("signers", "references", "inbox", "truth", "manifest.csv", "truth.csv")


def _rng(seed: int, purpose: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, purpose, index])


def make_signers(n: int, seed: int, purpose: int = _SIGNER) -> list[SignerStyle]:
    """Signers ``S0001..`` of a seed; signer i depends only on (seed, i)."""
    return [make_signer(signer_id(i + 1), _rng(seed, purpose, i)) for i in range(n)]


def make_forgers(n: int, seed: int, purpose: int = _FORGER) -> list[Forger]:
    """Forgers ``F0001..`` of a seed; forger i depends only on (seed, i)."""
    return [make_forger(forger_id(i + 1), _rng(seed, purpose, i)) for i in range(n)]


def make_document(
    kind: str,
    rng: np.random.Generator,
    signers: Sequence[SignerStyle],
    forgers: Sequence[Forger] = (),
    *,
    dpi: int = 200,
    forged_fraction: float = 0.25,
    stamp_ink: float = 1.0,
) -> list[ComposedPage]:
    """The pages of one document. Contracts have 1-3 pages, letters and forms 1-2, cheques 1; signatures
    (0-3, distinct claimed signers) go on the last page. stamp_ink: :func:`compose_page`'s."""
    n_pages = int(rng.choice(len(_N_PAGES_P[kind]), p=_N_PAGES_P[kind])) + 1
    pages: list[ComposedPage] = []
    used: set[str] = set()
    for i in range(n_pages):
        role = "single" if n_pages == 1 else ("first" if i == 0 else ("last" if i == n_pages - 1 else "body"))
        page = compose_page(kind, rng, signers, forgers=forgers, forged_fraction=forged_fraction, dpi=dpi,
                            role=role, exclude=used, stamp_ink=stamp_ink)
        used |= {s.claimed_signer_id for s in page.signatures}
        pages.append(page)
    return pages


def write_pdf(images: Sequence[np.ndarray], path: Path, dpi: int, quality: int = 85) -> None:
    """Image-only PDF, one JPEG-compressed greyscale page per (H, W) uint8 image, page size = pixels / dpi.

    No creation date is written, so the file is byte-identical for identical pages.
    """
    ims = [Image.fromarray(np.ascontiguousarray(im, dtype=np.uint8)) for im in images]  # 2-D uint8 -> mode L
    path.parent.mkdir(parents=True, exist_ok=True)
    ims[0].save(path, "PDF", resolution=float(dpi), save_all=True, append_images=ims[1:], quality=quality,
                title=path.stem, creationDate=None, modDate=None, producer="sigpipe.synth")


def rescan(src: Path, dst: Path, degrees: int = 0, dpi: int = 200, quality: int = 90) -> None:
    """``src`` PDF scanned again into ``dst``: each page rendered greyscale by poppler at ``dpi``, turned by
    ``degrees`` counter-clockwise (a multiple of 90: a page fed into the scanner the wrong way round), written one
    JPEG a page as a scanner writes it (:func:`write_pdf`). ``degrees`` 0 is the same re-scan, upright."""
    from pdf2image import convert_from_path

    if degrees % 90:
        raise ValueError(f"degrees {degrees} is not a multiple of 90")
    pages = [np.rot90(np.asarray(p), degrees // 90) for p in convert_from_path(src, dpi=dpi, grayscale=True)]
    write_pdf(pages, dst, dpi, quality)


def _write_png(path: Path, img: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), img):
        raise OSError(f"could not write {path}")


def generate(
    out: Path,
    signers: int,
    documents: int,
    seed: int,
    forged_fraction: float = 0.25,
    references_per_signer: int = 6,
    dpi: int = 200,
    genuine_per_signer: int = 12,
    forged_per_signer: int = 12,
    overwrite: bool = False,
    stamp_ink: float = 1.0,
) -> dict:
    """Write a whole synthetic data set under ``out`` and return a summary.

    Layout::

        signers/<signer_id>/genuine/NN.png   genuine crops  (verifier training layout <root>/<writer>/genuine/*)
        signers/<signer_id>/forged/NN.png    skilled forgeries of that signer
        references/<signer_id>/NN.png        enrolment references (other draws than any crop or document)
        inbox/doc-NNNN-<kind>.pdf            image-only scanned PDFs
        truth/doc-NNNN-<kind>.json           ground truth per document (boxes in page pixels at ``dpi``)
        manifest.csv                         document,signer_id,page: the CLAIMED signer of each signature
        truth.csv                            document,page,x0,y0,x1,y1,signer_id,claimed_signer_id,genuine

    A forged signature's signer_id is the forger (``F0001``), its claimed_signer_id the target. Refuses to
    write over an earlier output unless ``overwrite`` (which removes only the paths listed above). ``stamp_ink``
    scales the documents' stamps (:func:`compose_page`): 0 gives the same documents with no stamp drawn.
    """
    out = Path(out)
    existing = [out / p for p in _OUTPUTS if (out / p).exists()]
    if existing:
        if not overwrite:
            raise FileExistsError(f"{out} already holds a synthetic data set ({existing[0].name}); pass overwrite")
        for p in existing:
            shutil.rmtree(p) if p.is_dir() else p.unlink()
    out.mkdir(parents=True, exist_ok=True)
    styles = make_signers(signers, seed)
    forgers = make_forgers(max(3, math.ceil(signers / 2)), seed)

    for i, st in enumerate(styles):
        root = out / "signers" / st.signer_id
        rg = _rng(seed, _GENUINE, i)
        for k in range(genuine_per_signer):
            _write_png(root / "genuine" / f"{k + 1:02d}.png", signature_crop(st, rg, dpi=dpi))
        rf = _rng(seed, _FORGED, i)
        for k in range(forged_per_signer):
            f = forgers[int(rf.integers(0, len(forgers)))]
            _write_png(root / "forged" / f"{k + 1:02d}.png", signature_crop(st, rf, dpi=dpi, forger=f))
        rr = _rng(seed, _REFERENCE, i)
        for k in range(references_per_signer):
            _write_png(out / "references" / st.signer_id / f"{k + 1:02d}.png", signature_crop(st, rr, dpi=dpi))

    kinds = list(DOC_KIND_P)
    p_kind = list(DOC_KIND_P.values())
    manifest: list[tuple[str, str, int]] = []
    truth_rows: list[tuple] = []
    n_pages = 0
    by_kind: Counter[str] = Counter()
    (out / "inbox").mkdir(parents=True, exist_ok=True)
    (out / "truth").mkdir(parents=True, exist_ok=True)
    for d in range(documents):
        rd = _rng(seed, _DOCUMENT, d)
        kind = kinds[int(rd.choice(len(kinds), p=p_kind))]
        name = f"doc-{d + 1:04d}-{kind}.pdf"
        pages = make_document(kind, rd, styles, forgers, dpi=dpi, forged_fraction=forged_fraction,
                              stamp_ink=stamp_ink)
        write_pdf([p.image for p in pages], out / "inbox" / name, dpi)
        truth = {"document": name, "kind": kind, "dpi": dpi, "pages": []}
        for pno, page in enumerate(pages, start=1):
            h, w = page.image.shape
            sigs = []
            for s in page.signatures:
                sigs.append({"box": list(s.box), "box_norm": [round(v, 6) for v in s.box_norm(w, h)],
                             "signer_id": s.signer_id, "genuine": s.genuine, "claimed_signer_id": s.claimed_signer_id})
                manifest.append((name, s.claimed_signer_id, pno))
                truth_rows.append((name, pno, *s.box, s.signer_id, s.claimed_signer_id, str(s.genuine).lower()))
            truth["pages"].append({"page": pno, "width": w, "height": h, "signatures": sigs,
                                   "handwritten_notes": page.notes, "stamps": page.stamps})
        (out / "truth" / f"{Path(name).stem}.json").write_text(json.dumps(truth, indent=1) + "\n")
        n_pages += len(pages)
        by_kind[kind] += 1
    with open(out / "manifest.csv", "w", newline="") as f:
        wr = csv.writer(f, lineterminator="\n")
        wr.writerow(["document", "signer_id", "page"])
        wr.writerows(manifest)
    with open(out / "truth.csv", "w", newline="") as f:
        wr = csv.writer(f, lineterminator="\n")
        wr.writerow(["document", "page", "x0", "y0", "x1", "y1", "signer_id", "claimed_signer_id", "genuine"])
        wr.writerows(truth_rows)
    return {
        "out": str(out),
        "seed": seed,
        "dpi": dpi,
        "signers": signers,
        "forgers": len(forgers),
        "genuine_crops": signers * genuine_per_signer,
        "forged_crops": signers * forged_per_signer,
        "references": signers * references_per_signer,
        "documents": documents,
        "documents_by_kind": dict(sorted(by_kind.items())),
        "pages": n_pages,
        "signatures": len(truth_rows),
        "forged_signatures": sum(r[-1] == "false" for r in truth_rows),
    }


def _rotate_boxes(boxes: list[tuple[int, int, int, int]], k: int, w: int, h: int) -> list[tuple[int, int, int, int]]:
    """Half-open boxes of a (h, w) image after ``np.rot90(img, k)`` (k counter-clockwise quarter turns)."""
    from sigpipe.orient import turn_box

    return [tuple(int(v) for v in turn_box(b, k, (h, w))) for b in boxes]  # type: ignore[misc]


def export_yolo(
    out: Path,
    n_train: int,
    n_val: int,
    seed: int,
    imgsz: int | None = None,
    *,
    dpi: int = 150,
    signers: int = 48,
    quality: int = 90,
) -> dict:
    """Write a YOLO detection data set of synthetic pages (class 0 = signature) under ``out``.

    images/{train,val}/*.jpg, labels/{train,val}/*.txt (``0 cx cy w h``, normalised; empty file = no
    signature) and data.yaml. About 12 % of pages are negatives (no signature, with a handwritten note and/or
    a stamp), about 10 % are contract body pages, about 17 % are turned 90 or 180 degrees. ``imgsz``: resize
    each page so its long side is imgsz (aspect kept); None keeps the page at ``dpi``. Train and val use
    disjoint signer pools. Returns counts.
    """
    out = Path(out)
    stats: dict[str, int] = {}
    for split, n, purpose, spool in (("train", n_train, _YOLO_TRAIN, 0), ("val", n_val, _YOLO_VAL, 1)):
        # Disjoint writers per split: val measures detection of hands the model never saw.
        pool = make_signers(signers, seed * 2 + spool, purpose=_YOLO_SIGNER)
        fpool = make_forgers(max(3, signers // 4), seed * 2 + spool, purpose=_YOLO_FORGER)
        img_dir, lab_dir = out / "images" / split, out / "labels" / split
        img_dir.mkdir(parents=True, exist_ok=True)
        lab_dir.mkdir(parents=True, exist_ok=True)
        n_boxes = n_neg = 0
        for j in range(n):
            r = _rng(seed, purpose, j)
            kind = list(DOC_KIND_P)[int(r.choice(len(DOC_KIND_P), p=list(DOC_KIND_P.values())))]
            u = r.random()
            if u < 0.12:  # hard negative: handwriting and stamps but no signature
                page = compose_page(kind, r, pool, n_signatures=0, dpi=dpi, note=True, stamp=bool(r.random() < 0.6))
            elif u < 0.22 and kind == "contract":
                page = compose_page(kind, r, pool, dpi=dpi, role="body")
            else:
                page = compose_page(kind, r, pool, forgers=fpool, forged_fraction=0.3, dpi=dpi)
            img = page.image
            h, w = img.shape
            boxes = [s.box for s in page.signatures]
            v = r.random()
            k = 1 if v < 0.06 else 3 if v < 0.12 else 2 if v < 0.17 else 0
            if k:
                img = np.ascontiguousarray(np.rot90(img, k))
                boxes = _rotate_boxes(boxes, k, w, h)
            h, w = img.shape
            if imgsz:
                f = imgsz / max(h, w)
                img = cv2.resize(img, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
            stem = f"synth-{split}-{j:06d}"
            if not cv2.imwrite(str(img_dir / f"{stem}.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, quality]):
                raise OSError(f"could not write {img_dir / stem}.jpg")
            lines = [f"0 {(x0 + x1) / 2 / w:.6f} {(y0 + y1) / 2 / h:.6f} {(x1 - x0) / w:.6f} {(y1 - y0) / h:.6f}"
                     for x0, y0, x1, y1 in boxes]
            (lab_dir / f"{stem}.txt").write_text("".join(line + "\n" for line in lines))
            n_boxes += len(lines)
            n_neg += not lines
        stats |= {f"{split}_images": n, f"{split}_boxes": n_boxes, f"{split}_negatives": n_neg}
    (out / "data.yaml").write_text(
        f"# synthetic signature pages, sigpipe.synth.export_yolo(seed={seed}, imgsz={imgsz}, dpi={dpi})\n"
        f"path: {out.resolve()}\ntrain: images/train\nval: images/val\nnames:\n  0: signature\n"
    )
    return {"out": str(out), "seed": seed, "imgsz": imgsz, "dpi": dpi, **stats}
