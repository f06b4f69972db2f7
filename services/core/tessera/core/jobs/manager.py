"""``JobManager``: runs a service's long work as jobs with progress, cancellation and restart safety.

A job is a function ``run(ctx: JobContext) -> list[ArtifactRef]`` registered per kind. It runs on
the service's thread pool; ``ctx.progress(fraction, message)`` persists progress (and raises
:class:`JobCancelled` once a cancel was requested). Every change is saved to the
:class:`JobStore`, announced (e.g. on Kafka topic ``tessera.jobs``) and wakes ``watch()``ers.
On start, :meth:`JobManager.resume` re-runs the queued/running jobs a previous process left,
so job functions must be idempotent (deterministic output keys from the job id).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field

from tessera.core.errors import FailedPrecondition, InvalidArgument, TesseraError
from tessera.core.jobs.records import ACTIVE_STATES, TERMINAL_STATES, JobStore, new_job_id, now, validate_job_id
from tessera.core.logging import log_context
from tessera.v1 import common_pb2

log = logging.getLogger(__name__)

JobAnnouncer = Callable[[common_pb2.Job], None]
ProgressListener = Callable[[common_pb2.Job], None]


class JobCancelled(Exception):
    """Raised inside a job function by ``ctx.progress`` after a cancel request."""


class JobInterrupted(Exception):
    """Raised inside a job function by ``ctx.progress`` when the process shuts down; the job
    goes back to QUEUED and the next process resumes it."""


@dataclass
class JobContext:
    """What a running job function sees: its record, progress reporting and cancellation."""

    job: common_pb2.Job
    _manager: JobManager
    _cancel: threading.Event = field(default_factory=threading.Event)
    _interrupt: threading.Event = field(default_factory=threading.Event)

    @property
    def job_id(self) -> str:
        return str(self.job.id)

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def progress(self, fraction: float, message: str = "") -> None:
        """Record progress in [0, 1]; raises :class:`JobCancelled` if a cancel was requested."""
        if self._cancel.is_set():
            raise JobCancelled(self.job.id)
        if self._interrupt.is_set():
            raise JobInterrupted(self.job.id)
        self._manager._update(self.job.id, progress=min(max(fraction, 0.0), 1.0), message=message)


JobFunction = Callable[[JobContext], Iterable[common_pb2.ArtifactRef] | None]


class JobManager:
    def __init__(
        self,
        store: JobStore,
        executor: Executor,
        *,
        announce: JobAnnouncer | None = None,
        on_change: ProgressListener | None = None,
    ):
        self.store = store
        self.executor = executor
        self._announce = announce
        self._on_change = on_change
        self._kinds: dict[str, JobFunction] = {}
        self._lock = threading.Lock()
        self._jobs: dict[str, common_pb2.Job] = {}
        self._contexts: dict[str, JobContext] = {}
        self._futures: dict[str, Future[None]] = {}
        self._waiters: dict[str, set[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = {}

    # registration and submission ------------------------------------------------------------
    def register(self, kind: str, fn: JobFunction) -> None:
        self._kinds[kind] = fn

    def submit(
        self,
        kind: str,
        inputs: Iterable[common_pb2.ArtifactRef] = (),
        *,
        job_id: str | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> common_pb2.Job:
        """Create and start a job. With a deterministic ``job_id`` (e.g. from an event id) a
        second submit returns the existing job instead of running it twice."""
        if kind not in self._kinds:
            raise InvalidArgument.field("kind", f"unknown job kind {kind!r}; known: {sorted(self._kinds)}")
        job_id = validate_job_id(job_id or new_job_id(), "job_id")
        with self._lock:
            existing = self._jobs.get(job_id) or self._load_quietly(job_id)
            if existing is not None:
                return existing
            ts = now()
            job = common_pb2.Job(
                id=job_id, kind=kind, state=common_pb2.JOB_STATE_QUEUED, created_at=ts, updated_at=ts,
                inputs=list(inputs), labels=dict(labels or {}),
            )
            self._jobs[job_id] = job
        self._persist(job)
        self._start(job)
        return job

    def _load_quietly(self, job_id: str) -> common_pb2.Job | None:
        try:
            job = self.store.load(job_id)
        except TesseraError:
            return None
        self._jobs[job_id] = job
        return job

    def resume(self) -> list[str]:
        """Re-run jobs a previous process left queued or running; returns their ids."""
        resumed = []
        for job in self.store.all():
            if job.state not in ACTIVE_STATES:
                continue
            with self._lock:
                if job.id in self._futures:
                    continue
                self._jobs[job.id] = job
            if job.kind in self._kinds:
                log.info("resuming job", extra={"job_id": job.id, "kind": job.kind})
                self._update(job.id, state=common_pb2.JOB_STATE_QUEUED, message="resumed after restart")
                self._start(self._jobs[job.id])
                resumed.append(job.id)
            else:
                self._finish(job.id, common_pb2.JOB_STATE_FAILED,
                             error=("FAILED_PRECONDITION", f"no handler for job kind {job.kind!r} after restart"))
        return resumed

    def _start(self, job: common_pb2.Job) -> None:
        ctx = JobContext(job=job, _manager=self)
        with self._lock:
            self._contexts[job.id] = ctx
            self._futures[job.id] = self.executor.submit(self._run, ctx)

    def _run(self, ctx: JobContext) -> None:
        job_id = ctx.job_id
        fn = self._kinds[ctx.job.kind]
        with log_context(job_id=job_id):
            try:
                if ctx.cancelled:
                    raise JobCancelled(job_id)
                self._update(job_id, state=common_pb2.JOB_STATE_RUNNING, progress=0.0, message="started")
                results = list(fn(ctx) or [])
            except JobCancelled:
                self._finish(job_id, common_pb2.JOB_STATE_CANCELLED, error=("CANCELLED", "cancelled on request"))
            except JobInterrupted:
                log.info("job interrupted by shutdown; it resumes on restart")
                self._update(job_id, state=common_pb2.JOB_STATE_QUEUED, message="interrupted by shutdown")
            except TesseraError as exc:
                log.warning("job failed: %s", exc)
                self._finish(job_id, common_pb2.JOB_STATE_FAILED, error=(exc.code.name, str(exc)))
            except Exception as exc:
                log.exception("job crashed")
                self._finish(job_id, common_pb2.JOB_STATE_FAILED, error=("INTERNAL", f"{type(exc).__name__}: {exc}"))
            else:
                self._finish(job_id, common_pb2.JOB_STATE_SUCCEEDED, results=results)
            finally:
                with self._lock:
                    self._futures.pop(job_id, None)
                    self._contexts.pop(job_id, None)

    # state changes ------------------------------------------------------------------------
    def _update(
        self, job_id: str, *, state: int | None = None, progress: float | None = None, message: str | None = None
    ) -> common_pb2.Job:
        with self._lock:
            job = common_pb2.Job()
            job.CopyFrom(self._jobs[job_id])
            if state is not None:
                job.state = state  # type: ignore[assignment]
            if progress is not None:
                job.progress = progress
            if message is not None:
                job.progress_message = message
            job.updated_at.CopyFrom(now())
            self._jobs[job_id] = job
        self._persist(job)
        return job

    def _finish(
        self, job_id: str, state: int, *, results: list[common_pb2.ArtifactRef] | None = None,
        error: tuple[str, str] | None = None,
    ) -> None:
        with self._lock:
            job = common_pb2.Job()
            job.CopyFrom(self._jobs[job_id])
            job.state = state  # type: ignore[assignment]
            if state == common_pb2.JOB_STATE_SUCCEEDED:
                job.progress, job.progress_message = 1.0, "done"
            if results:
                del job.results[:]
                job.results.extend(results)
            if error:
                job.error.code, job.error.message = error
            job.updated_at.CopyFrom(now())
            self._jobs[job_id] = job
        self._persist(job)

    def _persist(self, job: common_pb2.Job) -> None:
        self.store.save(job)
        for hook in (self._announce, self._on_change):
            if hook is not None:
                try:
                    hook(job)
                except Exception:
                    log.exception("job change hook failed", extra={"job_id": job.id})
        self._wake(job.id)

    # queries, cancellation, watching -----------------------------------------------------
    def get(self, job_id: str) -> common_pb2.Job:
        """The job as this process knows it if it runs or ended here, else as stored."""
        validate_job_id(job_id)
        with self._lock:
            job = self._jobs.get(job_id)
            local = job_id in self._futures or (job is not None and job.state in TERMINAL_STATES)
        return job if job is not None and local else self.store.load(job_id)

    def cancel(self, job_id: str) -> common_pb2.Job:
        job = self.get(job_id)
        if job.state in TERMINAL_STATES:
            raise FailedPrecondition(f"job {job_id!r} already {common_pb2.JobState.Name(job.state)}")
        with self._lock:
            ctx = self._contexts.get(job_id)
            future = self._futures.get(job_id)
        if ctx is None:
            self._jobs.setdefault(job_id, job)
            self._finish(job_id, common_pb2.JOB_STATE_CANCELLED, error=("CANCELLED", "cancelled on request"))
        else:
            ctx._cancel.set()
            if future is not None and future.cancel():  # still queued on the pool: never started
                self._finish(job_id, common_pb2.JOB_STATE_CANCELLED, error=("CANCELLED", "cancelled on request"))
        return self.get(job_id)

    def shutdown(self) -> None:
        """Interrupt running jobs at their next progress report and drop queued ones from the
        pool; their records stay QUEUED, so the next process's :meth:`resume` runs them."""
        with self._lock:
            contexts = list(self._contexts.values())
            futures = list(self._futures.values())
        for ctx in contexts:
            ctx._interrupt.set()
        for future in futures:
            future.cancel()

    def _wake(self, job_id: str) -> None:
        with self._lock:
            waiters = list(self._waiters.get(job_id, ()))
        for loop, event in waiters:
            loop.call_soon_threadsafe(event.set)

    async def watch(self, job_id: str, poll_s: float = 2.0) -> AsyncIterator[common_pb2.Job]:
        """Yield the job now and after every change, until a terminal state.

        Changes made in this process wake the watcher at once; ``poll_s`` also re-reads the
        store so a job run by another replica is followed too.
        """
        loop, event = asyncio.get_running_loop(), asyncio.Event()
        key = (loop, event)
        with self._lock:
            self._waiters.setdefault(job_id, set()).add(key)
        try:
            last: bytes | None = None
            while True:
                event.clear()
                job = self.get(job_id)
                snapshot = job.SerializeToString(deterministic=True)
                if snapshot != last:
                    last = snapshot
                    yield job
                if job.state in TERMINAL_STATES:
                    return
                try:
                    await asyncio.wait_for(event.wait(), poll_s)
                except TimeoutError:
                    pass  # re-read below: another replica may have moved the job on
        finally:
            with self._lock:
                self._waiters.get(job_id, set()).discard(key)

    def wait(self, job_id: str, timeout_s: float | None = None) -> common_pb2.Job:
        """Block until the job (run in this process) ends; for tests and CLIs."""
        with self._lock:
            future = self._futures.get(job_id)
        if future is not None:
            future.result(timeout=timeout_s)
        return self.get(job_id)

    def counts(self) -> dict[int, int]:
        with self._lock:
            out: dict[int, int] = {}
            for job in self._jobs.values():
                out[job.state] = out.get(job.state, 0) + 1
        return out
