"""The compression service process: ``python -m tessera.compression.server``."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from tessera.compression.service import CompressionService
from tessera.compression.servicer import CompressionServicer
from tessera.compression.settings import CompressionSettings
from tessera.compression.worker import MODEL_REGISTERED, CompressionMethod, CompressionWorker
from tessera.core.runtime import ServiceRuntime
from tessera.core.settings import load_settings


def available_methods() -> Mapping[str, CompressionMethod]:
    """The dispatch table: method name -> implementation (:mod:`tessera.compression.methods`). A method
    whose code does not import is left out, and Compress answers FAILED_PRECONDITION naming it."""
    from tessera.compression.methods import available_methods as methods

    return methods()


def build(settings: CompressionSettings) -> ServiceRuntime:
    runtime = ServiceRuntime(settings)
    worker = CompressionWorker(runtime, available_methods())
    runtime.service.add(CompressionServicer(CompressionService(runtime), worker).registration())
    if runtime.publisher is not None and worker.policy():
        runtime.consume("compression", [MODEL_REGISTERED], worker.on_model_registered)
    return runtime


def main() -> None:
    asyncio.run(build(load_settings(CompressionSettings)).serve())


if __name__ == "__main__":
    main()
