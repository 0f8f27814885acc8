"""The ``sigpipe`` console command (typer). Heavy imports live inside each command so --help is instant."""

from __future__ import annotations

from sigpipe.runtime import configure

configure()

import json  # noqa: E402
from collections.abc import Callable  # noqa: E402
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
DASK = typer.Option(None, "--dask", metavar="ADDRESS",
                    help="run the document-level work on the Dask cluster at ADDRESS (e.g. tcp://host:8786); "
                         "default: local threads")


def _on(flow_fn: Any, dask: str | None) -> Any:
    """The flow on the task runner the command line asked for (flows/runners.py); a model folder whose weights
    do not match their card, or an unusable manifest, ends the command with one line instead of a traceback."""
    from flows.runners import with_runner
    from sigpipe.manifest import ManifestError
    from sigpipe.weights import WeightsError
    from storage import LakeTooNew

    flow = with_runner(flow_fn, dask)

    def run(params: Any) -> Any:
        try:
            return flow(params)
        except (WeightsError, ManifestError, LakeTooNew) as e:
            _fail(str(e))

    return run


def _run(flow_fn: Any, params: Any, dask: str | None, json_out: bool,
         *reports: Callable[[dict[str, Any]], None]) -> None:
    """Run a flow for a command: a progress bar and the reports, or (``--json``) the run summary as JSON."""
    from tasks.progress import enable_bar

    enable_bar(not json_out)
    summary = _on(flow_fn, dask)(params)
    if json_out:
        typer.echo(json.dumps(summary, indent=1, default=str))
        return
    for report in reports:
        report(summary)


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


def _show(lake: str | Path, *queries: tuple[str, str]) -> None:
    """Print each ``(sql, title)`` over the lake's views as a table."""
    import storage

    con = storage.connect(lake)
    try:
        for sql_text, title in queries:
            _print_table(storage.query(con, sql_text), title=title)
    finally:
        con.close()


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
        con.close()
    except FileNotFoundError as e:
        _fail(str(e))
    except duckdb.Error as e:
        _fail(f"query failed: {e}")
    _print_table(tbl, fmt=format)


@app.command()
def compact(lake: Path = LAKE,
            run: list[str] = typer.Option([], "--run", help="only this run id (repeatable); default: every "
                                                            "finished run")) -> None:
    """Merge each finished run's small per-document Parquet parts into one sorted file per table and run, and store
    the audit counts of finished runs that lack them (crash-safe, idempotent; flows do this for their own run)."""
    import storage

    try:
        upgraded = storage.upgrade(lake) if Path(lake).is_dir() else 0
        done = {**storage.compact(lake, runs=run or None), "files_upgraded": upgraded}
    except (FileNotFoundError, storage.LakeTooNew) as e:
        _fail(str(e))
    typer.echo(json.dumps(done))


@app.command()
def ingest(inbox: Path = typer.Argument(..., help="folder of PDFs (searched recursively)"),
           lake: Path = LAKE,
           dpi: int = typer.Option(200, help="render resolution"),
           json_out: bool = typer.Option(False, "--json", help="print the run summary as JSON"),
           dask: str | None = DASK) -> None:
    """PDFs in INBOX -> page images and documents/pages rows in the lake (idempotent)."""
    from flows.ingest import ingest as ingest_flow
    from flows.params import IngestParams

    _run(ingest_flow, _params(IngestParams, inbox=inbox, lake=lake, dpi=dpi), dask, json_out, _report_ingest)


VERIFIER_OPT = typer.Option(None, "--verifier", help="verifier model folder [models/verifier-signet]")
DETECTOR_OPT = typer.Option(None, "--detector", help="detector model folder [models/detector-yolo11n]")
PRECISION_OPT = typer.Option("auto", "--precision",
                             help="auto | fp32 | bf16: the models' arithmetic. auto = bf16 on CPUs with native bf16 "
                                  "(about twice as fast), fp32 otherwise; fp32 = the same arithmetic on every host")


@app.command()
def detect(inbox: Path = typer.Argument(..., help="folder of PDFs (ingested first if needed)"),
           lake: Path = LAKE,
           detector: Path = DETECTOR_OPT,
           dpi: int = typer.Option(200, help="render resolution for documents not yet ingested"),
           precision: str = PRECISION_OPT,
           json_out: bool = typer.Option(False, "--json", help="print the run summary as JSON"),
           dask: str | None = DASK) -> None:
    """PDFs in INBOX -> pages -> signature boxes and crops in the lake (idempotent per detector version)."""
    from flows.detect import detect as detect_flow
    from flows.params import DetectParams

    _run(detect_flow, _params(DetectParams, inbox=inbox, lake=lake, dpi=dpi, detector=detector, precision=precision),
         dask, json_out,
         lambda s: _report_ingest(s["ingest"], table=False), _report_detect)


def _report_detect(summary: dict[str, Any]) -> None:

    typer.echo(f"run {summary['run_id']} ({summary['detector']}): {summary['detected']} documents, "
               f"{summary['pages']} pages, {summary['signatures']} signatures found; "
               f"{summary['already_detected']} documents already detected")
    for f in summary["failed"]:
        typer.secho(f"  failed  {f['path']}: {f['reason']}", fg=typer.colors.YELLOW)
    _show(summary["lake"], ("SELECT file_name, page, n_signatures, max_confidence, page_turn, page_turn_sure "
                            "FROM page_signatures ORDER BY file_name, page", "pages and signatures found (page_turn: "
                            "degrees turned upright first; page_turn_sure false: left as scanned, maybe turned)"))


def _report_ingest(summary: dict[str, Any], table: bool = True) -> None:

    typer.echo(f"run {summary['run_id']}: {summary['ingested']} documents ({summary['pages']} pages) ingested, "
               f"{len(summary['skipped'])} skipped, {len(summary['failed'])} failed")
    for s in summary["skipped"]:
        typer.echo(f"  skipped {s['path']}: {s['why']}")
    for f in summary["failed"]:
        typer.secho(f"  failed  {f['path']}: {f['reason']}", fg=typer.colors.YELLOW)
    if not table:
        return
    _show(summary["lake"], ("SELECT file_name, n_pages, dpi, max_width, max_height, size_kib, ingested_at "
                            "FROM document_summary", "documents in the lake"))


