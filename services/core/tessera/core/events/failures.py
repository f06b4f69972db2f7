"""Routing of failed and undecodable records to ``<topic>.retry`` and ``<topic>.dlq``.

A forwarded record keeps the original key, value and ``ce_*`` headers (it is still the same
CloudEvent, same ``ce_id``) and gains ``tessera_*`` headers, all UTF-8 text:

==========================  ==============================================================
``tessera_attempt``         handler attempts made so far (``0`` for a poison record)
``tessera_due_ms``          retry topic only: epoch milliseconds before which not to retry
``tessera_origin_topic``    where the event was first read: topic, partition and offset
``tessera_origin_partition``
``tessera_origin_offset``
``tessera_error_type``      the last exception's qualified class name
``tessera_error_message``   its message (at most 1,000 characters)
``tessera_dlq_reason``      DLQ only: ``handler-failed`` or ``poison``
==========================  ==============================================================
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from tessera.core.events.producer import EventPublisher
from tessera.core.events.topics import dlq_topic, retry_topic

log = logging.getLogger(__name__)

HEADER_PREFIX = "tessera_"
ATTEMPT = "tessera_attempt"
DUE_MS = "tessera_due_ms"
ORIGIN_TOPIC = "tessera_origin_topic"
ORIGIN_PARTITION = "tessera_origin_partition"
ORIGIN_OFFSET = "tessera_origin_offset"
ERROR_TYPE = "tessera_error_type"
ERROR_MESSAGE = "tessera_error_message"
DLQ_REASON = "tessera_dlq_reason"
REASON_HANDLER_FAILED = "handler-failed"
REASON_POISON = "poison"
MAX_MESSAGE_CHARS = 1000


class KafkaRecord(Protocol):
    """The fields of kafka-python's ``ConsumerRecord`` used here."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def headers(self) -> Sequence[tuple[str, bytes]]: ...


def header(record: KafkaRecord, name: str) -> str | None:
    """The last value of header ``name`` as text, or None."""
    value = None
    for key, raw in record.headers or ():
        if key == name:
            value = (raw or b"").decode("utf-8", "replace")
    return value


def attempts_of(record: KafkaRecord) -> int:
    """Handler attempts already made for this event (0 for a record read from its main topic)."""
    raw = header(record, ATTEMPT)
    return int(raw) if raw and raw.isdigit() else 0


def due_s(record: KafkaRecord) -> float | None:
    """When a retry record may run, in epoch seconds (None when it carries no due time)."""
    raw = header(record, DUE_MS)
    return int(raw) / 1000.0 if raw and raw.isdigit() else None


def error_name(exc: BaseException) -> str:
    cls = type(exc)
    return cls.__name__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


@dataclass(frozen=True)
class FailureRouter:
    """Forwards a failed record to its retry topic (bounded attempts, exponential backoff) or DLQ.

    The ``n``-th retry is due ``backoff_s * 2**(n-1)`` seconds after the failure; after
    ``max_attempts`` handler attempts the event goes to the DLQ. Sends wait for the broker's ack,
    so the caller may commit the original offset once a method returns.
    """

    publisher: EventPublisher
    max_attempts: int
    backoff_s: float

    def handler_failed(self, record: KafkaRecord, exc: BaseException) -> Literal["retry", "dlq"]:
        attempts = attempts_of(record) + 1
        headers = self._headers(record, attempts, error_name(exc), str(exc))
        if attempts < self.max_attempts:
            delay_s = self.backoff_s * 2 ** (attempts - 1)
            headers.append((DUE_MS, str(int((time.time() + delay_s) * 1000)).encode()))
            target = retry_topic(record.topic)
            self.publisher.send_record(target, record.value, headers, key=record.key)
            log.warning(
                "handler failed (attempt %d/%d), retry in %.3g s via %s: %s",
                attempts,
                self.max_attempts,
                delay_s,
                target,
                exc,
            )
            return "retry"
        headers.append((DLQ_REASON, REASON_HANDLER_FAILED.encode()))
        target = dlq_topic(record.topic)
        self.publisher.send_record(target, record.value, headers, key=record.key)
        log.error("handler failed %d times, event sent to %s: %s", attempts, target, exc)
        return "dlq"

    def poison(self, record: KafkaRecord, exc: BaseException) -> None:
        """An undecodable record goes straight to the DLQ, so it never blocks its partition."""
        headers = self._headers(record, attempts_of(record), error_name(exc), str(exc))
        headers.append((DLQ_REASON, REASON_POISON.encode()))
        target = dlq_topic(record.topic)
        self.publisher.send_record(target, record.value, headers, key=record.key)
        log.error("poison record %s[%d]@%d sent to %s: %s", record.topic, record.partition, record.offset, target, exc)

    def _headers(self, record: KafkaRecord, attempts: int, error_type: str, message: str) -> list[tuple[str, bytes]]:
        """The record's own headers without earlier ``tessera_*`` ones, plus the failure's."""
        origin = (
            header(record, ORIGIN_TOPIC) or record.topic,
            header(record, ORIGIN_PARTITION) or str(record.partition),
            header(record, ORIGIN_OFFSET) or str(record.offset),
        )
        kept = [(k, v or b"") for k, v in record.headers or () if not k.startswith(HEADER_PREFIX)]
        return [
            *kept,
            (ATTEMPT, str(attempts).encode()),
            (ORIGIN_TOPIC, origin[0].encode()),
            (ORIGIN_PARTITION, origin[1].encode()),
            (ORIGIN_OFFSET, origin[2].encode()),
            (ERROR_TYPE, error_type.encode()),
            (ERROR_MESSAGE, message[:MAX_MESSAGE_CHARS].encode("utf-8", "replace")),
        ]
