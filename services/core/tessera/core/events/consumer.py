"""``EventConsumer``: at-least-once group consumption with durable dedupe, retries and a DLQ.

One poll thread owns the ``KafkaConsumer``; handlers run on one worker thread. While a batch is
in the worker every assigned partition is paused and the poll thread keeps polling, so a job
longer than ``max_poll_interval_ms`` (or the session timeout) never gets the member evicted.

For each record, in partition order:

1. decode the CloudEvent; an undecodable (*poison*) record goes straight to ``<topic>.dlq``;
2. skip it if :class:`ProcessedEvents` holds its ``ce_id`` (a replay after a crash);
3. call the handler inside ``log_context(event_id=...)``;
4. on success write the processed marker; on an exception forward the record to
   ``<topic>.retry`` (due time in a header) or, after ``event_max_attempts``, ``<topic>.dlq``;
5. only then mark ``offset + 1`` done; the poll thread commits done offsets each loop.

Retry topics are consumed by the same group: a record not yet due is sought back to and its
partition paused until the due time, so waiting retries never block a main partition.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass
from typing import Any

from cloudevents.core.base import BaseCloudEvent
from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition
from kafka.errors import CommitFailedError, KafkaError
from kafka.structs import OffsetAndMetadata

from tessera.core.artifacts.base import ArtifactStore
from tessera.core.errors import FailedPrecondition, InvalidArgument
from tessera.core.events import codec, failures
from tessera.core.events.dedupe import ProcessedEvents
from tessera.core.events.producer import EventPublisher
from tessera.core.events.topics import RETRY_SUFFIX, ensure_topics, retry_topic, validate_topic, with_failure_topics
from tessera.core.logging import log_context
from tessera.core.settings import TesseraSettings

log = logging.getLogger(__name__)

Handler = Callable[[BaseCloudEvent], None]
"""Applies one event's effect durably (e.g. writes to the artifact store) and returns; raises to retry."""


@dataclass
class ConsumerStats:
    """Counters since start (read them from any thread)."""

    handled: int = 0  # handler returned, marker written
    duplicates_skipped: int = 0  # ce_id already processed by this group
    retried: int = 0  # sent to <topic>.retry
    dead_lettered: int = 0  # handler failed on its last attempt -> <topic>.dlq
    poison: int = 0  # undecodable -> <topic>.dlq
    commits: int = 0
    assignments: int = 0  # partition assignments received (1 after joining, +1 per rebalance)
    revocations: int = 0  # non-empty revocations (rebalances that took partitions away)


class _Listener(ConsumerRebalanceListener):
    """Runs on kafka-python's IO thread, so it only records what happened and returns at once."""

    def __init__(self, owner: EventConsumer):
        self.owner = owner

    def on_partitions_revoked(self, revoked: Any) -> None:
        # close() also revokes; only a rebalance while running counts.
        if revoked and not self.owner._stopping.is_set():
            self.owner.stats.revocations += 1
            self.owner._rebalanced.set()
            self.owner._abort.set()  # the worker stops after its current record

    def on_partitions_assigned(self, assigned: Any) -> None:
        self.owner.stats.assignments += 1
        self.owner._rebalanced.set()
        self.owner._assigned.set()