def _params(cls: Any, **kw: Any) -> Any:
    """Build a flow's parameter model, turning validation errors into one clear line."""
    from pydantic import ValidationError

    from flows.params import DEFAULT_DETECTOR, DEFAULT_VERIFIER

    if "detector" in kw and kw["detector"] is None:
        kw["detector"] = DEFAULT_DETECTOR
    if "verifier" in kw and kw["verifier"] is None:
        kw["verifier"] = DEFAULT_VERIFIER
    try:
        return cls(**kw)
    except ValidationError as e:
        _fail("; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors()))


@app.command()
def enroll(source: Path = typer.Argument(..., help="folder of <signer_id>/*.png|jpg|tif, or a CSV: signer_id and a "
                                                    "file (relative to the CSV) or a sig_id the lake holds per row"),
           lake: Path = LAKE, verifier: Path = VERIFIER_OPT, detector: Path = DETECTOR_OPT,
           replace: bool = typer.Option(False, "--replace",
                                        help="each signer SOURCE names keeps only the references SOURCE gives (a new "
                                             "signature card): the others are withdrawn, once one of these is "
                                             "enrolled"),
           precision: str = PRECISION_OPT,
           json_out: bool = typer.Option(False, "--json", help="print the run summary as JSON"),
           dask: str | None = DASK) -> None:
    """Enrol reference signatures per signer (adds new ones, never duplicates; --replace withdraws the others).

    A CSV row with a sig_id enrols a signature the lake already holds (an unknown writer the catalogue grouped and
    you named, a cheque's signature a reviewer confirmed), unless a reviewer found it forged, not a signature, or
    another signer's."""
    from flows.enroll import enroll as enroll_flow
    from flows.params import EnrollParams

    params = _params(EnrollParams, source=source, lake=lake, verifier=verifier, detector=detector, replace=replace,
                     precision=precision)
    _run(enroll_flow, params, dask, json_out, _report_enroll)


def _report_enroll(summary: dict[str, Any]) -> None:
    typer.echo(f"run {summary['run_id']}: {summary['references']} references enrolled for {summary['signers']} "
               f"signers; {summary['already_enrolled']} already enrolled"
               + (f"; {summary['withdrawn']} replaced ones withdrawn" if summary.get("withdrawn") else ""))
    for s in summary.get("not_replaced", []):
        typer.secho(f"  signer {s}: not replaced (none of the new references could be enrolled)",
                    fg=typer.colors.YELLOW)
    for s in summary["too_few_references"]:
        typer.secho(f"  signer {s['signer_id']}: {s['references']} usable references, {s['needed']} needed for a "
                    "writer-specific threshold (the global one applies)", fg=typer.colors.YELLOW)
    for f in summary["failed"]:
        typer.secho(f"  failed  {f['path']}: {f['reason']}", fg=typer.colors.YELLOW)


@app.command()
def audit(inbox: Path = typer.Argument(..., help="folder of PDFs to audit"),
          manifest: Path = typer.Option(..., "--manifest", help="CSV: document (relative to INBOX), signer_id[, page]"),
          lake: Path = LAKE, verifier: Path = VERIFIER_OPT, detector: Path = DETECTOR_OPT,
          dpi: int = typer.Option(200, help="render resolution"),
          precision: str = PRECISION_OPT,
          json_out: bool = typer.Option(False, "--json", help="print the run summary as JSON"),
          dask: str | None = DASK) -> None:
    """Check every signature in INBOX against the claimed signer's references; verdicts, evidence, report."""
    from flows.audit import audit as audit_flow
    from flows.params import AuditParams

    params = _params(AuditParams, inbox=inbox, manifest=manifest, lake=lake, verifier=verifier, detector=detector,
                     dpi=dpi, precision=precision)
    _run(audit_flow, params, dask, json_out, _report_audit)


def _report_audit(summary: dict[str, Any]) -> None:

    d = summary["decisions"]
    typer.echo(f"run {summary['run_id']}: {summary['decided']} claims decided "
               f"({', '.join(f'{k} {v}' for k, v in sorted(d.items())) or 'none'}); "
               f"{summary['already_decided']} already decided")
    for f in summary["failed"]:
        typer.secho(f"  failed  {f['path']}: {f['reason']}", fg=typer.colors.YELLOW)
    _show(summary["lake"], ("SELECT * EXCLUDE (run_id) FROM audit_summary", "audit summary"),
          ("SELECT document, page, claimed_signer, decision, round(score, 3) AS score, "
           "round(threshold, 3) AS threshold, evidence_path FROM flagged", "flagged for review"))
    if summary.get("report"):
        typer.echo(f"HTML report: {summary['report']}")


@app.command()
def catalog(inbox: Path = typer.Argument(..., help="folder of archive PDFs"),
            lake: Path = LAKE, verifier: Path = VERIFIER_OPT, detector: Path = DETECTOR_OPT,
            top_k: int = typer.Option(10, "--top-k", help="enrolled signers listed per signature"),
            dpi: int = typer.Option(200, help="render resolution"),
            precision: str = PRECISION_OPT,
            json_out: bool = typer.Option(False, "--json", help="print the run summary as JSON"),
            dask: str | None = DASK) -> None:
    """Identify every signature in INBOX against all enrolled signers; group the unknown ones by writer."""
    from flows.catalog import catalog as catalog_flow
    from flows.params import CatalogParams

    params = _params(CatalogParams, inbox=inbox, lake=lake, verifier=verifier, detector=detector, top_k=top_k,
                     dpi=dpi, precision=precision)
    _run(catalog_flow, params, dask, json_out, _report_catalog)


@app.command()
def review(file: Path = typer.Argument(..., help="CSV: verdict_id, outcome (genuine | forgery | not_signed | unclear)"
                                                 "[, reviewer, note, reviewed_at]"),
           lake: Path = LAKE,
           reviewer: str | None = typer.Option(None, "--reviewer", help="for rows that name no reviewer"),
           json_out: bool = typer.Option(False, "--json", help="print the run summary as JSON")) -> None:
    """Record what people found on looking at flagged claims (the review_queue view lists them); idempotent."""
    from flows.params import ReviewParams
    from flows.review import review as review_flow

    params = _params(ReviewParams, file=file, lake=lake, reviewer=reviewer)
    _run(review_flow, params, None, json_out, _report_review)


def _report_review(summary: dict[str, Any]) -> None:
    o = summary["outcomes"]
    typer.echo(f"run {summary['run_id']}: {summary['recorded']} findings recorded "
               f"({', '.join(f'{k} {v}' for k, v in sorted(o.items())) or 'none'}); "
               f"{summary['already_recorded']} already recorded")
    for f in summary["failed"]:
        typer.secho(f"  failed  {f['path']}: {f['reason']}", fg=typer.colors.YELLOW)
    _show(summary["lake"], ("SELECT verifier_name, verifier_version, decision, reviewed, found_genuine, "
                            "found_forgery, found_not_signed, found_unclear, agreed FROM review_outcomes",
                            "review outcomes"),
          ("SELECT count(*) AS waiting FROM review_queue", "review queue"))


@app.command()
def withdraw(signers: list[str] = typer.Argument(None, help="signer ids whose references are withdrawn"),
             lake: Path = LAKE,
             reason: str = typer.Option(..., "--reason", help="why (kept with each withdrawal)"),
             ref: list[str] = typer.Option([], "--ref", help="only this ref_id of theirs (repeatable); default: all"),
             file: Path | None = typer.Option(None, "--file", help="CSV: signer_id[, ref_id] (empty ref_id: all "
                                                                   "of the signer's references)"),
             by: str | None = typer.Option(None, "--by", help="who asked"),
             json_out: bool = typer.Option(False, "--json", help="print the run summary as JSON")) -> None:
    """Take references out of use (account closed, new signature card, a wrong reference); nothing is deleted."""
    from flows.params import WithdrawParams
    from flows.withdraw import withdraw as withdraw_flow

    params = _params(WithdrawParams, signers=signers or [], lake=lake, reason=reason, refs=ref, file=file,
                     withdrawn_by=by)
    _run(withdraw_flow, params, None, json_out, _report_withdraw)


def _report_withdraw(summary: dict[str, Any]) -> None:
    typer.echo(f"run {summary['run_id']}: {summary['withdrawn']} references withdrawn from {summary['signers']} "
               f"signers; {summary['already_withdrawn']} withdrawn already")
    left = summary["references_left"]
    if len(left) > 20:  # a file of a night's closed accounts: the count, not a line each
        none = sum(1 for n in left.values() if n == 0)
        typer.echo(f"  {none} of the {len(left)} signers have no references left in use (audits will call their "
                   "claims unknown_signer)")
    for s, n in left.items() if len(left) <= 20 else ():
        typer.echo(f"  signer {s}: {n} references left in use"
                   + (" (audits will call its claims unknown_signer)" if n == 0 else ""))
    for f in summary["failed"]:
        typer.secho(f"  failed  {f['path']}: {f['reason']}", fg=typer.colors.YELLOW)


def _report_catalog(summary: dict[str, Any]) -> None:

    typer.echo(f"run {summary['run_id']}: {summary['signatures']} signatures catalogued, {summary['matched']} "
               f"matched an enrolled signer, {summary['unknown']} unknown in {summary['clusters']} writer groups"
               + (f" ({summary['joined']} of them in groups earlier catalogues made)" if summary.get("joined") else "")
               + (f", {summary['not_sure']} on pages that may lie turned (neither)" if summary.get("not_sure") else ""))
    _show(summary["lake"], ("SELECT signer_id, count(*) AS signatures, count(DISTINCT doc_id) AS documents "
                            "FROM documents_by_signer WHERE source = 'catalog' GROUP BY 1 ORDER BY 1",
                            "documents by signer (catalogue)"),
          ("SELECT cluster_id, signatures, documents FROM unknown_writers", "unknown writers"))


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
    export_only: bool = typer.Option(False, help="Export the run's current best.pt without training."),
    weights: Path | None = typer.Option(None, help="Start from these weights (fine-tuning) instead of random init."),
    lr0: float | None = typer.Option(None, help="Initial learning rate (with --optimizer) [ultralytics auto]."),
    optimizer: str = typer.Option("SGD", help="Optimizer when --lr0 is given (SGD, AdamW, ...; ultralytics' "
                                              "names). v1 was trained with AdamW: continue it with AdamW."),
    warmup_epochs: float = typer.Option(1.0, help="Warm-up epochs (0 when fine-tuning: ultralytics' warm-up starts "
                                                  "the head's bias learning rate at 0.1)."),
    workers: int = typer.Option(0, help="Data-loader processes (a GPU run needs several; ignored on the CPU)."),
    hours: float | None = typer.Option(None, help="Train for this many hours instead of --epochs (ultralytics "
                                                  "re-plans the epochs and the learning-rate schedule)."),
    cache: bool = typer.Option(False, help="Keep the decoded training pages in RAM."),
    infer_imgsz: int | None = typer.Option(None, help="Input size written to the card, thresholds chosen at it "
                                                      "[default: --imgsz]."),
    also_eval: list[Path] = typer.Option([], help="Also measure on the val split of this data.yaml (repeatable)."),
    model_version: str = typer.Option(None, help="Version written to the card (detections record it) (default: 1, "
                                                 "or one more than --out's card when the weights differ)."),
) -> None:
    """Train the signature detector (ultralytics), then export best.pt + card.json + README.md to --out."""
    from sigpipe import detect
    from sigpipe.runtime import state_dir
    from sigpipe.weights import WeightsError

    cfg = detect.TrainConfig(
        data=data, run_dir=run_dir or state_dir() / "runs" / "detector" / out.name, epochs=epochs, imgsz=imgsz,
        batch=batch, patience=patience, close_mosaic=close_mosaic, seed=seed, device=device, threads=threads,
        weights=weights, lr0=lr0, optimizer=optimizer, warmup_epochs=warmup_epochs, workers=workers, hours=hours,
        cache=cache, infer_imgsz=infer_imgsz,
    )
    try:
        card = detect.train_detector(cfg, out, resume=resume, log=typer.echo, export_only=export_only,
                                     also_eval=also_eval, version=model_version)
    except (detect.DetectError, WeightsError, FileExistsError, FileNotFoundError) as e:
        _fail(str(e))
    typer.echo(f"wrote {out} (sha256 {card['sha256'][:12]}...)")


