"""Event round trip through the broker: publish -> consumed by a group consumer -> handler.

Starts its own Tansu broker (tessera.devstack), then measures with synthetic JSON events
(an artifact ref with a SHA-256, ~200 bytes of data):

- latency: 1,000 events one at a time; time from ``publish()`` to the handler seeing the event
  (includes the acks=all round trip, the fetch, decoding and the dedupe lookup). p50/p99/max.
- throughput: a burst of N events published without waiting for each ack, time until the
  consumer has handled, marked (durable dedupe marker, fsync'd local store) all of them.

Usage: python tools/bench/bench_events.py [--events 1000] [--burst 5000]
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from tessera.core.artifacts.local import LocalArtifactStore
from tessera.core.events import EventConsumer, EventPublisher
from tessera.core.settings import TesseraSettings, load_settings
from tessera.devstack import DevStack, StackConfig


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def _payload(i: int) -> dict[str, Any]:
    digest = hashlib.sha256(str(i).encode()).hexdigest()
    return {"ref": {"uri": f"s3://tessera/bench/{i}.nii.gz", "sha256": digest, "size": 1 << 20}, "i": i}


class _Sink:
    """The handler: records when each event arrived (perf_counter seconds)."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.cond = threading.Condition()

    def __call__(self, event: Any) -> None:
        with self.cond:
            self.arrived[event.get_id()] = time.perf_counter()
            self.cond.notify_all()

    def wait_for(self, event_id: str, timeout_s: float = 30.0) -> float:
        with self.cond:
            if not self.cond.wait_for(lambda: event_id in self.arrived, timeout_s):
                raise TimeoutError(f"event {event_id} not consumed within {timeout_s} s")
            return self.arrived[event_id]

    def wait_count(self, count: int, timeout_s: float = 300.0) -> float:
        with self.cond:
            if not self.cond.wait_for(lambda: len(self.arrived) >= count, timeout_s):
                raise TimeoutError(f"only {len(self.arrived)}/{count} events consumed within {timeout_s} s")
            return max(self.arrived.values())


def run(settings: TesseraSettings, store_root: Path, events: int, burst: int) -> list[tuple[str, str]]:
    topic = f"tessera.bench.{uuid.uuid4().hex[:8]}"
    rows: list[tuple[str, str]] = []
    with EventPublisher(settings) as publisher:
        publisher.ensure([topic])
        sink = _Sink()
        consumer = EventConsumer(
            settings, f"bench-{uuid.uuid4().hex[:8]}", [topic], sink, store=LocalArtifactStore(store_root)
        ).start()
        try:
            if not consumer.wait_until_assigned(60):
                raise TimeoutError("consumer group did not form")
            for i in range(20):  # warm-up: connections, metadata, first fetches
                sink.wait_for(publisher.publish(topic, "tessera.bench.warmup", _payload(i)))

            latencies, acks = [], []
            for i in range(events):
                t0 = time.perf_counter()
                event_id = publisher.publish(topic, "tessera.bench.latency", _payload(i), key=str(i % 16))
                acks.append(time.perf_counter() - t0)
                latencies.append(sink.wait_for(event_id) - t0)
            ms = [x * 1000 for x in latencies]
            rows += [
                ("round trip p50 (ms)", f"{_percentile(ms, 50):.2f}"),
                ("round trip p99 (ms)", f"{_percentile(ms, 99):.2f}"),
                ("round trip max (ms)", f"{max(ms):.2f}"),
                ("round trip mean (ms)", f"{statistics.fmean(ms):.2f}"),
                ("publish ack p50 (ms)", f"{_percentile([a * 1000 for a in acks], 50):.2f}"),
                ("publish ack p99 (ms)", f"{_percentile([a * 1000 for a in acks], 99):.2f}"),
            ]

            before = len(sink.arrived)
            t0 = time.perf_counter()
            for i in range(burst):
                publisher.publish(topic, "tessera.bench.burst", _payload(i), key=str(i % 16), wait=False)
            publisher.flush()
            t_published = time.perf_counter()
            t_last = sink.wait_count(before + burst)
            rows += [
                (f"publish rate, {burst} events (ev/s)", f"{burst / (t_published - t0):,.0f}"),
                (f"end-to-end rate, {burst} events (ev/s)", f"{burst / (t_last - t0):,.0f}"),
            ]
        finally:
            consumer.stop()
        if consumer.error is not None:
            raise consumer.error
        stats = consumer.stats
        rows.append(("events handled / duplicates skipped", f"{stats.handled} / {stats.duplicates_skipped}"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000, help="events for the latency figures")
    parser.add_argument("--burst", type=int, default=5000, help="events for the throughput figures")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as tmp,
        DevStack(StackConfig(log_dir=Path(tmp) / "logs", s3=False, triton=False)) as stack,
    ):
        overrides = {k.removeprefix("TESSERA_").lower(): v for k, v in stack.env().items()}
        settings = load_settings(TesseraSettings, service_name="bench", **overrides)
        rows = run(settings, Path(tmp) / "artifacts", args.events, args.burst)
    print("Event round trip: kafka-python 3 -> Tansu (local, in-memory storage) -> group consumer")
    print(
        f"Data: synthetic CloudEvents (JSON artifact ref + SHA-256, ~200 B), 3 partitions, acks=all, "
        f"idempotent producer; dedupe markers in a local artifact store. {args.events} latency events, "
        f"{args.burst} burst events."
    )
    width = max(len(name) for name, _ in rows)
    print(f"{'metric':<{width}}  value")
    print(f"{'-' * width}  {'-' * 12}")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
