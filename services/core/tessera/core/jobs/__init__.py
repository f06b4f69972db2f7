"""Jobs: restart-safe records of long work, with progress, cancellation and a gRPC servicer."""

from tessera.core.jobs.manager import (
    JobCancelled,
    JobContext,
    JobFunction,
    JobInterrupted,
    JobManager,
)
from tessera.core.jobs.records import JobStore, state_name
from tessera.core.jobs.servicer import JobsServicer

__all__ = [
    "JobCancelled",
    "JobContext",
    "JobFunction",
    "JobInterrupted",
    "JobManager",
    "JobStore",
    "JobsServicer",
    "state_name",
]
