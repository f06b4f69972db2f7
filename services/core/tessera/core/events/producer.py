"""``EventPublisher``: CloudEvents onto Kafka with acks=all and the idempotent producer."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from cloudevents.core.base import BaseCloudEvent
from kafka import KafkaProducer
from kafka.errors import KafkaError

from tessera.core.errors import FailedPrecondition, Unavailable
from tessera.core.events import codec
from tessera.core.events.topics import ensure_topics, validate_topic
from tessera.core.settings import TesseraSettings

log = logging.getLogger(__name__)

Headers = Sequence[tuple[str, bytes]]


class EventPublisher:
    """Publishes CloudEvents (binary mode) to topics, creating absent topics on first use.

    Thread-safe (kafka-python's producer is). ``publish`` waits for the broker's ack from all
    in-sync replicas, so when it returns the event is durable; pass ``wait=False`` to batch and
    call :meth:`flush` later. Idempotence keeps broker-side retries from duplicating records.
    """

    def __init__(self, settings: TesseraSettings, *, source: str | None = None, send_timeout_s: float = 30.0):
        if not settings.kafka_bootstrap:
            raise FailedPrecondition("TESSERA_KAFKA_BOOTSTRAP is not set: events are disabled")
        self.settings = settings
        self.source = source or f"/tessera/{settings.service_name}"
        self.send_timeout_s = send_timeout_s
        self._known_topics: set[str] = set()
        self._topics_lock = threading.Lock()
        try:
            self._producer = KafkaProducer(
                bootstrap_servers=settings.kafka_bootstrap.split(","),
                client_id=f"{settings.service_name}-events",
                # kafka-python 3 defaults, set explicitly: a record is acknowledged once every
                # in-sync replica has it, and the idempotent producer dedupes its own retries.
                acks="all",
                enable_idempotence=True,
                max_in_flight_requests_per_connection=5,
                linger_ms=0,
            )
        except KafkaError as exc:
            raise Unavailable(f"kafka broker at {settings.kafka_bootstrap} unreachable: {exc}") from exc

    def ensure(self, topics: Sequence[str]) -> None:
        """Create any of ``topics`` not yet known to exist (cached per publisher)."""
        with self._topics_lock:
            unknown = [t for t in topics if t not in self._known_topics]
            if unknown:
                ensure_topics(self.settings, unknown)
                self._known_topics.update(unknown)

    def publish(
        self,
        topic: str,
        type: str,
        data: codec.EventData,
        key: str | None = None,
        event_id: str | None = None,
        source: str | None = None,
        *,
        subject: str | None = None,
        wait: bool = True,
    ) -> str:
        """Publish one event and return its ``ce_id``.

        ``type`` is the CloudEvents type (e.g. ``tessera.bids.dataset.ready``); ``data`` a JSON
        mapping (refs + checksums, never bulk bytes) or a protobuf message; ``key`` the
        partition key (events with one key stay in order); ``event_id`` defaults to a UUID4
        (pass a deterministic id to make a re-publish dedupe downstream); ``source`` defaults
        to ``/tessera/<service_name>``. Raises ``InvalidArgument`` for bad input and
        ``Unavailable`` when the broker does not acknowledge within ``send_timeout_s``.
        """
        event = codec.make_event(
            type, source or self.source, data, event_id=event_id, subject=subject, partition_key=key
        )
        self.publish_event(topic, event, wait=wait)
        return event.get_id()

    def publish_event(self, topic: str, event: BaseCloudEvent, *, wait: bool = True) -> None:
        """Publish an already-built CloudEvent (its ``partitionkey`` extension is the record key)."""
        message = codec.encode(event)
        key = message.key.encode("utf-8") if isinstance(message.key, str) else message.key
        self.send_record(topic, message.value, codec.kafka_headers(message), key=key, wait=wait)

    def send_record(
        self, topic: str, value: bytes | None, headers: Headers, *, key: bytes | None = None, wait: bool = True
    ) -> None:
        """Send one raw record (used to forward events to retry and dead-letter topics)."""
        validate_topic(topic)
        self.ensure([topic])
        try:
            future = self._producer.send(topic, value=value, key=key, headers=list(headers))
            if wait:
                future.get(timeout=self.send_timeout_s)
        except KafkaError as exc:
            raise Unavailable(f"publishing to {topic!r} failed: {exc}") from exc

    def flush(self, timeout_s: float | None = None) -> None:
        """Block until every record sent so far is acknowledged (or ``timeout_s`` passes)."""
        try:
            self._producer.flush(timeout=timeout_s)
        except KafkaError as exc:
            raise Unavailable(f"flushing events failed: {exc}") from exc

    def close(self, timeout_s: float = 10.0) -> None:
        """Flush and close the producer."""
        self._producer.close(timeout=timeout_s)

    def __enter__(self) -> EventPublisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