class DetSplit(StrEnum):
    val = "val"
    test = "test"
    train = "train"


@eval_app.command("detector")
def eval_detector_cmd(
    data: Path = typer.Option(..., help="data.yaml (YOLO format)."),
    split: DetSplit = typer.Option(DetSplit.val, help="Which split of data.yaml."),
    model: Path = typer.Option(Path("models/detector-yolo11n"), help="Model folder (card.json + weights)."),
    device: str = typer.Option("", help="'' = CUDA when present, else cpu."),
    batch: int = typer.Option(16),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Precision/recall (at the card's conf) and mAP50 / mAP50-95 (ultralytics val) of a detector."""
    import contextlib
    import sys

    from sigpipe import detect
    from sigpipe.weights import WeightsError

    try:
        with contextlib.redirect_stdout(sys.stderr):  # ultralytics logs to stdout; stdout carries only the result
            result = detect.evaluate_detector(model, data, split.value, device=device or None, batch=batch)
    except (detect.DetectError, WeightsError) as e:
        _fail(str(e))
    if json_out:
        typer.echo(json.dumps(result))
        return
    for k, v in result.items():
        typer.echo(f"{k:>12}: {v}")


def _hw(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError as e:
        raise typer.BadParameter(f"{text!r}: expected HxW, e.g. 150x220") from e
    return h, w


@train_app.command("verifier")
def train_verifier_cmd(
    data: Path = typer.Option(Path("../shared/data/cedar"), help="Training data folder (cedar or folders layout)."),
    layout: str = typer.Option(None, help="cedar | folders | flat | crossmedia (default: detected)."),
    train_writers: str = typer.Option("1-35", help="Training writers of --data, e.g. 1-35."),
    val_writers: str = typer.Option("36-45", help="Validation writers of --data (early stopping, threshold)."),
    synth: list[Path] = typer.Option([], help="Extra synthetic signers (<root>/<writer>/genuine|forged); repeatable."),
    crossmedia: Path = typer.Option(None, help="Extra genuine-only writers, crossmedia layout (experiment/)."),
    extra_share: float = typer.Option(None, help="Batch share of each extra source (default: by writer count)."),
    arch: str = typer.Option("signet", help="signet | timm"),
    arch_args: str = typer.Option('{"width": 0.5}', help="JSON arguments of the architecture."),
    size: str = typer.Option("150x220", help="Input size HxW."),
    loss: str = typer.Option("lsc+", help="contrastive | triplet | semihard | lsc+ | focal, or 'lsc+,focal:0.5'."),
    epochs: int = typer.Option(20),
    patience: int = typer.Option(20, help="Epochs without a better smoothed validation EER before stopping."),
    lr: float = typer.Option(1e-3),
    pkfm: str = typer.Option("8,4,3,8", help="P,K,F,M: writers x genuine, forgeries per writer, others."),
    augment: str = typer.Option("{}", help='AugmentConfig overrides as JSON, e.g. \'{"rotate_deg": 12}\'.'),
    ink_norm: float = typer.Option(None, help="Scale each crop to this mean ink level (None: keep grey levels)."),
    init_from: Path = typer.Option(None, help="Start from these weights (model folder or state dict): fine-tune."),
    seed: int = typer.Option(0),
    threads: int = typer.Option(1, help="torch CPU threads (the machine is shared)."),
    device: str = typer.Option("auto", help="auto | cpu | cuda"),
    max_minutes: float = typer.Option(None, help="Stop after the epoch that passes this wall time."),
    run_dir: Path = typer.Option(None, help="Checkpoints (resumed when present) [.state/runs/<out name>]."),
    out: Path = typer.Option(Path("models/verifier-signet"), help="Model folder to write."),
    model_version: str = typer.Option(None, help="Version written to the card (embeddings and verdicts record it) "
                                                 "(default: 1, or one more than --out's card for other weights)."),
    config: Path = typer.Option(None, help="A TrainConfig JSON file; replaces the options above but --out/--run-dir."),
) -> None:
    """Train the writer-independent verifier (resumable), then export weights + card.json + README.md to --out."""
    import shlex
    import sys

    from pydantic import ValidationError

    from sigpipe.runtime import state_dir
    from sigpipe.verifier.data import DataError
    from sigpipe.verifier.train import DataSpec, TrainConfig, train

    command = shlex.join(["sigpipe", *sys.argv[1:]])
    run = str(run_dir or state_dir() / "runs" / out.name)
    try:
        if config is not None:
            cfg = TrainConfig.model_validate({**json.loads(config.read_text()), "out": str(out), "run_dir": run,
                                              "command": command, **({"version": model_version} if model_version
                                                                     else {})})
        else:
            srcs = [DataSpec(root=str(data), layout=layout, writers=train_writers, prefix="cedar:")]
            srcs += [DataSpec(root=str(s), layout="folders", prefix=f"synth{i}:", share=extra_share)
                     for i, s in enumerate(synth)]
            if crossmedia is not None:
                srcs.append(DataSpec(root=str(crossmedia), layout="crossmedia", prefix="xm:", share=extra_share))
            p, k, f, m = (int(v) for v in pkfm.split(","))
            cfg = TrainConfig(name=out.name, train_data=srcs, val_data=DataSpec(root=str(data), layout=layout,
                              writers=val_writers, prefix="cedar:"), arch=arch, arch_args=json.loads(arch_args),
                              size=_hw(size), loss=loss, epochs=epochs, patience=patience, lr=lr, P=p, K=k, F=f,
                              M=m, seed=seed, augment=json.loads(augment), ink_norm=ink_norm,
                              init_from=str(init_from) if init_from else None, threads=threads,
                              device=device, max_minutes=max_minutes, run_dir=run, out=str(out),
                              cache_dir=str(state_dir() / "cache"), command=command, version=model_version)
    except (ValidationError, ValueError, OSError) as e:
        _fail(f"bad training configuration: {e}")
    try:
        summary = train(cfg, log=typer.echo, progress=sys.stderr.isatty())
    except (DataError, ValueError) as e:
        _fail(str(e))
    typer.echo(json.dumps(summary, default=str))


@train_app.command("verifier-ensemble")
def train_verifier_ensemble_cmd(
    members: list[Path] = typer.Argument(..., help="Trained verifier folders (same architecture and cleaning)."),
    out: Path = typer.Option(Path("models/verifier-signet"), help="Model folder to write."),
    dim: int = typer.Option(None, help="Project the joined embedding to this many dimensions (its principal "
                                       "directions on the training writers): the catalogue's cost of one member."),
    model_version: str = typer.Option(None, help="Version written to the card (default: 1, or one more than --out's "
                                                 "card for other weights)."),
) -> None:
    """Combine verifiers trained apart (e.g. other --seed values) into one model whose score is the mean of their
    cosines; thresholds and the inconclusive band are calibrated on the members' validation writers."""
    import shlex
    import sys

    from sigpipe.runtime import state_dir
    from sigpipe.verifier.data import DataError
    from sigpipe.verifier.ensemble import combine
    from sigpipe.weights import WeightsError

    command = shlex.join(["sigpipe", *sys.argv[1:]])
    if out.resolve() in {m.resolve() for m in members}:
        _fail(f"--out {out} is one of the members: write the ensemble to another folder")
    try:
        card = combine(members, out, version=model_version, cache_dir=str(state_dir() / "cache"), command=command,
                       dim=dim, log=typer.echo)
    except (DataError, ValueError, WeightsError, OSError) as e:
        _fail(str(e))
    typer.echo(f"wrote {out} (version {card['version']}, validation skilled EER "
               f"{card['threshold']['validation_eer_skilled']:.4f}, sha256 {card['sha256'][:12]}...)")


@train_app.command("verifier-whiten")
def train_verifier_whiten_cmd(
    source: Path = typer.Argument(..., help="The verifier to whiten."),
    out: Path = typer.Option(..., help="Model folder to write the whitened verifier to."),
    folders: list[Path] = typer.Option([], help="Genuine signatures of writers the verifier never trained on: "
                                                "<root>/<writer>/genuine/* (or <root>/<writer>/*); repeatable."),
    crossmedia: Path = typer.Option(None, help="Genuine signatures in the crossmedia layout (a writer's same name "
                                               "on four media is one class)."),
    lam: float = typer.Option(0.1, help="Added to the relative within-writer covariance before its inverse square "
                                        "root: larger is gentler."),
    pairs: Path = typer.Option(None, help="A verifier-pairs file: each scan's crops cut from documents and the scan "
                                          "cleaned alone count as one writer, so what a document adds is spread too."),
    pairs_weight: float = typer.Option(0.5, help="Weight of --pairs' covariance beside the signatures'."),
    model_version: str = typer.Option(None, help="Version written to the card (default: 1, or one more than --out's "
                                                 "card for other weights)."),
) -> None:
    """Scale down the embedding's directions along which one writer's signatures vary most (within-class covariance
    normalisation, measured on the genuine signatures given), folded into the network's last layer: same
    architecture and speed; thresholds and the inconclusive band calibrated on the source's validation writers."""
    import shlex
    import sys

    from sigpipe.runtime import state_dir
    from sigpipe.verifier.data import DataError
    from sigpipe.verifier.train import DataSpec
    from sigpipe.verifier.whiten import whiten
    from sigpipe.weights import WeightsError

    command = shlex.join(["sigpipe", *sys.argv[1:]])
    if out.resolve() == source.resolve():
        _fail(f"--out {out} is the source: write the whitened verifier to another folder")
    within = [DataSpec(root=str(p), prefix=f"folders{i}:") for i, p in enumerate(folders)]
    if crossmedia is not None:
        within.append(DataSpec(root=str(crossmedia), layout="crossmedia", prefix="xm:"))
    try:
        card = whiten(source, within, out, lam=lam, version=model_version, cache_dir=str(state_dir() / "cache"),
                      command=command, pairs=pairs, pairs_weight=pairs_weight, log=typer.echo)
    except (DataError, ValueError, WeightsError, OSError) as e:
        _fail(str(e))
    typer.echo(f"wrote {out} (version {card['version']}, validation skilled EER "
               f"{card['threshold']['validation_eer_skilled']:.4f}, sha256 {card['sha256'][:12]}...)")


@train_app.command("verifier-calibrate")
def train_verifier_calibrate_cmd(
    source: Path = typer.Argument(..., help="The verifier whose writer-dependent settings to fix again."),
    pairs: Path = typer.Option(..., help="A verifier-pairs file of writers the verifier never trained on "
                                         "(e.g. its validation writers: --writers 36-45)."),
    out: Path = typer.Option(..., help="Model folder to write (the same weights, the new card)."),
    draws: int = typer.Option(5, help="Draws of each writer's references (seeds 0, 1, ...), pooled."),
    model_version: str = typer.Option(None, help="Version written to the card (default: the source's + '.1')."),
) -> None:
    """Fix the writer-dependent thresholds, per-writer z and inconclusive bands again on what an audit scores:
    crops cut from documents against references enrolled from scans. The network and its writer-independent
    threshold stay."""
    import shlex
    import sys

    from sigpipe.verifier.recalibrate import recalibrate
    from sigpipe.weights import WeightsError

    try:
        card = recalibrate(source, pairs, out, draws=draws, version=model_version,
                           command=shlex.join(["sigpipe", *sys.argv[1:]]), log=typer.echo)
    except (ValueError, WeightsError, OSError) as e:
        _fail(str(e))
    typer.echo(f"wrote {out} (version {card['version']}, same weights, sha256 {card['sha256'][:12]}...)")


@train_app.command("verifier-destamp")
def train_verifier_destamp_cmd(
    source: Path = typer.Argument(..., help="The verifier to give a stamp remover."),
    remover: Path = typer.Option(..., help="Stamp remover weights (a sigpipe.destamp.UNet state dict)."),
    out: Path = typer.Option(..., help="Model folder to write (may be SOURCE: the network stays, the card changes)."),
    threshold: float = typer.Option(0.8, help="Mask pixels above this probability."),
    min_share: float = typer.Option(0.1, help="Act only when the mask covers this share of the crop's dark pixels."),
    dpi: int = typer.Option(200, help="The resolution the remover was trained at (page crops are scaled to it)."),
    about: Path = typer.Option(None, help="JSON {training: {how, commands}, measured: [...]} for the card."),
    model_version: str = typer.Option(None, help="Version written to the card (default: the source's major + 1)."),
) -> None:
    """Give a verifier a stamp remover for the crops cut from pages (sigpipe.destamp); a new version."""
    import shlex
    import sys

    from sigpipe.destamp import attach
    from sigpipe.weights import WeightsError

    try:
        info = json.loads(about.read_text()) if about else None
        card = attach(source, remover, out, threshold=threshold, min_share=min_share, dpi=dpi, version=model_version,
                      about=info, command=shlex.join(["sigpipe", *sys.argv[1:]]))
    except (ValueError, WeightsError, OSError, RuntimeError) as e:
        _fail(str(e))
    typer.echo(f"wrote {out} (version {card['version']}, stamp remover sha256 {card['destamp']['sha256'][:12]}...)")


@train_app.command("orienter")
def train_orienter_cmd(
    out: Path = typer.Option(..., help="Weights file to write (a state dict); its record goes to <out>.json."),
    pages: int = typer.Option(6000, help="Synthetic training pages (sigpipe.synth), each at a random turn."),
    val_pages: int = typer.Option(600, help="Synthetic validation pages (other draws); conf is chosen on them."),
    side: int = typer.Option(256, help="The square the page is shrunk into."),
    epochs: int = typer.Option(12),
    batch: int = typer.Option(32),
    lr: float = typer.Option(2e-3),
    seed: int = typer.Option(0),
    threads: int = typer.Option(2, help="torch CPU threads."),
    real_train: Path = typer.Option(None, help="Real upright page images trained on (a folder, or a .txt listing "
                                               "them)."),
    real_repeat: int = typer.Option(6, help="Times each real training page is seen an epoch."),
    real_val: Path = typer.Option(None, help="Real upright page images (a folder or a .txt list) measured each "
                                             "epoch (never trained on, nothing chosen on it)."),
) -> None:
    """Train the page orienter (sigpipe.orient): which quarter turn makes a scanned page upright."""
    from sigpipe import orient

    try:
        rec = orient.train(orient.TrainConfig(out=out, pages=pages, val_pages=val_pages, side=side, epochs=epochs,
                                              batch=batch, lr=lr, seed=seed, threads=threads,
                                              real_train=real_train, real_repeat=real_repeat, real_val=real_val),
                           log=typer.echo)
    except (ValueError, OSError) as e:
        _fail(str(e))
    typer.echo(f"wrote {out} (conf {rec['conf']:.3f}, validation {json.dumps(rec['val'])})")


@train_app.command("detector-orienter")
def train_detector_orienter_cmd(
    source: Path = typer.Argument(..., help="The detector to give a page orienter."),
    orienter: Path = typer.Option(..., help="Orienter weights from `sigpipe train orienter` (<orienter>.json beside)."),
    out: Path = typer.Option(..., help="Model folder to write (may be SOURCE: the detector stays, the card changes)."),
    model_version: str = typer.Option(None, help="Version written to the card (default: the source's major + 1)."),
    conf: float = typer.Option(None, help="Turn a page only at this probability [default: the training record's]."),
    about: Path = typer.Option(None, help="JSON {training: {...}, measured: {...}} merged into the card's block."),
) -> None:
    """Give a detector the page orienter that turns stored pages upright before detection; a new version."""
    import shlex
    import sys

    from sigpipe import orient
    from sigpipe.weights import WeightsError

    try:
        record = json.loads(Path(f"{orienter}.json").read_text())
        card = orient.attach(source, orienter, out, record, version=model_version,
                             command=shlex.join(["sigpipe", *sys.argv[1:]]), conf=conf,
                             about=json.loads(about.read_text()) if about else None)
    except (ValueError, KeyError, WeightsError, OSError) as e:
        _fail(str(e))
    typer.echo(f"wrote {out} (version {card['version']}, orienter sha256 {card['orienter']['sha256'][:12]}..., "
               f"conf {card['orienter']['conf']})")


@train_app.command("verifier-distill")
def train_verifier_distill_cmd(
    teacher: Path = typer.Argument(..., help="The verifier to reproduce (e.g. an ensemble)."),
    out: Path = typer.Option(..., help="Model folder to write the student to."),
    epochs: int = typer.Option(15),
    batches_per_epoch: int = typer.Option(80),
    batch: int = typer.Option(64),
    lr: float = typer.Option(5e-4),
    synth: list[Path] = typer.Option([], help="More images to imitate the teacher on: synthetic signers "
                                              "(<root>/<writer>/genuine|forged); repeatable."),
    crossmedia: Path = typer.Option(None, help="More images to imitate the teacher on: crossmedia layout."),
    extra_share: float = typer.Option(0.5, help="Share of each batch drawn from --synth/--crossmedia."),
    p_stamp: float = typer.Option(0.0, help="Share of the student's images given a rubber stamp beside or over the "
                                            "signature, the teacher seeing them without it."),
    p_pen: float = typer.Option(0.0, help="Share of the teacher's training images the student sees redrawn with a "
                                          "fainter or darker pen (before cleaning), the teacher seeing the scan as "
                                          "written."),
    init_from: Path = typer.Option(None, help="Start from this verifier (the student's architecture) instead of "
                                              "the teacher's first member."),
    pairs: Path = typer.Option(None, help="An .npz of signatures as the audit cleans them from documents ('crops') "
                                          "and cleaned alone ('targets'): the student sees the crop, the teacher "
                                          "the target."),
    pairs_share: float = typer.Option(0.25, help="Share of each batch drawn from --pairs."),
    seed: int = typer.Option(0),
    threads: int = typer.Option(2, help="torch CPU threads."),
    device: str = typer.Option("auto", help="auto | cpu | cuda"),
    run_dir: Path = typer.Option(None, help="Checkpoints (resumed when present) [.state/runs/<out name>]."),
    model_version: str = typer.Option(None, help="Version written to the card (default: 1, or one more than --out's "
                                                 "card for other weights)."),
) -> None:
    """Train one network to give the teacher's embeddings (its training writers' images, augmented as it was
    trained), at one network's cost; calibrated on the teacher's validation writers as training calibrates."""
    import shlex
    import sys

    from pydantic import ValidationError

    from sigpipe.runtime import state_dir
    from sigpipe.verifier.data import DataError
    from sigpipe.verifier.distill import DistillConfig, distill
    from sigpipe.weights import WeightsError

    command = shlex.join(["sigpipe", *sys.argv[1:]])
    try:
        extra = [{"root": str(p), "layout": "folders", "prefix": f"synth{i}:"} for i, p in enumerate(synth)]
        if crossmedia is not None:
            extra.append({"root": str(crossmedia), "layout": "crossmedia", "prefix": "xm:"})
        cfg = DistillConfig(teacher=str(teacher), out=str(out), epochs=epochs, batches_per_epoch=batches_per_epoch,
                            batch=batch, lr=lr, extra=extra, extra_share=extra_share, p_stamp=p_stamp, p_pen=p_pen,
                            init_from=None if init_from is None else str(init_from),
                            pairs=None if pairs is None else str(pairs), pairs_share=pairs_share, seed=seed,
                            threads=threads, device=device, version=model_version,
                            run_dir=str(run_dir or state_dir() / "runs" / out.name),
                            cache_dir=str(state_dir() / "cache"), command=command)
        summary = distill(cfg, log=typer.echo)
    except (ValidationError, DataError, ValueError, WeightsError, OSError) as e:
        _fail(str(e))
    typer.echo(json.dumps(summary, default=str))


@train_app.command("verifier-pairs")
def train_verifier_pairs_cmd(
    data: Path = typer.Option(..., help="CEDAR folder (full_org/, full_forg/)."),
    out: Path = typer.Option(..., help="The pairs file to write (.npz), for verifier-distill --pairs."),
    writers: str = typer.Option("1-35", help="CEDAR writers to compose documents of: the verifier's training "
                                             "writers, never its validation or test writers."),
    documents: int = typer.Option(1100, help="Documents composed per seed."),
    seed: list[int] = typer.Option([1000, 1001], help="Composition seeds; repeatable."),
    verifier: Path = typer.Option(Path("models/verifier-signet"), help="Verifier whose cleaning the crops get."),
    detector: Path = typer.Option(None, help="Detector model folder [models/detector-yolo11n]."),
    work_dir: Path = typer.Option(None, help="Composed documents and their lakes, kept for a rerun "
                                             "[.state/data/verifier-pairs]."),
) -> None:
    """Documents of the training writers' real signatures run through the detect flow: every crop it cuts,
    cleaned as the audit cleans it, beside its scan cleaned alone."""
    from pydantic import ValidationError

    from flows.train import verifier_pairs
    from sigpipe.runtime import state_dir
    from sigpipe.verifier.doc_pairs import PairsConfig

    if not (data / "full_org").is_dir() or not (data / "full_forg").is_dir():
        _fail(f"--data {data}: not a CEDAR folder (full_org/ and full_forg/)")
    try:
        cfg = PairsConfig(cedar=str(data), writers=writers, documents=documents, seeds=seed, out=str(out),
                          work_dir=str(work_dir or state_dir() / "data" / "verifier-pairs"), verifier=str(verifier),
                          detector=None if detector is None else str(detector))
        summary = verifier_pairs(cfg)
    except (ValidationError, ValueError, OSError, RuntimeError) as e:
        _fail(str(e))
    typer.echo(json.dumps(summary, default=str))


@eval_app.command("orienter")
def eval_orienter_cmd(
    images: Path = typer.Option(..., help="Folder of upright page images (*.jpg, *.png, *.tif, *.bmp), searched "
                                          "recursively; each is measured at all four quarter turns."),
    model: Path = typer.Option(Path("models/detector-yolo11n"), help="Detector folder whose card names the page "
                                                                    "orienter."),
    limit: int = typer.Option(None, help="Only the first N images (sorted by path)."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """How often a detector's page orienter stands turned pages upright and leaves upright ones alone."""
    from sigpipe import orient
    from sigpipe.weights import WeightsError, load_card

    try:
        card = load_card(model)
        if not card.get("orienter"):
            raise ValueError(f"{model}: the card names no page orienter")
        result = orient.evaluate_images(orient.Orienter.from_card(model, card["orienter"]), images, limit)
    except (ValueError, WeightsError, OSError) as e:
        _fail(str(e))
    result = {"model": f"{card.name} v{card.version}", **result}
    if json_out:
        typer.echo(json.dumps(result))
        return
    for k, v in result.items():
        typer.echo(f"{k:>22}: {v}")


@eval_app.command("verifier")
def eval_verifier_cmd(
    data: Path = typer.Option(..., help="Data folder: cedar (full_org/, full_forg/) or folders layout."),
    layout: str = typer.Option(None, help="cedar | folders | flat | crossmedia (default: detected)."),
    writers: str = typer.Option(None, help="Writers to evaluate, e.g. 46-55 or a,b,c (default: all)."),
    model: Path = typer.Option(Path("models/verifier-signet"), help="Verifier model folder."),
    references: int = typer.Option(None, help="Writer-dependent mode: K genuine references enrolled per writer."),
    per_writer: bool = typer.Option(True, help="Writer-dependent: per-writer thresholds when the card allows."),
    roc: Path = typer.Option(None, help="Write a ROC curve PNG here."),
    n_random: int = typer.Option(None, help="Random forgeries sampled per writer (default: its genuine count)."),
    seed: int = typer.Option(0, help="Seed of the random-forgery sample and reference choice."),
    workers: int = typer.Option(2, help="Cleaning threads."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """EER (oracle), and FAR/FRR/HTER at the card's fixed threshold, on genuine/skilled/random pairs."""
    from sigpipe.clean import CleanError
    from sigpipe.verifier.data import DataError
    from sigpipe.verifier.evaluate import evaluate_folder
    from sigpipe.verifier.sampler import parse_writers
    from sigpipe.weights import WeightsError

    try:
        rep = evaluate_folder(model, data, layout, parse_writers(writers), references, roc, seed, n_random, workers,
                              per_writer)
    except (DataError, WeightsError, CleanError, ValueError, OSError) as e:
        _fail(str(e))
    if json_out:
        typer.echo(json.dumps(rep, default=float))
        return
    for k, v in rep.items():
        typer.echo(f"{k:>22}: {v:.4f}" if isinstance(v, float) else f"{k:>22}: {v}")


@app.command()
def demo(out: Path = typer.Option(Path("demo"), "--out", help="folder for the demo data and its lake"),
         signers: int = typer.Option(8, help="synthetic signers"),
         documents: int = typer.Option(24, help="synthetic documents in the night's batch"),
         seed: int = typer.Option(7, help="seed of the built-in demo data"),
         verifier: Path = VERIFIER_OPT, detector: Path = DETECTOR_OPT) -> None:
    """The whole story on built-in synthetic data: enrol signers, audit a night's batch with genuine and
    forged documents, catalogue it, print the summary, the flagged list and where the HTML report is."""
    import shutil

    from flows.audit import audit as audit_flow
    from flows.catalog import catalog as catalog_flow
    from flows.enroll import enroll as enroll_flow
    from flows.params import AuditParams, CatalogParams, EnrollParams, ReviewParams
    from flows.review import review as review_flow
    from sigpipe.synth import generate
    from tasks.progress import enable_bar

    data, lake = out / "data", out / "lake"
    if not (data / "manifest.csv").is_file():
        if data.exists():  # an interrupted generation: start it again
            shutil.rmtree(data)
        typer.secho(f"1/5 generating the demo data in {data} (seed {seed})", bold=True)
        generate(data, signers=signers, documents=documents, seed=seed)
    enable_bar(True)
    typer.secho("2/5 enrolling reference signatures", bold=True)
    _report_enroll(enroll_flow(_params(EnrollParams, source=data / "references", lake=lake, verifier=verifier,
                                       detector=detector)))
    typer.secho("3/5 auditing the night's batch", bold=True)
    _report_audit(audit_flow(_params(AuditParams, inbox=data / "inbox", manifest=data / "manifest.csv", lake=lake,
                                     verifier=verifier, detector=detector)))
    typer.secho("4/5 cataloguing the batch by signer", bold=True)
    _report_catalog(catalog_flow(_params(CatalogParams, inbox=data / "inbox", lake=lake, verifier=verifier,
                                         detector=detector)))
    typer.secho("5/5 reviewing the flagged claims (the synthetic truth plays the fraud team)", bold=True)
    reviewed = _demo_review_file(data, lake)
    _report_review(review_flow(_params(ReviewParams, file=reviewed, lake=lake, reviewer="demo-truth")))
    _demo_truth(data, lake)
    typer.echo(f"\nlake: {lake.resolve()}\n  try: .venv/bin/sigpipe sql 'SELECT * FROM audit_summary' --lake {lake}")


def demo_findings(truth: list[dict[str, str]], queue: list[dict[str, Any]]) -> list[dict[str, str]]:
    """What a reviewer who knew the synthetic truth (truth.csv rows) would record for each claim in the review
    queue: genuine or forgery from the signature the claimed signer is said to have made on that document (on the
    verdict's page when the queue names one), not_signed when the document holds none."""
    out = []
    for q in queue:
        mine = [t for t in truth if t["document"] == q["document"] and t["claimed_signer_id"] == q["claimed_signer"]]
        on_page = [t for t in mine if q["page"] is not None and int(t["page"]) == q["page"]] or mine
        outcome = "not_signed" if not on_page else (
            "genuine" if all(t["genuine"].lower() == "true" for t in on_page) else "forgery")
        out.append({"verdict_id": q["verdict_id"], "outcome": outcome})
    return out


def _demo_review_file(data: Path, lake: Path) -> Path:
    """The demo's review file: every claim waiting in review_queue, with the truth's finding."""
    import csv

    import storage

    with open(data / "truth.csv", newline="") as f:
        truth = list(csv.DictReader(f))
    con = storage.connect(lake)
    queue = storage.query(con, "SELECT verdict_id, document, page, claimed_signer FROM review_queue").to_pylist()
    con.close()
    path = data / "reviewed.csv"
    with open(path, "w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=["verdict_id", "outcome"])
        wr.writeheader()
        wr.writerows(demo_findings(truth, queue))
    return path


def _demo_truth(data: Path, lake: Path) -> None:
    """Compare the audit's decisions with the synthetic ground truth (truth.csv), per document."""
    import csv

    import storage

    truth: dict[str, bool] = {}
    with open(data / "truth.csv", newline="") as f:
        for r in csv.DictReader(f):  # a document is forged if any of its signatures is
            truth[r["document"]] = truth.get(r["document"], False) or r["genuine"].lower() != "true"
    con = storage.connect(lake)
    rows = storage.query(con, "SELECT document, list(decision) AS decisions FROM verdicts GROUP BY 1").to_pylist()
    con.close()
    flagged = {r["document"]: any(d in ("forgery", "inconclusive", "no_signature") for d in r["decisions"])
               for r in rows}  # as the flagged view: a claimed signature not found cannot be verified either
    as_forgery = {r["document"]: "forgery" in r["decisions"] for r in rows}
    forged = [d for d, f in truth.items() if f]
    caught = sum(flagged.get(d, False) for d in forged)
    wrongly = [d for d, f in truth.items() if not f and as_forgery.get(d, False)]
    typer.echo(f"\nagainst the synthetic truth: {caught}/{len(forged)} forged documents flagged; "
               f"{len(wrongly)} genuine documents called forgery{': ' + ', '.join(wrongly) if wrongly else ''}")


@app.command()
def synth(out: Path = typer.Option(..., "--out", help="folder to write (signers/, references/, inbox/, truth/, CSVs)"),
          signers: int = typer.Option(8, help="synthetic signers S0001.."),
          documents: int = typer.Option(20, help="scanned PDF documents"),
          seed: int = typer.Option(0, help="same seed, byte-identical output"),
          forged_fraction: float = typer.Option(0.25, help="share of document signatures that are skilled forgeries"),
          references: int = typer.Option(6, help="enrolment references per signer"),
          dpi: int = typer.Option(200, help="page and crop resolution"),
          overwrite: bool = typer.Option(False, help="replace an earlier synthetic data set in --out")) -> None:
    """Generate a deterministic synthetic data set: signers, forgeries, references, scanned PDFs + truth."""
    import time

    from rich.console import Console
    from rich.table import Table

    from sigpipe.synth import generate

    t0 = time.perf_counter()
    try:
        s = generate(out, signers=signers, documents=documents, seed=seed, forged_fraction=forged_fraction,
                     references_per_signer=references, dpi=dpi, overwrite=overwrite)
    except FileExistsError as e:
        _fail(str(e))
    t = Table(title=f"synthetic data in {out} (seed {seed}, {time.perf_counter() - t0:.1f} s)", show_header=False)
    kinds = ", ".join(f"{n} {k}" for k, n in s["documents_by_kind"].items())
    for k, v in (("signers", f"{s['signers']} (+ {s['forgers']} forgers)"),
                 ("verifier crops", f"{s['genuine_crops']} genuine, {s['forged_crops']} forged  -> signers/"),
                 ("references", f"{s['references']}  -> references/"),
                 ("documents", f"{s['documents']} ({kinds}), {s['pages']} pages  -> inbox/, truth/"),
                 ("signatures", f"{s['signatures']} placed, {s['forged_signatures']} forged"
                                "  -> manifest.csv, truth.csv")):
        t.add_row(k, v)
    Console(width=160).print(t)


if __name__ == "__main__":
    app()
