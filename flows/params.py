"""Validated parameter models, one per flow: deployments and the CLI fill the same model."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sigpipe.manifest import check_manifest, names_signatures, signer_id_error
from sigpipe.pdf import DEFAULT_DPI, DEFAULT_MAX_PIXELS

__all__ = ["IngestParams", "DetectParams", "EnrollParams", "AuditParams", "CatalogParams", "ReviewParams",
           "WithdrawParams", "Precision", "DEFAULT_DETECTOR",
           "DEFAULT_VERIFIER", "MODELS_DIR"]

MODELS_DIR = Path(__file__).resolve().parents[1] / "models"
Precision = Literal["auto", "fp32", "bf16"]
PRECISION_HELP = ("the models' arithmetic: auto = bf16 on CPUs with native bf16 (AVX512-BF16/AMX; about twice as "
                  "fast), fp16 for the verifier on CUDA, fp32 otherwise; fp32 = the same arithmetic on every host")
DEFAULT_DETECTOR = MODELS_DIR / "detector-yolo11n"
DEFAULT_VERIFIER = MODELS_DIR / "verifier-signet"


class _Params(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class IngestParams(_Params):
    inbox: Path = Field(description="folder of PDFs (searched recursively for *.pdf)")
    lake: Path = Field(description="lake root: Parquet tables and page images")
    dpi: int = Field(DEFAULT_DPI, ge=50, le=600, description="render resolution; 200 keeps thin strokes")
    max_pixels: int = Field(DEFAULT_MAX_PIXELS, gt=0, description="refuse pages larger than this (bombs)")

    @field_validator("inbox")
    @classmethod
    def _inbox_exists(cls, v: Path) -> Path:
        if not v.is_dir():
            raise ValueError(f"inbox {v} is not a folder")
        return v.resolve()

    @field_validator("lake")
    @classmethod
    def _lake_abs(cls, v: Path) -> Path:
        return v.expanduser().resolve()


def _model_folder(v: Path) -> Path:
    if not (v / "card.json").is_file():
        raise ValueError(f"{v} is not a model folder (no card.json)")
    return v.resolve()


class DetectParams(IngestParams):
    detector: Path = Field(DEFAULT_DETECTOR, description="detector model folder (weights + card.json)")
    precision: Precision = Field("auto", description=PRECISION_HELP)

    _detector_folder = field_validator("detector")(_model_folder)

    def ingest_params(self) -> IngestParams:
        return IngestParams(**self.model_dump(include=set(IngestParams.model_fields)))


class _VerifyParams(DetectParams):
    verifier: Path = Field(DEFAULT_VERIFIER, description="verifier model folder (weights + card.json)")
    # Crops per embedding task: large enough to fill a batch on the GPU, small enough to retry cheaply.
    embed_chunk: int = Field(256, ge=1, le=100_000)

    _verifier_folder = field_validator("verifier")(_model_folder)


class EnrollParams(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    source: Path = Field(description="folder of <signer_id>/*.png|jpg|tif, or a CSV manifest: signer_id and per row "
                                     "a file (PDF or image, relative to the CSV) or a sig_id the lake holds")
    lake: Path
    detector: Path = Field(DEFAULT_DETECTOR, description="for references cut from PDFs")
    verifier: Path = DEFAULT_VERIFIER
    dpi: int = Field(DEFAULT_DPI, ge=50, le=600)
    max_pixels: int = Field(DEFAULT_MAX_PIXELS, gt=0)
    precision: Precision = Field("auto", description=PRECISION_HELP)
    replace: bool = Field(False, description="each signer the source names keeps only the references it gives: "
                                             "the others are withdrawn once at least one of these is enrolled")

    _lake = field_validator("lake")(lambda v: v.expanduser().resolve())
    _verifier_folder = field_validator("verifier")(_model_folder)

    @field_validator("source")
    @classmethod
    def _source_exists(cls, v: Path) -> Path:
        if not v.exists():
            raise ValueError(f"enrolment source {v} does not exist")
        if v.is_file():
            check_manifest(v, "enroll")
        return v.resolve()

    @model_validator(mode="after")
    def _signatures_need_their_lake(self) -> EnrollParams:
        # rows naming sig_ids enrol what a lake holds: a mistyped --lake would be created, with every row a failure
        if self.source.is_file() and not self.lake.is_dir() and names_signatures(self.source):
            raise ValueError(f"lake {self.lake} does not exist, and {self.source.name} names signatures (sig_id) "
                             "that only a lake holds")
        return self


class AuditParams(_VerifyParams):
    manifest: Path = Field(description="CSV: document (relative to the inbox), signer_id, optional page")
    # Documents per verdict task: one DuckDB read per chunk instead of per document.
    audit_chunk: int = Field(64, ge=1, le=10_000)

    @field_validator("manifest")
    @classmethod
    def _manifest_exists(cls, v: Path) -> Path:
        if not v.is_file():
            raise ValueError(f"manifest {v} is not a file")
        check_manifest(v, "audit")
        return v.resolve()


class CatalogParams(_VerifyParams):
    top_k: int = Field(10, ge=1, le=100, description="enrolled signers listed per signature")


def _existing_lake(v: Path) -> Path:
    """A lake the run only adds to what it holds (findings on its verdicts, withdrawals of its references): a
    mistyped one would be created empty, and every row of the run would be a failure in it."""
    if not v.expanduser().is_dir():
        raise ValueError(f"lake {v} does not exist")
    return v.expanduser().resolve()


class ReviewParams(_Params):
    file: Path = Field(description="CSV: verdict_id, outcome (genuine | forgery | not_signed | unclear), optional "
                                   "reviewer, note, reviewed_at (ISO 8601)")
    lake: Path
    reviewer: str | None = Field(None, max_length=128, description="for rows that name no reviewer")

    _lake = field_validator("lake")(_existing_lake)

    @field_validator("file")
    @classmethod
    def _file_exists(cls, v: Path) -> Path:
        if not v.is_file():
            raise ValueError(f"review file {v} is not a file")
        check_manifest(v, "review")
        return v.resolve()


class WithdrawParams(_Params):
    signers: tuple[str, ...] = Field((), description="the signers whose references are withdrawn")
    lake: Path
    refs: tuple[str, ...] = Field((), description="only these ref_ids of those signers; none named: all of them")
    file: Path | None = Field(None, description="CSV: signer_id, optional ref_id (empty: all of the signer's "
                                                "references); with or instead of signers")
    reason: str = Field(min_length=1, max_length=2000, description="why: kept with each withdrawal")
    withdrawn_by: str | None = Field(None, max_length=128, description="who asked")

    _lake = field_validator("lake")(_existing_lake)

    @field_validator("signers")
    @classmethod
    def _signer_ids(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for s in v:
            if (err := signer_id_error(s)) is not None:
                raise ValueError(f"signer {s!r}: {err}")
        return tuple(dict.fromkeys(v))  # named twice is named once

    @field_validator("refs")
    @classmethod
    def _ref_ids(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if any(not r.strip() for r in v):
            raise ValueError("an empty ref_id")
        return tuple(dict.fromkeys(v))

    @field_validator("reason")
    @classmethod
    def _reason(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("a reason is needed: it is kept with each withdrawal")
        return v.strip()

    @field_validator("file")
    @classmethod
    def _file_usable(cls, v: Path | None) -> Path | None:
        if v is None:
            return None
        if not v.is_file():
            raise ValueError(f"withdrawal file {v} is not a file")
        check_manifest(v, "withdraw")
        return v.resolve()

    @model_validator(mode="after")
    def _something_named(self) -> WithdrawParams:
        if not self.signers and self.file is None:
            raise ValueError("name the signers, or a file of them")
        if self.refs and not self.signers:
            raise ValueError("refs narrow the signers named beside them: name those signers")
        return self
