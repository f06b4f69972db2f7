"""Events against the real Tansu broker: group consumption, crash replay, retry/DLQ, poison, long jobs."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from tessera.core.artifacts.local import LocalArtifactStore
from tessera.core.events import EventConsumer, EventPublisher, dlq_topic, ensure_topics, retry_topic
from tessera.core.events import failures as fh
from tessera.core.logging import JsonFormatter
from tessera.core.settings import TesseraSettings

pytestmark = pytest.mark.integration

WAIT_S = 45.0  # generous: groups take ~3 s to form on Tansu, a dead member ~6 s to expire


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _topic() -> str:
    return f"tessera.test.{uuid.uuid4().hex[:10]}"


def _wait_for(condition: Callable[[], bool], what: str, timeout_s: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def _read_all(settings: TesseraSettings, topic: str, count: int) -> list[Any]:
    """The first ``count`` records of ``topic`` across partitions, read without a group."""
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        records: list[Any] = []
        deadline = time.monotonic() + WAIT_S
        while len(records) < count and time.monotonic() < deadline:
            for recs in consumer.poll(timeout_ms=200).values():
                records.extend(recs)
        assert len(records) >= count, f"{topic} has {len(records)} records, expected {count}"
        return records
    finally:
        consumer.close()


def _committed_total(settings: TesseraSettings, group: str, topic: str) -> int:
    """Sum over partitions of the group's committed offsets (0 where none)."""
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=group, enable_auto_commit=False)
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        return sum(consumer.committed(TopicPartition(topic, p)) or 0 for p in parts)
    finally:
        consumer.close(autocommit=False)


def _headers(record: Any) -> dict[str, str]:
    return {k: v.decode() for k, v in record.headers}


@pytest.fixture
def store(tmp_path: Path) -> LocalArtifactStore:
    return LocalArtifactStore(tmp_path / "artifacts")


@pytest.fixture
def publisher(kafka_settings: TesseraSettings) -> Iterator[EventPublisher]:
    with EventPublisher(kafka_settings) as pub:
        yield pub


def test_publish_then_consume_in_a_group(
    kafka_settings: TesseraSettings, store: LocalArtifactStore, publisher: EventPublisher
) -> None:
    topic, group = _topic(), _unique("g")
    ids = [publisher.publish(topic, "tessera.test.hello", {"i": i}, key=f"k{i % 2}") for i in range(6)]
    seen: list[tuple[str, int, str | None]] = []
    lock = threading.Lock()

    log_lines = io.StringIO()
    log_handler = logging.StreamHandler(log_lines)
    log_handler.setFormatter(JsonFormatter("test"))
    handler_log = logging.getLogger(f"test.{group}")
    handler_log.addHandler(log_handler)

    def handler(event: Any) -> None:
        handler_log.warning("handling")
        with lock:
            seen.append((event.get_id(), event.get_data()["i"], event.get_extension("partitionkey")))

    consumer = EventConsumer(kafka_settings, group, [topic], handler, store=store).start()
    try:
        _wait_for(lambda: len(seen) == 6, "6 events handled")
        _wait_for(lambda: _committed_total(kafka_settings, group, topic) == 6, "offsets committed")
    finally:
        consumer.stop()
        handler_log.removeHandler(log_handler)
    assert consumer.error is None
    assert sorted(e[0] for e in seen) == sorted(ids)
    for key in ("k0", "k1"):  # one key, one partition, publish order
        assert [i for _, i, k in seen if k == key] == [i for i in range(6) if f"k{i % 2}" == key]
    assert consumer.stats.handled == 6
    assert all(store.exists(f"events/processed/{group}/{event_id}") for event_id in ids)
    # Each handler's log lines carry the event id.
    assert sorted(json.loads(line)["event_id"] for line in log_lines.getvalue().splitlines()) == sorted(ids)


_CRASHING_CONSUMER = textwrap.dedent(
    """
    import os, signal, sys
    from tessera.core.artifacts.local import LocalArtifactStore
    from tessera.core.events import EventConsumer
    from tessera.core.events.dedupe import ProcessedEvents
    from tessera.core.settings import TesseraSettings, load_settings

    root, topic, group, effects = sys.argv[1:5]
    mark = ProcessedEvents.mark

    def mark_then_die(self, event_id, **where):
        mark(self, event_id, **where)
        # Effect and marker are durable, the offset is not committed: the worst moment to die.
        os.kill(os.getpid(), signal.SIGKILL)

    ProcessedEvents.mark = mark_then_die

    def apply_effect(event):
        with open(effects, "a") as fh:
            fh.write(event.get_id() + "\\n")

    settings = load_settings(TesseraSettings)
    EventConsumer(settings, group, [topic], apply_effect, store=LocalArtifactStore(root)).run()
    """
)


