"""The bids service process: ``python -m tessera.bids.server`` (what ``tessera up`` runs)."""

from __future__ import annotations

import asyncio

from tessera.bids.servicer import BidsServicer
from tessera.bids.settings import BidsSettings
from tessera.bids.worker import INGEST_REQUESTED, BidsWorker
from tessera.core.runtime import ServiceRuntime
from tessera.core.settings import load_settings


def build(settings: BidsSettings) -> ServiceRuntime:
    runtime = ServiceRuntime(settings)
    worker = BidsWorker(runtime)
    runtime.service.add(BidsServicer(runtime, worker).registration())
    if runtime.publisher is not None:
        runtime.consume("bids", [INGEST_REQUESTED], worker.on_ingest_requested)
    return runtime


def main() -> None:
    asyncio.run(build(load_settings(BidsSettings)).serve())


if __name__ == "__main__":
    main()
