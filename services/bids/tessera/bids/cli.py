"""``tessera bids ...``: local conversion without a server, and client commands for a running service."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import typer

app = typer.Typer(no_args_is_help=True, help="DICOM + task logs -> BIDS (ezBIDS-style inferred plan).")


@app.command("plan")
def plan_cmd(
    path: Path = typer.Argument(..., exists=True, help="A folder or a zip / tar.gz archive."),
    as_json: bool = typer.Option(False, "--json", help="Print the whole plan as JSON."),
) -> None:
    """Infer the BIDS mapping of PATH and print it (nothing is written)."""
    from tessera.bids.pipeline import inspect_and_plan

    with tempfile.TemporaryDirectory(prefix="tessera-bids-") as work:
        result = inspect_and_plan(path, Path(work), upload_id="local")
    if as_json:
        typer.echo(result.plan.model_dump_json(indent=2))
        return
    for s in result.plan.series:
        target = "EXCLUDED" if s.plan.exclude else (s.bids_name or "?")
        typer.echo(f"{s.series_id:>16}  {s.series_description[:32]:<32}  {target}  ({s.plan.confidence:.2f})")
        typer.echo(f"{'':>18}{s.plan.messages[0] if s.plan.messages else ''}")
    for log in result.plan.event_logs:
        typer.echo(f"log {log.file} -> {log.series_id or 'unmapped'}")
    for f in result.plan.findings:
        typer.echo(f"{f.level.upper()}: {f.file or f.series_id}: {f.message}", err=True)


@app.command("convert")
def convert_cmd(
    path: Path = typer.Argument(..., exists=True, help="A folder or a zip / tar.gz archive."),
    out: Path = typer.Argument(..., help="Where to write the BIDS dataset (must not exist or be empty)."),
    plan_file: Path | None = typer.Option(None, "--plan", help="A plan JSON (from `plan --json`, edited)."),
) -> None:
    """Convert PATH to a validated BIDS dataset in OUT, with the inferred (or given) plan."""
    from tessera.bids.model import Plan
    from tessera.bids.pipeline import inspect_and_plan, write_and_validate

    if out.exists() and any(out.iterdir()):
        typer.echo(f"{out} is not empty", err=True)
        raise typer.Exit(2)
    with tempfile.TemporaryDirectory(prefix="tessera-bids-") as work:
        result = inspect_and_plan(path, Path(work), upload_id="local")
        plan = Plan.model_validate_json(plan_file.read_text()) if plan_file else result.plan
        summary, report = write_and_validate(plan, result.converted_root, result.logs_root, out)
    typer.echo(json.dumps({"files": len(summary.files), "validator_errors": len(report.errors),
                           "validator_warnings": len(report.warnings)}))
    for issue in report.errors:
        typer.echo(f"ERROR {issue}", err=True)
    raise typer.Exit(0 if report.ok else 1)


@app.command("ingest")
def ingest_cmd(
    archive: Path = typer.Argument(..., exists=True, dir_okay=False, help="A zip or tar.gz archive."),
    target: str = typer.Option("127.0.0.1:50051", "--target", "-t", envvar="TESSERA_TARGET", help="bids host:port."),
    token: str | None = typer.Option(None, "--token", envvar="TESSERA_AUTH_TOKEN", help="Bearer token."),
    auto_finalize: bool = typer.Option(False, "--auto-finalize", help="Publish the inferred plan unattended."),
    dataset_name: str = typer.Option("", help="dataset_description.json Name."),
) -> None:
    """Upload ARCHIVE to a running bids service and start its ingest job; prints the upload (job) id.

    Follow it with `tessera jobs watch ID -t TARGET`.
    """
    import grpc

    from tessera.bids.client import upload_archive
    from tessera.v1 import bids_pb2, bids_pb2_grpc

    metadata = [("authorization", f"Bearer {token}")] if token else None
    with grpc.insecure_channel(target) as channel:
        stub = bids_pb2_grpc.BidsStub(channel)
        try:
            ref = upload_archive(stub, archive, metadata=metadata)
            job = stub.StartIngest(bids_pb2.StartIngestRequest(archive=ref, auto_finalize=auto_finalize,
                                                               dataset_name=dataset_name), metadata=metadata)
        except grpc.RpcError as err:
            typer.echo(f"{err.code().name}: {err.details()}", err=True)  # type: ignore[attr-defined]
            raise typer.Exit(1) from None
    typer.echo(job.id)
