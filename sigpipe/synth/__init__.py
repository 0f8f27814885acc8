"""Deterministic synthetic signers and scanned documents (demo, tests, verifier signal, detector pre-training).

Pure numpy + OpenCV + Pillow. Same seed, same bytes: every random stream is a ``numpy.random.Generator``
keyed by (seed, purpose, index).

- signers: :func:`make_signer`, :func:`make_forger`, :func:`sample_signature`, :func:`signature_crop`,
  :func:`keypoint_displacement`, :func:`variation_gap`
- pages: :func:`make_page` / :func:`compose_page` (cheque, letter, contract, form)
- data sets: :func:`generate` (crops, references, PDFs + truth), :func:`export_yolo` (detector pages)
"""

from sigpipe.synth.dataset import export_yolo, generate, make_document, make_forgers, make_signers, write_pdf
from sigpipe.synth.documents import PAGE_KINDS, ComposedPage, PlacedSignature, compose_page, make_page, page_size
from sigpipe.synth.signers import (
    Forger,
    Signature,
    SignerStyle,
    forger_id,
    handwritten_note,
    keypoint_displacement,
    make_forger,
    make_signer,
    render_crop,
    sample_signature,
    signature_crop,
    signer_id,
    variation_gap,
)

__all__ = [
    "PAGE_KINDS",
    "ComposedPage",
    "Forger",
    "PlacedSignature",
    "Signature",
    "SignerStyle",
    "compose_page",
    "export_yolo",
    "forger_id",
    "generate",
    "handwritten_note",
    "keypoint_displacement",
    "make_document",
    "make_forger",
    "make_forgers",
    "make_page",
    "make_signer",
    "make_signers",
    "page_size",
    "render_crop",
    "sample_signature",
    "signature_crop",
    "signer_id",
    "variation_gap",
    "write_pdf",
]
