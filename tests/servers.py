"""Test helpers: run a GrpcService on its own event loop in a background thread."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from tessera.core.artifacts.local import LocalArtifactStore
from tessera.core.jobs import JobContext, JobManager, JobsServicer, JobStore
from tessera.core.server import GrpcService
from tessera.core.settings import TesseraSettings, load_settings


def steps_job(ctx: JobContext) -> None:
    """A job of ``labels['steps']`` steps of ``labels['step_s']`` seconds each, reporting progress."""
    steps = int(ctx.job.labels.get("steps", "4"))
    step_s = float(ctx.job.labels.get("step_s", "0.1"))
    for i in range(steps):
        time.sleep(step_s)
        ctx.progress((i + 1) / steps, f"step {i + 1}/{steps}")


def test_settings(**overrides: object) -> TesseraSettings:
    base: dict[str, object] = {"service_name": "testsvc", "grpc_host": "127.0.0.1", "grpc_port": 0, "metrics_port": 0}
    base.update(overrides)
    return load_settings(TesseraSettings, **base)


class ServiceUnderTest:
    def __init__(self, settings: TesseraSettings, store_root: Path):
        self.settings = settings
        executor = ThreadPoolExecutor(4)
        self.service = GrpcService(settings, executor=executor)
        self.jobs = JobManager(JobStore(LocalArtifactStore(store_root), settings.service_name), executor)
        self.jobs.register("test.steps", steps_job)
        self.service.add(JobsServicer(self.jobs, self.service).registration())
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def start(self) -> ServiceUnderTest:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.service.start(), self.loop).result(10)
        return self

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.service.port}"

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.service.stop(1.0), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@contextmanager
def running_service(store_root: Path, **overrides: object) -> Iterator[ServiceUnderTest]:
    sut = ServiceUnderTest(test_settings(**overrides), store_root).start()
    try:
        yield sut
    finally:
        sut.stop()
