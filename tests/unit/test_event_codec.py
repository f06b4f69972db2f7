"""CloudEvents binary-mode codec, topic names and failure headers: no broker needed."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import pytest

from tessera.core.artifacts.local import LocalArtifactStore
from tessera.core.errors import InvalidArgument
from tessera.core.events import codec, topics
from tessera.core.events.dedupe import ProcessedEvents
from tessera.core.events.failures import attempts_of, due_s, header
from tessera.v1 import common_pb2


def _as_record(message: codec.ce_kafka.KafkaMessage) -> tuple[list[tuple[str, bytes]], bytes | None, bytes]:
    key = message.key.encode() if isinstance(message.key, str) else message.key
    return codec.kafka_headers(message), key, message.value


def test_json_event_round_trip_keeps_attributes_data_and_key() -> None:
    data = {"ref": {"uri": "s3://tessera/a/b.nii.gz", "sha256": "ab" * 32, "size": 123}, "n": [1, 2.5]}
    event = codec.make_event(
        "tessera.bids.dataset.ready", "/tessera/bids", data, event_id="evt-1", subject="ds-1", partition_key="ds-1"
    )
    message = codec.encode(event)

    assert message.headers["ce_id"] == b"evt-1"
    assert message.headers["ce_type"] == b"tessera.bids.dataset.ready"
    assert message.headers["ce_specversion"] == b"1.0"
    assert message.headers["content-type"] == b"application/json"
    assert message.key == "ds-1"

    decoded = codec.decode(*_as_record(message))
    assert decoded.get_id() == "evt-1"
    assert decoded.get_source() == "/tessera/bids"
    assert decoded.get_type() == "tessera.bids.dataset.ready"
    assert decoded.get_subject() == "ds-1"
    assert decoded.get_data() == data
    assert decoded.get_extension("partitionkey") == "ds-1"
    assert isinstance(decoded.get_time(), datetime)
    assert decoded.get_time() == event.get_time()


def test_protobuf_event_round_trip() -> None:
    ref = common_pb2.ArtifactRef(uri="s3://tessera/x", sha256="00" * 32, size=7, media_type="application/gzip")
    event = codec.make_event("tessera.test.ref", "/test", ref)
    message = codec.encode(event)
    assert message.headers["content-type"] == b"application/protobuf"
    assert message.headers["ce_dataschema"] == b"proto:tessera.v1.ArtifactRef"

    decoded = codec.decode(*_as_record(message))
    assert isinstance(decoded.get_data(), bytes)
    assert codec.data_as(decoded, common_pb2.ArtifactRef) == ref
    with pytest.raises(InvalidArgument, match="dataschema"):
        codec.data_as(decoded, common_pb2.Job)


def test_default_event_ids_are_unique() -> None:
    ids = {codec.make_event("t", "/s", {}).get_id() for _ in range(100)}
    assert len(ids) == 100


@pytest.mark.parametrize("missing", ["ce_id", "ce_source", "ce_type", "ce_specversion"])
def test_missing_ce_header_is_a_clear_decode_error(missing: str) -> None:
    headers, key, value = _as_record(codec.encode(codec.make_event("t", "/s", {"a": 1})))
    headers = [(k, v) for k, v in headers if k != missing]
    with pytest.raises(codec.EventDecodeError, match=f"missing header\\(s\\) {missing}"):
        codec.decode(headers, key, value)


def test_plain_record_is_not_a_cloudevent() -> None:
    with pytest.raises(codec.EventDecodeError, match="ce_specversion, ce_id, ce_source, ce_type"):
        codec.decode([], None, b"hello")


def test_json_content_type_with_garbage_body_is_rejected() -> None:
    headers, key, _ = _as_record(codec.encode(codec.make_event("t", "/s", {"a": 1})))
    with pytest.raises(codec.EventDecodeError, match="not valid JSON"):
        codec.decode(headers, key, b"{not json")


def test_bad_time_and_specversion_are_decode_errors() -> None:
    headers, key, value = _as_record(codec.encode(codec.make_event("t", "/s", {"a": 1})))
    bad_time = [(k, b"yesterday" if k == "ce_time" else v) for k, v in headers]
    with pytest.raises(codec.EventDecodeError, match="invalid CloudEvent attributes"):
        codec.decode(bad_time, key, value)
    old = [(k, b"0.3" if k == "ce_specversion" else v) for k, v in headers]
    with pytest.raises(codec.EventDecodeError, match="specversion"):
        codec.decode(old, key, value)


def test_tessera_headers_are_not_event_attributes() -> None:
    headers, key, value = _as_record(codec.encode(codec.make_event("t", "/s", {"a": 1})))
    event = codec.decode([*headers, ("tessera_attempt", b"2")], key, value)
    assert "tessera_attempt" not in event.get_attributes()


def test_oversized_data_and_bad_input_are_rejected() -> None:
    with pytest.raises(InvalidArgument, match="artifact store"):
        codec.encode(codec.make_event("t", "/s", {"blob": "x" * (codec.MAX_DATA_BYTES + 1)}))
    with pytest.raises(InvalidArgument, match="type"):
        codec.make_event("", "/s", {})
    with pytest.raises(InvalidArgument, match="data"):
        codec.make_event("t", "/s", [1, 2])  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="data"):
        codec.encode(codec.make_event("t", "/s", {"when": object()}))


def test_artifact_ref_json() -> None:
    ref = common_pb2.ArtifactRef(uri="s3://b/k", sha256="ff" * 32, size=9, media_type="text/plain")
    expected = {"uri": "s3://b/k", "sha256": "ff" * 32, "size": 9, "media_type": "text/plain"}
    assert codec.artifact_ref_json(ref) == expected


def test_topic_names() -> None:
    assert topics.topic_name("bids", "dataset.ready") == "tessera.bids.dataset.ready"
    assert topics.retry_topic("tessera.x.y") == "tessera.x.y.retry"
    assert topics.dlq_topic("tessera.x.y.retry") == "tessera.x.y.dlq"
    assert topics.with_failure_topics(["a"]) == ["a", "a.retry", "a.dlq"]
    with pytest.raises(InvalidArgument, match="service"):
        topics.topic_name("Bad Name", "e")
    with pytest.raises(InvalidArgument, match="topic"):
        topics.validate_topic("a/b")


@dataclass
class _Record:
    topic: str = "t"
    partition: int = 0
    offset: int = 0
    key: bytes | None = None
    value: bytes | None = None
    headers: list[tuple[str, bytes]] = field(default_factory=list)


def test_failure_headers_parse() -> None:
    record = _Record(headers=[("tessera_attempt", b"2"), ("tessera_due_ms", b"1500")])
    assert attempts_of(record) == 2
    assert due_s(record) == 1.5
    assert header(record, "absent") is None
    assert attempts_of(_Record()) == 0 and due_s(_Record()) is None


def test_processed_events_marker_is_durable(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = LocalArtifactStore(tmp_path)
    processed = ProcessedEvents(store, "group-a")
    assert not processed.is_processed("e/1 weird")
    processed.mark("e/1 weird", topic="t", partition=0, offset=5)
    assert processed.is_processed("e/1 weird")
    # A new instance (a restarted process) reads the marker from the store, not from memory.
    again = ProcessedEvents(LocalArtifactStore(tmp_path), "group-a")
    assert again.is_processed("e/1 weird")
    assert not ProcessedEvents(store, "group-b").is_processed("e/1 weird")
    assert processed.marker_key("plain-id") == "events/processed/group-a/plain-id"
    assert processed.marker_key("e/1 weird").startswith("events/processed/group-a/sha256-")
