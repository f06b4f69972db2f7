"""The segmentation service process: ``python -m tessera.segmentation.server``."""

from __future__ import annotations

import asyncio

from tessera.core.runtime import ServiceRuntime
from tessera.core.settings import load_settings
from tessera.segmentation.service import SegmentationService
from tessera.segmentation.servicer import SegmentationServicer
from tessera.segmentation.settings import SegmentationSettings
from tessera.segmentation.worker import DATASET_READY, SegmentationWorker


def build(settings: SegmentationSettings) -> ServiceRuntime:
    runtime = ServiceRuntime(settings)
    service = SegmentationService(runtime)
    worker = SegmentationWorker(service)
    runtime.service.add(SegmentationServicer(service, worker).registration())
    if runtime.publisher is not None:
        runtime.consume("segmentation", [DATASET_READY], worker.on_dataset_ready)
    return runtime


def main() -> None:
    asyncio.run(build(load_settings(SegmentationSettings)).serve())


if __name__ == "__main__":
    main()
