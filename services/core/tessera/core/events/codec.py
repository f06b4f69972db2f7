"""CloudEvents 1.0 in Kafka binary content mode, through the ``cloudevents`` package's Kafka binding.

A record carries the event attributes as ``ce_<attr>`` headers (``ce_id``, ``ce_source``,
``ce_type``, ``ce_specversion``, ``ce_time``, ...), the data content type as ``content-type`` and
the data alone as the value. Data is small: JSON objects (``application/json``) or serialized
protobuf messages (``application/protobuf``, with the message's full name in ``ce_dataschema``).
Bulk bytes (volumes, models) live in the artifact store; events carry their refs and SHA-256.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from cloudevents.core.base import BaseCloudEvent
from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.exceptions import BaseCloudEventException
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from google.protobuf.message import DecodeError, Message

from tessera.core.artifacts.base import ArtifactInfo
from tessera.core.errors import InvalidArgument
from tessera.v1 import common_pb2

JSON_CONTENT_TYPE = "application/json"
PROTOBUF_CONTENT_TYPE = "application/protobuf"
PROTO_SCHEMA_PREFIX = "proto:"  # ce_dataschema = "proto:<full message name>"
REQUIRED_HEADERS = ("ce_specversion", "ce_id", "ce_source", "ce_type")
# Kafka's default max message is 1 MiB; data over this belongs in the artifact store.
MAX_DATA_BYTES = 512 * 1024

_FORMAT = JSONFormat()
M = TypeVar("M", bound=Message)

# What a handler receives.
Event = BaseCloudEvent
EventData = Mapping[str, Any] | Message


class EventDecodeError(ValueError):
    """A record is not a CloudEvent in binary mode (a *poison* record); the message says why."""


def make_event(
    type: str,
    source: str,
    data: EventData,
    *,
    event_id: str | None = None,
    subject: str | None = None,
    partition_key: str | None = None,
) -> CloudEvent:
    """Build a CloudEvents 1.0 event; ``event_id`` defaults to a UUID4, ``time`` to now (UTC).

    ``data`` is a JSON-serialisable mapping or a protobuf message. Raises
    :class:`tessera.core.errors.InvalidArgument` naming the bad field.
    """
    for field, value in (("type", type), ("source", source)):
        if not value:
            raise InvalidArgument.field(field, "must be a non-empty string")
    if event_id is not None and not event_id:
        raise InvalidArgument.field("event_id", "must be a non-empty string when given")
    attributes: dict[str, Any] = {"type": type, "source": source, "id": event_id or str(uuid.uuid4())}
    payload: dict[str, Any] | bytes
    if isinstance(data, Message):
        attributes["datacontenttype"] = PROTOBUF_CONTENT_TYPE
        attributes["dataschema"] = PROTO_SCHEMA_PREFIX + data.DESCRIPTOR.full_name
        payload = data.SerializeToString(deterministic=True)
    elif isinstance(data, Mapping):
        attributes["datacontenttype"] = JSON_CONTENT_TYPE
        payload = dict(data)
    else:
        raise InvalidArgument.field("data", f"must be a mapping or a protobuf message, not {_type_name(data)}")
    if subject:
        attributes["subject"] = subject
    if partition_key is not None:
        attributes[ce_kafka.PARTITIONKEY_ATTR] = partition_key
    try:
        return CloudEvent(attributes, payload)
    except BaseCloudEventException as exc:
        raise InvalidArgument.field("event", str(exc)) from exc


def _type_name(value: object) -> str:
    return value.__class__.__name__


def encode(event: BaseCloudEvent) -> ce_kafka.KafkaMessage:
    """The Kafka record (headers, key, value) of ``event`` in binary mode.

    The key is the ``partitionkey`` extension (events with one key keep their order).
    Raises :class:`InvalidArgument` when the data is not JSON-serialisable or too large.
    """
    try:
        message = ce_kafka.to_binary(event, _FORMAT)
    except (TypeError, ValueError) as exc:
        raise InvalidArgument.field("data", f"cannot be encoded: {exc}") from exc
    if len(message.value) > MAX_DATA_BYTES:
        raise InvalidArgument.field(
            "data",
            f"is {len(message.value)} bytes, over the {MAX_DATA_BYTES}-byte event limit: "
            "put the bytes in the artifact store and send its ref",
        )
    return message


def kafka_headers(message: ce_kafka.KafkaMessage) -> list[tuple[str, bytes]]:
    """Headers in kafka-python's shape: a list of (name, bytes)."""
    return list(message.headers.items())


