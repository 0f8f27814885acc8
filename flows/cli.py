"""The ``sigpipe`` console command (typer). Heavy imports live inside each command so --help is instant."""

from __future__ import annotations

from sigpipe.runtime import configure

configure()

import json  # noqa: E402
from enum import StrEnum  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import typer  # noqa: E402

app = typer.Typer(help="sigpipe: find handwritten signatures in scanned PDFs and verify who wrote them.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
train_app = typer.Typer(help="Train models (verifier, detector).", no_args_is_help=True)
eval_app = typer.Typer(help="Evaluate models and print one JSON object.", no_args_is_help=True)
app.add_typer(train_app, name="train")
app.add_typer(eval_app, name="eval")

LAKE = typer.Option(Path("lake"), "--lake", help="lake folder: Parquet tables, page images, crops")


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


def _fail(message: str, code: int = 2) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def _print_table(tbl: Any, title: str | None = None, fmt: Format = Format.table) -> None:
    """An Arrow table to stdout as a rich table, CSV or a JSON list of objects."""
    rows = tbl.to_pylist()
    if fmt is Format.json:
        typer.echo(json.dumps(rows, default=str, indent=1))
        return
    if fmt is Format.csv:
        import csv
        import sys

        w = csv.writer(sys.stdout)
        w.writerow(tbl.column_names)
        w.writerows([[r[c] for c in tbl.column_names] for r in rows])
        return
    from rich.console import Console
    from rich.table import Table

    t = Table(title=title)
    for c in tbl.column_names:
        t.add_column(c, overflow="fold")
    for r in rows:
        t.add_row(*("" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v) for v in r.values()))
    Console(width=200).print(t)


def _parse_param(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise typer.BadParameter(f"{text!r}: expected k=v")
    key, raw = text.split("=", 1)
    try:
        value = json.loads(raw)  # numbers, true/false, null; anything else is a string
        if isinstance(value, list | dict):
            value = raw
    except json.JSONDecodeError:
        value = raw
    return key.strip(), value


@app.command()
def sql(query: str = typer.Argument(..., help="SQL over the lake's views; bind values as $name"),
        lake: Path = LAKE,
        format: Format = typer.Option(Format.table, "--format", help="table, csv or json"),
        param: list[str] = typer.Option([], "--param", help="k=v bound to $k (repeatable)")) -> None:
    """Run one SQL query over the lake's DuckDB views, with bound parameters."""
    import duckdb

    import storage

    params = dict(_parse_param(p) for p in param)
    try:
        con = storage.connect(lake)
        tbl = storage.query(con, query, params)
    except FileNotFoundError as e:
        _fail(str(e))
    except duckdb.Error as e:
        _fail(f"query failed: {e}")
    _print_table(tbl, fmt=format)


@app.command()
def ingest(inbox: Path = typer.Argument(..., help="folder of PDFs (searched recursively)"),
           lake: Path = LAKE,
           dpi: int = typer.Option(200, help="render resolution"),
           json_out: bool = typer.Option(False, "--json", help="print the run summary as JSON")) -> None:
    """PDFs in INBOX -> page images and documents/pages rows in the lake (idempotent)."""
    from pydantic import ValidationError

    from flows.ingest import ingest as ingest_flow
    from flows.params import IngestParams
    from tasks.progress import enable_bar

    try:
        params = IngestParams(inbox=inbox, lake=lake, dpi=dpi)
    except ValidationError as e:
        _fail("; ".join(err["msg"] for err in e.errors()))
    enable_bar(not json_out)
    summary = ingest_flow(params)
    if json_out:
        typer.echo(json.dumps(summary, indent=1))
        return
    _report_ingest(summary)


def _report_ingest(summary: dict[str, Any]) -> None:
    import storage

    typer.echo(f"run {summary['run_id']}: {summary['ingested']} documents ({summary['pages']} pages) ingested, "
               f"{len(summary['skipped'])} skipped, {len(summary['failed'])} failed")
    for s in summary["skipped"]:
        typer.echo(f"  skipped {s['path']}: {s['why']}")
    for f in summary["failed"]:
        typer.secho(f"  failed  {f['path']}: {f['reason']}", fg=typer.colors.YELLOW)
    con = storage.connect(summary["lake"])
    _print_table(storage.query(con, "SELECT file_name, n_pages, dpi, max_width, max_height, size_kib, ingested_at "
                                    "FROM document_summary"), title="documents in the lake")


@train_app.command("detector")
def train_detector_cmd(
    data: Path = typer.Option(..., help="data.yaml (YOLO format, absolute paths, writable folder)."),
    out: Path = typer.Option(Path("models/detector-yolo11n"), help="Model folder to write (weights + card + README)."),
    epochs: int = typer.Option(60, help="Maximum epochs (early stop by --patience)."),
    imgsz: int = typer.Option(416, help="Square training/inference size in pixels."),
    batch: int = typer.Option(16),
    patience: int = typer.Option(15, help="Epochs without valid improvement before stopping."),
    close_mosaic: int = typer.Option(10, help="Last epochs trained without mosaic."),
    seed: int = typer.Option(0),
    threads: int = typer.Option(1, help="torch CPU threads (the machine is shared)."),
    device: str = typer.Option("", help="'' = CUDA when present, else cpu."),
    run_dir: Path | None = typer.Option(None, help="ultralytics run dir [default: .state/runs/detector/<out name>]."),
    resume: bool = typer.Option(False, help="Continue from <run-dir>/weights/last.pt (a finished run only exports)."),
) -> None:
    """Train the signature detector (ultralytics), then export best.pt + card.json + README.md to --out."""
    from sigpipe import detect
    from sigpipe.runtime import state_dir

    cfg = detect.TrainConfig(
        data=data, run_dir=run_dir or state_dir() / "runs" / "detector" / out.name, epochs=epochs, imgsz=imgsz,
        batch=batch, patience=patience, close_mosaic=close_mosaic, seed=seed, device=device, threads=threads,
    )
    try:
        card = detect.train_detector(cfg, out, resume=resume, log=typer.echo)
    except (detect.DetectError, FileExistsError, FileNotFoundError) as e:
        _fail(str(e))
    typer.echo(f"wrote {out} (sha256 {card['sha256'][:12]}...)")


@app.command()
def demo(out: Path = typer.Option(Path("demo"), "--out", help="folder for the demo data and its lake"),
         signers: int = typer.Option(8, help="synthetic signers"),
         documents: int = typer.Option(24, help="synthetic documents in the night's batch"),
         seed: int = typer.Option(7, help="seed of the built-in demo data")) -> None:
    """The whole story on built-in synthetic data: generate a batch, ingest it, print the summary."""
    from flows.ingest import ingest as ingest_flow
    from flows.params import IngestParams
    from sigpipe.synth import generate
    from tasks.progress import enable_bar

    data, lake = out / "data", out / "lake"
    if not (data / "manifest.csv").is_file():
        typer.echo(f"generating demo data in {data} (seed {seed})")
        generate(data, signers=signers, documents=documents, seed=seed)
    enable_bar(True)
    summary = ingest_flow(IngestParams(inbox=data / "inbox", lake=lake))
    _report_ingest(summary)
    typer.echo(f"\nlake: {lake.resolve()}  (try: sigpipe sql 'SELECT * FROM document_summary' --lake {lake})")


if __name__ == "__main__":
    app()
