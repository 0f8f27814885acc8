"""Validated parameter models, one per flow: deployments and the CLI fill the same model."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sigpipe.pdf import DEFAULT_DPI, DEFAULT_MAX_PIXELS

__all__ = ["IngestParams"]


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
