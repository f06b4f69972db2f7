"""The graph service process: ``python -m tessera.graph.server``."""

from __future__ import annotations

import asyncio

from tessera.core.runtime import ServiceRuntime
from tessera.core.settings import load_settings
from tessera.graph.service import GraphService
from tessera.graph.servicer import GraphServicer
from tessera.graph.settings import GraphSettings
from tessera.graph.worker import GraphWorker


def build(settings: GraphSettings) -> ServiceRuntime:
    runtime = ServiceRuntime(settings)
    service = GraphService(runtime)
    worker = GraphWorker(service)
    runtime.service.add(GraphServicer(service, worker).registration())
    return runtime


def main() -> None:
    asyncio.run(build(load_settings(GraphSettings)).serve())


if __name__ == "__main__":
    main()