def test_consumer_killed_before_commit_replays_and_effect_applies_once(
    kafka_settings: TesseraSettings, tmp_path: Path, publisher: EventPublisher
) -> None:
    topic, group = _topic(), _unique("g")
    root, effects = tmp_path / "artifacts", tmp_path / "effects.log"
    first = publisher.publish(topic, "tessera.test.effect", {"n": 1}, key="one")

    env = {**os.environ}
    env |= {
        "TESSERA_KAFKA_BOOTSTRAP": str(kafka_settings.kafka_bootstrap),
        "TESSERA_KAFKA_SESSION_TIMEOUT_MS": str(kafka_settings.kafka_session_timeout_ms),
        "TESSERA_KAFKA_HEARTBEAT_INTERVAL_MS": str(kafka_settings.kafka_heartbeat_interval_ms),
    }
    child = subprocess.run(
        [sys.executable, "-c", _CRASHING_CONSUMER, str(root), topic, group, str(effects)],
        env=env,
        timeout=120,
        capture_output=True,
        text=True,
    )
    assert child.returncode == -9, child.stderr[-2000:]
    assert effects.read_text().split() == [first]
    assert _committed_total(kafka_settings, group, topic) == 0  # died before committing

    def apply_effect(event: Any) -> None:
        with effects.open("a") as fh:
            fh.write(event.get_id() + "\n")

    second = publisher.publish(topic, "tessera.test.effect", {"n": 2}, key="one")
    consumer = EventConsumer(kafka_settings, group, [topic], apply_effect, store=LocalArtifactStore(root)).start()
    try:
        _wait_for(lambda: consumer.stats.handled == 1, "the second event handled", timeout_s=60)
        _wait_for(lambda: _committed_total(kafka_settings, group, topic) == 2, "both offsets committed")
    finally:
        consumer.stop()
    assert consumer.stats.duplicates_skipped == 1  # the replayed first event
    assert effects.read_text().split() == [first, second]  # each effect exactly once


def test_failing_handler_retries_then_dead_letters_without_blocking_the_partition(
    kafka_settings: TesseraSettings, store: LocalArtifactStore, publisher: EventPublisher
) -> None:
    settings = kafka_settings.model_copy(update={"event_max_attempts": 3, "event_retry_backoff_s": 0.3})
    topic, group = _topic(), _unique("g")
    bad = publisher.publish(topic, "tessera.test.job", {"ok": False}, key="same")
    good = publisher.publish(topic, "tessera.test.job", {"ok": True}, key="same")
    calls: list[str] = []

    def handler(event: Any) -> None:
        calls.append(event.get_id())
        if not event.get_data()["ok"]:
            raise ValueError(f"cannot process {event.get_id()}")

    consumer = EventConsumer(settings, group, [topic], handler, store=store).start()
    try:
        _wait_for(lambda: consumer.stats.dead_lettered == 1, "the failing event dead-lettered")
        _wait_for(lambda: _committed_total(settings, group, topic) == 2, "main offsets committed")
    finally:
        consumer.stop()

    assert calls[:2] == [bad, good]  # the good event did not wait for the bad one's retries
    assert calls.count(bad) == 3 and calls.count(good) == 1
    assert consumer.stats.retried == 2 and consumer.stats.handled == 1
    origin = next(r for r in _read_all(settings, topic, 2) if _headers(r)["ce_id"] == bad)

    retries = _read_all(settings, retry_topic(topic), 2)
    assert [_headers(r)[fh.ATTEMPT] for r in retries] == ["1", "2"]
    due = [int(_headers(r)[fh.DUE_MS]) for r in retries]
    assert due[1] - due[0] >= 300  # second backoff (0.6 s) after the first (0.3 s), at least

    [dead] = _read_all(settings, dlq_topic(topic), 1)
    headers = _headers(dead)
    assert headers["ce_id"] == bad and dead.value == origin.value and dead.key == b"same"
    assert headers[fh.DLQ_REASON] == "handler-failed"
    assert headers[fh.ERROR_TYPE] == "ValueError"
    assert headers[fh.ERROR_MESSAGE] == f"cannot process {bad}"
    assert headers[fh.ATTEMPT] == "3"
    assert headers[fh.ORIGIN_TOPIC] == topic
    assert (headers[fh.ORIGIN_PARTITION], headers[fh.ORIGIN_OFFSET]) == (str(origin.partition), str(origin.offset))


