"""``ServiceRuntime``: the parts every service assembles from its settings, wired once.

Artifact store, event publisher (when Kafka is configured), inference backend, job manager
(records in the store, announced on ``tessera.jobs``), the gRPC service with ``Jobs`` mounted,
and event consumers, all stopped in the right order on shutdown::

    runtime = ServiceRuntime(load_settings(MySettings))
    runtime.jobs.register("my.train", train)
    runtime.service.add(MyServicer(runtime).registration())
    runtime.consume("my-group", [topic], handler)
    asyncio.run(runtime.serve())
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import cached_property

from tessera.core.artifacts.base import ArtifactStore
from tessera.core.artifacts.factory import open_store
from tessera.core.errors import FailedPrecondition
from tessera.core.events.consumer import EventConsumer, Handler
from tessera.core.events.producer import EventPublisher
from tessera.core.inference import InferenceBackend, ModelRepository, open_backend
from tessera.core.jobs import JobManager, JobsServicer, JobStore, state_name
from tessera.core.jobs.announce import kafka_announcer
from tessera.core.logging import configure_logging
from tessera.core.server import GrpcService, serve
from tessera.core.settings import TesseraSettings

log = logging.getLogger(__name__)


class ServiceRuntime:
    def __init__(self, settings: TesseraSettings, *, configure_logs: bool = True):
        self.settings = settings
        if configure_logs:
            configure_logging(settings.service_name, settings.log_level)
        self.store: ArtifactStore = open_store(settings)
        self.publisher: EventPublisher | None = EventPublisher(settings) if settings.kafka_bootstrap else None
        self.service = GrpcService(settings)
        self.jobs = JobManager(
            JobStore(self.store, settings.service_name),
            self.service.executor,
            announce=kafka_announcer(self.publisher) if self.publisher else None,
            on_change=self._count_jobs,
        )
        self.service.add(JobsServicer(self.jobs, self.service).registration())
        self.consumers: list[EventConsumer] = []

    def _count_jobs(self, _job: object) -> None:
        for state, count in self.jobs.counts().items():
            self.service.metrics.jobs.labels(self.settings.service_name, state_name(state)).set(count)

    @cached_property
    def models(self) -> ModelRepository:
        return ModelRepository(self.store, self.settings.model_repository_prefix)

    @cached_property
    def inference(self) -> InferenceBackend:
        """Triton when ``TESSERA_TRITON_URL`` is set, else onnxruntime in-process."""
        return open_backend(self.settings, self.store)

    def consume(self, group_id: str, topics: Sequence[str], handler: Handler) -> EventConsumer:
        """Consume ``topics`` in ``group_id`` once serving starts (needs ``TESSERA_KAFKA_BOOTSTRAP``)."""
        if self.publisher is None:
            raise FailedPrecondition("TESSERA_KAFKA_BOOTSTRAP is not set: cannot consume events")
        consumer = EventConsumer(self.settings, group_id, topics, handler, store=self.store, publisher=self.publisher)
        self.consumers.append(consumer)
        return consumer

    def start_consumers(self) -> list[EventConsumer]:
        """Start the registered consumers unless ``kafka_consume`` is off (an API-only replica); returns them."""
        if not self.settings.kafka_consume:
            log.info("event consumers not started (TESSERA_KAFKA_CONSUME=false)",
                     extra={"groups": [c.group_id for c in self.consumers]})
            return []
        return [consumer.start() for consumer in self.consumers]

    def _shutdown(self) -> None:
        for consumer in self.consumers:
            consumer.stop()
        self.jobs.shutdown()
        if self.publisher is not None:
            self.publisher.close()
        if "inference" in self.__dict__:
            self.inference.close()

    async def serve(self) -> None:
        """Resume interrupted jobs, start consumers, serve until SIGTERM, then stop in order:
        drain gRPC calls, stop consumers (committing what is done), interrupt jobs, flush events."""
        self.jobs.resume()
        self.start_consumers()
        self.service.on_shutdown(self._shutdown)
        await serve(self.service)
