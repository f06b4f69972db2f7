"""Topic names (``tessera.<service>.<event>``, ``<topic>.retry``, ``<topic>.dlq``) and creating topics on start."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

from kafka import KafkaAdminClient
from kafka.errors import KafkaError

from tessera.core.errors import FailedPrecondition, InvalidArgument, Unavailable
from tessera.core.settings import TesseraSettings

log = logging.getLogger(__name__)

RETRY_SUFFIX = ".retry"
DLQ_SUFFIX = ".dlq"
JOBS_TOPIC = "tessera.jobs"  # job announcements (tessera.core.jobs)

_SEGMENT = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,249}$")  # Kafka's own rule
_TOPIC_ALREADY_EXISTS = 36  # Kafka error code


def topic_name(service: str, event: str) -> str:
    """``tessera.<service>.<event>``; ``event`` may be dotted (``dataset.ready``). Lowercase segments."""
    for field, value in (("service", service), ("event", event)):
        for segment in value.split("."):
            if not _SEGMENT.match(segment):
                raise InvalidArgument.field(field, f"{value!r} must be dot-separated [a-z0-9_-] segments")
    return validate_topic(f"tessera.{service}.{event}")


def validate_topic(topic: str) -> str:
    if not _TOPIC.match(topic) or topic in (".", ".."):
        raise InvalidArgument.field("topic", f"{topic!r} is not a valid Kafka topic name ([A-Za-z0-9._-], <= 249)")
    return topic


def retry_topic(topic: str) -> str:
    """Where failed events of ``topic`` wait for their next attempt."""
    return origin_topic(topic) + RETRY_SUFFIX


def dlq_topic(topic: str) -> str:
    """Where events of ``topic`` go after their last failed attempt, or when undecodable."""
    return origin_topic(topic) + DLQ_SUFFIX


def origin_topic(topic: str) -> str:
    """The main topic of a main, retry or DLQ topic."""
    for suffix in (RETRY_SUFFIX, DLQ_SUFFIX):
        if topic.endswith(suffix):
            return topic[: -len(suffix)]
    return topic


def with_failure_topics(topics: Iterable[str]) -> list[str]:
    """Each topic followed by its retry and DLQ topics, without duplicates."""
    out: list[str] = []
    for topic in topics:
        for name in (origin_topic(topic), retry_topic(topic), dlq_topic(topic)):
            if name not in out:
                out.append(name)
    return out


def ensure_topics(settings: TesseraSettings, topics: Iterable[str], *, timeout_s: float = 30.0) -> list[str]:
    """Create those of ``topics`` that do not exist yet; returns the names created.

    New topics get ``settings.kafka_topic_partitions`` partitions and the broker's default
    replication factor. A topic created concurrently by another process is not an error.
    Raises :class:`Unavailable` when the broker cannot be reached.
    """
    wanted = [validate_topic(t) for t in dict.fromkeys(topics)]
    if not settings.kafka_bootstrap:
        raise FailedPrecondition("TESSERA_KAFKA_BOOTSTRAP is not set: events are disabled")
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=settings.kafka_bootstrap.split(","),
            client_id=f"{settings.service_name}-admin",
            request_timeout_ms=int(timeout_s * 1000),
        )
    except KafkaError as exc:
        raise Unavailable(f"kafka broker at {settings.kafka_bootstrap} unreachable: {exc}") from exc
    try:
        existing = set(admin.list_topics())
        missing = [t for t in wanted if t not in existing]
        if not missing:
            return []
        spec = {t: {"num_partitions": settings.kafka_topic_partitions} for t in missing}
        result = admin.create_topics(spec, timeout_ms=int(timeout_s * 1000), raise_errors=False, wait_for_metadata=True)
        created = []
        for entry in result["topics"]:
            code = entry["error_code"]
            if code == 0:
                created.append(entry["name"])
            elif code != _TOPIC_ALREADY_EXISTS:
                raise Unavailable(f"cannot create topic {entry['name']!r}: {entry['error_message']} (code {code})")
        if created:
            log.info("created topics %s", created)
        return created
    except KafkaError as exc:
        raise Unavailable(f"kafka admin request to {settings.kafka_bootstrap} failed: {exc}") from exc
    finally:
        admin.close()
