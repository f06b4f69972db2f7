"""``tessera up``: the local stack and every installed service in the foreground; Ctrl-C stops all.

Services are discovered through the entry-point group ``tessera.services``: each entry names a
module runnable with ``python -m`` whose process reads ``TESSERA_*`` settings.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path

import typer

from tessera.devstack import DevStack, StackConfig
from tessera.devstack.process import ManagedProcess, free_port, port_open


@dataclass(frozen=True)
class RunningService:
    name: str
    grpc_port: int
    metrics_port: int
    process: ManagedProcess


def installed_services() -> dict[str, str]:
    """Service name -> module to run, from the ``tessera.services`` entry points."""
    return {ep.name: ep.value for ep in entry_points(group="tessera.services")}


def start_services(stack: DevStack, log_dir: Path, only: list[str] | None = None) -> list[RunningService]:
    """Start each installed service against ``stack`` on free ports; wait until each listens."""
    started: list[RunningService] = []
    for name, module in sorted(installed_services().items()):
        if only and name not in only:
            continue
        grpc_port, metrics_port = free_port(), free_port()
        env = {**os.environ, **stack.env(), "TESSERA_SERVICE_NAME": name, "TESSERA_GRPC_HOST": "127.0.0.1",
               "TESSERA_GRPC_PORT": str(grpc_port), "TESSERA_METRICS_PORT": str(metrics_port)}
        process = ManagedProcess(name, [sys.executable, "-m", module], log_dir, env=env).start()
        process.wait_until(functools.partial(port_open, "127.0.0.1", grpc_port), 60, "listening for gRPC")
        started.append(RunningService(name, grpc_port, metrics_port, process))
    return started


def up(
    log_dir: Path = typer.Option(Path(".stack"), help="Where component logs go."),
    triton: bool = typer.Option(True, help="Start the local Triton server."),
) -> None:
    stack = DevStack(StackConfig(log_dir=log_dir, triton=triton))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    typer.echo("starting the local stack ...")
    services: list[RunningService] = []
    try:
        stack.start()
        services = start_services(stack, log_dir)
        for key, value in sorted(stack.env().items()):
            typer.echo(f"  {key}={value}")
        for svc in services:
            typer.echo(f"  service {svc.name}: grpc 127.0.0.1:{svc.grpc_port}  metrics :{svc.metrics_port}/metrics")
        typer.echo(f"logs in {log_dir}/ ; Ctrl-C stops everything")
        while not stop.is_set():
            dead = [s.name for s in services if not s.process.running]
            if dead:
                typer.echo(f"service(s) exited: {', '.join(dead)}; see {log_dir}/", err=True)
                raise typer.Exit(1)
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        typer.echo("stopping ...")
        for svc in services:
            svc.process.stop()
        stack.stop()
