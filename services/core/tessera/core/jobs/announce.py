"""Announce job changes on Kafka topic ``tessera.jobs`` (type ``tessera.job.changed``, data: ``tessera.v1.Job``)."""

from __future__ import annotations

from tessera.core.events.producer import EventPublisher
from tessera.core.events.topics import JOBS_TOPIC
from tessera.core.jobs.manager import JobAnnouncer
from tessera.v1 import common_pb2

JOB_CHANGED_TYPE = "tessera.job.changed"


def kafka_announcer(publisher: EventPublisher) -> JobAnnouncer:
    """A :class:`JobManager` hook publishing every change, keyed by job id (so in order per job).

    Sends without waiting for the ack: the record in the artifact store is the source of truth,
    and a job's progress must not stall on the broker.
    """
    publisher.ensure([JOBS_TOPIC])

    def announce(job: common_pb2.Job) -> None:
        publisher.publish(
            JOBS_TOPIC, JOB_CHANGED_TYPE, job, key=job.id, subject=job.kind, wait=False,
            event_id=f"{job.id}@{job.updated_at.ToNanoseconds()}",
        )

    return announce
