"""``tessera jobs get|watch|cancel ID``: any service's Jobs API from the shell."""

from __future__ import annotations

import json

import grpc
import typer
from google.protobuf import json_format
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from tessera.core.jobs import state_name
from tessera.v1 import common_pb2, common_pb2_grpc

jobs_app = typer.Typer(no_args_is_help=True)
console = Console(stderr=True)

TargetOpt = typer.Option("127.0.0.1:50051", "--target", "-t", envvar="TESSERA_TARGET", help="Service host:port.")
TokenOpt = typer.Option(None, "--token", envvar="TESSERA_AUTH_TOKEN", help="Bearer token, if the service needs one.")


def _call(target: str, token: str | None):  # type: ignore[no-untyped-def]
    channel = grpc.insecure_channel(target)
    metadata = [("authorization", f"Bearer {token}")] if token else None
    return channel, common_pb2_grpc.JobsStub(channel), metadata


def _fail(err: grpc.RpcError) -> typer.Exit:
    console.print(f"[red]{err.code().name}[/red]: {err.details()}")  # type: ignore[attr-defined]
    return typer.Exit(1)


def _unary(target: str, token: str | None, method: str, request: object) -> common_pb2.Job:
    """Call one unary Jobs method; a gRPC error prints its code and exits 1."""
    channel, stub, metadata = _call(target, token)
    with channel:
        try:
            return getattr(stub, method)(request, metadata=metadata, timeout=30)  # type: ignore[no-any-return]
        except grpc.RpcError as err:
            raise _fail(err) from None


@jobs_app.command("get")
def get(job_id: str, target: str = TargetOpt, token: str | None = TokenOpt) -> None:
    """Print the job as JSON."""
    job = _unary(target, token, "GetJob", common_pb2.GetJobRequest(id=job_id))
    typer.echo(json.dumps(json_format.MessageToDict(job, preserving_proto_field_name=True), indent=2))


@jobs_app.command("watch")
def watch(job_id: str, target: str = TargetOpt, token: str | None = TokenOpt) -> None:
    """Follow a job with a progress bar until it ends; exit code 0 only if it SUCCEEDED."""
    channel, stub, metadata = _call(target, token)
    last: common_pb2.Job | None = None
    with channel, Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
        TextColumn("{task.fields[state]} {task.fields[message]}"), TimeElapsedColumn(), console=console,
    ) as bar:
        task = bar.add_task(job_id, total=1.0, state="", message="")
        try:
            for job in stub.WatchJob(common_pb2.WatchJobRequest(id=job_id), metadata=metadata):
                last = job
                bar.update(task, completed=job.progress, state=state_name(job.state), message=job.progress_message)
        except grpc.RpcError as err:
            raise _fail(err) from None
    if last is None or last.state != common_pb2.JOB_STATE_SUCCEEDED:
        detail = f": {last.error.code} {last.error.message}" if last is not None and last.error.code else ""
        console.print(f"[red]job {job_id} ended {state_name(last.state) if last else 'UNKNOWN'}{detail}")
        raise typer.Exit(1)
    for ref in last.results:
        typer.echo(f"{ref.uri}\t{ref.size}\t{ref.sha256}")


@jobs_app.command("cancel")
def cancel(job_id: str, target: str = TargetOpt, token: str | None = TokenOpt) -> None:
    """Ask a job to stop."""
    job = _unary(target, token, "CancelJob", common_pb2.CancelJobRequest(id=job_id))
    typer.echo(state_name(job.state))
