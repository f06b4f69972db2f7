"""The clustering service process: ``python -m tessera.clustering.server``."""

from __future__ import annotations

import asyncio

from tessera.core.runtime import ServiceRuntime
from tessera.core.settings import load_settings

from .service import ClusteringService
from .servicer import ClusteringServicer
from .settings import ClusteringSettings
from .worker import REQUESTED, ClusteringWorker


def build(settings: ClusteringSettings) -> ServiceRuntime:
    runtime = ServiceRuntime(settings)
    service = ClusteringService(runtime)
    worker = ClusteringWorker(service)
    runtime.service.add(ClusteringServicer(service, worker).registration())
    if runtime.publisher is not None:
        runtime.consume("clustering", [REQUESTED], worker.on_requested)
    return runtime


def main() -> None:
    asyncio.run(build(load_settings(ClusteringSettings)).serve())


if __name__ == "__main__":
    main()
