"""Events: CloudEvents 1.0 (Kafka binary mode) published and consumed with kafka-python.

- :class:`EventPublisher` publishes with acks=all and idempotence, creating topics on first use.
- :class:`EventConsumer` consumes in a group, commits only after the handler's effect is durable,
  dedupes replays on ``ce_id`` (:class:`ProcessedEvents`), retries failures through
  ``<topic>.retry`` and dead-letters them to ``<topic>.dlq``.
- Topics are named ``tessera.<service>.<event>`` (:func:`topic_name`).
"""

from tessera.core.events.codec import (
    Event,
    EventDecodeError,
    artifact_ref_json,
    data_as,
    decode,
    encode,
    make_event,
)
from tessera.core.events.consumer import ConsumerStats, EventConsumer, Handler
from tessera.core.events.dedupe import ProcessedEvents
from tessera.core.events.producer import EventPublisher
from tessera.core.events.topics import (
    JOBS_TOPIC,
    dlq_topic,
    ensure_topics,
    retry_topic,
    topic_name,
)

__all__ = [
    "JOBS_TOPIC",
    "ConsumerStats",
    "Event",
    "EventConsumer",
    "EventDecodeError",
    "EventPublisher",
    "Handler",
    "ProcessedEvents",
    "artifact_ref_json",
    "data_as",
    "decode",
    "dlq_topic",
    "encode",
    "ensure_topics",
    "make_event",
    "retry_topic",
    "topic_name",
]