def test_poison_record_goes_to_dlq_and_the_partition_moves_on(
    kafka_settings: TesseraSettings, store: LocalArtifactStore, publisher: EventPublisher
) -> None:
    topic, group = _topic(), _unique("g")
    ensure_topics(kafka_settings, [topic])
    raw = KafkaProducer(bootstrap_servers=kafka_settings.kafka_bootstrap, acks="all")
    try:
        raw.send(topic, key=b"p", value=b"\x00not a cloud event", headers=[("source", b"legacy")]).get(30)
    finally:
        raw.close()
    good = publisher.publish(topic, "tessera.test.ok", {"fine": True}, key="p")
    handled: list[str] = []
    consumer = EventConsumer(kafka_settings, group, [topic], lambda e: handled.append(e.get_id()), store=store).start()
    try:
        _wait_for(lambda: handled == [good], "the valid event after the poison one handled")
        _wait_for(lambda: _committed_total(kafka_settings, group, topic) == 2, "both offsets committed")
    finally:
        consumer.stop()
    assert consumer.stats.poison == 1
    [dead] = _read_all(kafka_settings, dlq_topic(topic), 1)
    headers = _headers(dead)
    assert dead.value == b"\x00not a cloud event" and headers["source"] == "legacy"
    assert headers[fh.DLQ_REASON] == "poison"
    assert headers[fh.ERROR_TYPE].endswith("EventDecodeError")
    assert "missing header(s) ce_specversion" in headers[fh.ERROR_MESSAGE]
    assert (headers[fh.ORIGIN_TOPIC], headers[fh.ORIGIN_OFFSET], headers[fh.ATTEMPT]) == (topic, "0", "0")


def test_job_longer_than_session_timeout_keeps_the_member_in_its_group(
    kafka_settings: TesseraSettings, store: LocalArtifactStore, publisher: EventPublisher
) -> None:
    # The job (10 s) outlasts both the session timeout (6 s) and max.poll.interval (7 s): only
    # polling on while the handler runs off the poll thread keeps this member in the group.
    settings = kafka_settings.model_copy(update={"kafka_max_poll_interval_ms": 7000})
    assert settings.kafka_session_timeout_ms < 10_000
    topic, group = _topic(), _unique("g")
    long_job = publisher.publish(topic, "tessera.test.long", {"sleep_s": 10.0}, key="k")
    after = publisher.publish(topic, "tessera.test.long", {"sleep_s": 0.0}, key="k")
    calls: list[str] = []

    def handler(event: Any) -> None:
        calls.append(event.get_id())
        time.sleep(event.get_data()["sleep_s"])

    consumer = EventConsumer(settings, group, [topic], handler, store=store).start()
    try:
        _wait_for(lambda: consumer.stats.handled == 2, "both jobs handled", timeout_s=60)
        _wait_for(lambda: _committed_total(settings, group, topic) == 2, "offsets committed")
        time.sleep(1.0)  # a late eviction would show as a revocation and a second run of the job
    finally:
        consumer.stop()
    assert calls == [long_job, after]
    assert consumer.stats.revocations == 0 and consumer.stats.assignments == 1
    assert consumer.error is None


def test_api_only_replica_starts_no_consumer_and_the_consuming_replica_gets_the_events(
    kafka_settings: TesseraSettings, tmp_path: Path, publisher: EventPublisher
) -> None:
    """TESSERA_KAFKA_CONSUME=false: the runtime registers its consumers but never joins the group."""
    from tessera.core.runtime import ServiceRuntime

    topic, group = _topic(), _unique("g")
    seen: list[str] = []

    def runtime(consume: bool, name: str) -> ServiceRuntime:
        settings = kafka_settings.model_copy(update={
            "kafka_consume": consume, "artifacts_uri": (tmp_path / name).as_uri(), "grpc_port": 0, "metrics_port": 0})
        rt = ServiceRuntime(settings, configure_logs=False)
        rt.consume(group, [topic], lambda event: seen.append(f"{name}:{event.get_id()}"))
        return rt

    api, worker = runtime(False, "api"), runtime(True, "worker")
    assert api.start_consumers() == []
    ids = [publisher.publish(topic, "tessera.test.hello", {"i": i}) for i in range(3)]
    started = worker.start_consumers()
    try:
        assert started == worker.consumers
        _wait_for(lambda: len(seen) == 3, "3 events handled by the consuming replica")
    finally:
        for consumer in started:
            consumer.stop()
    assert sorted(seen) == sorted(f"worker:{i}" for i in ids)
    assert api.consumers[0].stats.handled == 0