class EventConsumer:
    """Consumes CloudEvents from ``topics`` (and their retry topics) in group ``group_id``.

    ``store`` keeps the processed-event markers (``events/processed/<group>/<ce_id>``);
    ``publisher`` sends retries and dead letters (one is created from ``settings`` if omitted
    and closed on stop). Use :meth:`run` to block, or :meth:`start` / :meth:`stop`.
    """

    def __init__(
        self,
        settings: TesseraSettings,
        group_id: str,
        topics: Sequence[str],
        handler: Handler,
        *,
        store: ArtifactStore,
        publisher: EventPublisher | None = None,
        max_poll_records: int = 100,
        poll_timeout_s: float = 0.1,
    ):
        if not settings.kafka_bootstrap:
            raise FailedPrecondition("TESSERA_KAFKA_BOOTSTRAP is not set: events are disabled")
        if not group_id:
            raise InvalidArgument.field("group_id", "must be a non-empty string")
        if not topics:
            raise InvalidArgument.field("topics", "must name at least one topic")
        self.settings = settings
        self.group_id = group_id
        self.topics = [validate_topic(t) for t in topics]
        # Main topics bring their retry topic; a retry or DLQ topic given explicitly is read as is.
        self.subscription = list(
            dict.fromkeys(t2 for t in self.topics for t2 in ([t, retry_topic(t)] if _is_main(t) else [t]))
        )
        self.handler = handler
        self.processed = ProcessedEvents(store, group_id)
        self._own_publisher = publisher is None
        self.publisher = publisher or EventPublisher(settings)
        self.router = failures.FailureRouter(
            self.publisher, settings.event_max_attempts, settings.event_retry_backoff_s
        )
        self.max_poll_records = max_poll_records
        self.poll_timeout_s = poll_timeout_s
        self.stats = ConsumerStats()
        self.error: BaseException | None = None  # why run() stopped, if it failed

        self._stopping = threading.Event()
        self._abort = threading.Event()  # worker: stop after the current record
        self._rebalanced = threading.Event()
        self._assigned = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._done: dict[TopicPartition, int] = {}  # next offset whose predecessors are all handled
        self._committed: dict[TopicPartition, int] = {}
        self._deferred: dict[TopicPartition, float] = {}  # retry partitions paused until (epoch s)
        self._inflight: Future[None] | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"events-{group_id}-worker")
        self._consumer: KafkaConsumer | None = None

    # ---- lifecycle -------------------------------------------------------------------------

    def start(self) -> EventConsumer:
        """Run the poll loop on a background thread; returns self. Errors land in :attr:`error`."""
        if self._thread is not None:
            raise FailedPrecondition("consumer already started")
        self._thread = threading.Thread(target=self._run_quietly, name=f"events-{self.group_id}", daemon=True)
        self._thread.start()
        return self

    def _run_quietly(self) -> None:
        try:
            self.run()
        except BaseException as exc:  # kept in self.error for whoever started the thread
            if self.error is None:
                self.error = exc
                log.exception("event consumer %s failed to start", self.group_id)

    def wait_until_assigned(self, timeout_s: float = 30.0) -> bool:
        """Block until the group has given this member its partitions (True) or the timeout passes."""
        return self._assigned.wait(timeout_s)

    def stop(self, timeout_s: float | None = 60.0) -> None:
        """Graceful shutdown: stop consuming, let the current record finish, commit, leave the group."""
        self._stopping.set()
        self._abort.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)

    def run(self) -> None:
        """The blocking poll loop; returns after :meth:`stop`, raises if processing failed."""
        ensure_topics(self.settings, with_failure_topics(self.topics))
        consumer = self._consumer = KafkaConsumer(
            bootstrap_servers=self.settings.kafka_bootstrap.split(","),  # type: ignore[union-attr]
            group_id=self.group_id,
            client_id=f"{self.settings.service_name}-{self.group_id}",
            # kafka-python's defaults (True, 'latest', 45 s) suit none of this: set all explicitly.
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=self.settings.kafka_session_timeout_ms,
            heartbeat_interval_ms=self.settings.kafka_heartbeat_interval_ms,
            max_poll_interval_ms=self.settings.kafka_max_poll_interval_ms,
            max_poll_records=self.max_poll_records,
        )
        try:
            consumer.subscribe(self.subscription, listener=_Listener(self))
            log.info("consuming %s as group %s", self.subscription, self.group_id)
            while not self._stopping.is_set():
                timeout_ms = int(self.poll_timeout_s * 1000)
                if self._inflight is not None:
                    # Wake as soon as the worker finishes, yet keep polling (all partitions paused)
                    # at least every poll_timeout_s so the member stays in its group.
                    wait_futures([self._inflight], timeout=self.poll_timeout_s)
                    timeout_ms = 0
                records = consumer.poll(timeout_ms=timeout_ms)
                if self._rebalanced.is_set():
                    self._after_rebalance()
                self._reap_worker()
                self._commit_done()
                self._resume_due()
                if records:
                    self._dispatch(records)
                self._sync_pause()
        except BaseException as exc:
            self.error = exc
            log.exception("event consumer %s stopped on an error", self.group_id)
            raise
        finally:
            self._shutdown(consumer)

    def _shutdown(self, consumer: KafkaConsumer) -> None:
        self._abort.set()
        try:
            self._wait_worker()
            self._commit_done()
        except BaseException as exc:  # the record in flight is replayed by the next member
            log.warning("not committing the batch in flight on shutdown: %s", exc)
        consumer.close(autocommit=False)
        self._executor.shutdown(wait=True)
        if self._own_publisher:
            self.publisher.close()
        log.info("event consumer %s stopped (%s)", self.group_id, self.stats)

    # ---- poll-thread steps -----------------------------------------------------------------

    def _kafka(self) -> KafkaConsumer:
        assert self._consumer is not None
        return self._consumer

    def _after_rebalance(self) -> None:
        """Finish the aborted batch, commit what it did, forget state of partitions we lost."""
        self._rebalanced.clear()
        self._wait_worker()
        self._commit_done()
        assigned = set(self._kafka().assignment())
        with self._lock:
            for state in (self._done, self._committed):
                for tp in [tp for tp in state if tp not in assigned]:
                    del state[tp]
        # Positions of (re)assigned partitions restart from committed offsets: drop deferrals.
        self._deferred.clear()
        if not self._stopping.is_set():
            self._abort.clear()

    def _wait_worker(self) -> None:
        if self._inflight is not None:
            self._inflight.result()  # re-raises an infrastructure failure from the worker
            self._inflight = None

    def _reap_worker(self) -> None:
        if self._inflight is not None and self._inflight.done():
            self._wait_worker()

    def _commit_done(self) -> None:
        """Commit ``offset + 1`` of every record whose effect is durable and not yet committed."""
        assigned = set(self._kafka().assignment())
        with self._lock:
            todo = {tp: off for tp, off in self._done.items() if tp in assigned and self._committed.get(tp) != off}
        if not todo:
            return
        try:
            self._kafka().commit({tp: OffsetAndMetadata(off, "", -1) for tp, off in todo.items()})
        except CommitFailedError as exc:  # lost the partitions; the new owner replays and dedupes
            log.warning("offset commit failed after a rebalance (replays will be deduped): %s", exc)
            return
        except KafkaError as exc:
            log.warning("offset commit failed, will retry: %s", exc)
            return
        self.stats.commits += 1
        with self._lock:
            self._committed.update(todo)

    def _resume_due(self) -> None:
        now = time.time()
        for tp in [tp for tp, due in self._deferred.items() if due <= now]:
            del self._deferred[tp]

    def _dispatch(self, records: dict[TopicPartition, list[Any]]) -> None:
        """Hand a polled batch to the worker; hold back retry records that are not due yet."""
        self._wait_worker()  # only after a rebalance can records arrive while a batch is in flight
        now = time.time()
        batch = []
        for tp, recs in records.items():
            for record in recs:
                due = failures.due_s(record) if tp.topic.endswith(RETRY_SUFFIX) else None
                if due is not None and due > now:
                    self._kafka().seek(tp, record.offset)  # fetch it again once due
                    self._deferred[tp] = due
                    break
                batch.append(record)
        if batch:
            self._inflight = self._executor.submit(self._process_batch, batch)

    def _sync_pause(self) -> None:
        """Paused = every partition while a batch is in flight, else the deferred retry partitions."""
        kafka = self._kafka()
        assigned = set(kafka.assignment())
        busy = self._inflight is not None and not self._inflight.done()
        want = assigned if busy else {tp for tp in self._deferred if tp in assigned}
        paused = set(kafka.paused())
        if want - paused:
            kafka.pause(*(want - paused))
        if (paused - want) & assigned:
            kafka.resume(*((paused - want) & assigned))

    # ---- worker thread ---------------------------------------------------------------------

    def _process_batch(self, batch: list[Any]) -> None:
        for record in batch:
            if self._abort.is_set():
                return
            self._process_record(record)
            with self._lock:
                tp = TopicPartition(record.topic, record.partition)
                self._done[tp] = max(self._done.get(tp, 0), record.offset + 1)

    def _process_record(self, record: Any) -> None:
        try:
            event = codec.decode(record.headers or [], record.key, record.value)
        except codec.EventDecodeError as exc:
            self.router.poison(record, exc)
            self.stats.poison += 1
            return
        event_id = event.get_id()
        with log_context(event_id=event_id):
            if self.processed.is_processed(event_id):
                log.info("event %s already processed by group %s: skipped", event_id, self.group_id)
                self.stats.duplicates_skipped += 1
                return
            try:
                self.handler(event)
            except Exception as exc:  # the handler's failure is the event's, not the consumer's
                if self.router.handler_failed(record, exc) == "retry":
                    self.stats.retried += 1
                else:
                    self.stats.dead_lettered += 1
                return
            self.processed.mark(event_id, topic=record.topic, partition=record.partition, offset=record.offset)
            self.stats.handled += 1


def _is_main(topic: str) -> bool:
    return not topic.endswith((RETRY_SUFFIX, ".dlq"))