def decode(headers: Iterable[tuple[str, bytes | None]], key: bytes | None, value: bytes | None) -> BaseCloudEvent:
    """Parse a binary-mode record into a CloudEvent, or raise :class:`EventDecodeError` saying why.

    Non-``ce_`` headers other than ``content-type`` (e.g. Tessera's retry headers) are ignored.
    JSON data must parse; protobuf data stays ``bytes`` (see :func:`data_as`).
    """
    header_map: dict[str, bytes] = {}
    for name, raw in headers:
        header_map[name.lower()] = raw or b""
    missing = [h for h in REQUIRED_HEADERS if not header_map.get(h)]
    if missing:
        raise EventDecodeError(f"not a binary-mode CloudEvent: missing header(s) {', '.join(missing)}")
    try:
        specversion = header_map["ce_specversion"].decode("utf-8")
    except UnicodeDecodeError:
        raise EventDecodeError("header ce_specversion is not UTF-8") from None
    if specversion != "1.0":
        raise EventDecodeError(f"unsupported CloudEvents specversion {specversion!r} (expected '1.0')")
    body = value or b""
    content_type = header_map.get("content-type", JSON_CONTENT_TYPE.encode()).decode("utf-8", "replace")
    if _is_json(content_type) and body:
        try:
            json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise EventDecodeError(f"data is not valid JSON for content-type {content_type!r}: {exc}") from None
    ce_headers = {name: raw for name, raw in header_map.items() if name.startswith("ce_") or name == "content-type"}
    try:
        event = ce_kafka.from_binary(ce_kafka.KafkaMessage(headers=ce_headers, key=key, value=body), _FORMAT)
        if body and not _is_json(content_type) and not content_type.startswith("text/"):
            # The binding hands back any UTF-8-decodable body as str; binary data stays bytes.
            event = type(event)(event.get_attributes(), body)
    except (BaseCloudEventException, ValueError, TypeError) as exc:  # bad attribute values, bad time, bad UTF-8
        raise EventDecodeError(f"invalid CloudEvent attributes: {exc}") from None
    return event


def _is_json(content_type: str) -> bool:
    return bool(JSONFormat.JSON_CONTENT_TYPE_PATTERN.match(content_type))


def data_as(event: BaseCloudEvent, message_type: type[M]) -> M:
    """Parse a protobuf event's data as ``message_type``; raises :class:`InvalidArgument` on mismatch."""
    expected = PROTO_SCHEMA_PREFIX + message_type.DESCRIPTOR.full_name
    schema = event.get_dataschema()
    if schema != expected:
        raise InvalidArgument.field("dataschema", f"is {schema!r}, expected {expected!r}")
    raw = event.get_data()
    if not isinstance(raw, bytes):
        raise InvalidArgument.field("data", "is not serialized protobuf bytes")
    try:
        return message_type.FromString(raw)
    except DecodeError as exc:
        raise InvalidArgument.field("data", f"is not a valid {message_type.DESCRIPTOR.full_name}: {exc}") from exc


def artifact_ref_json(ref: ArtifactInfo | common_pb2.ArtifactRef) -> dict[str, Any]:
    """An artifact ref as JSON event data: ``{"uri", "sha256", "size", "media_type"}``."""
    return {"uri": ref.uri, "sha256": ref.sha256, "size": int(ref.size), "media_type": ref.media_type}
