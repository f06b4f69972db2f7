"""Job records persisted in the artifact store, one JSON document per job.

Key layout: ``jobs/<service>/<job id>.json``, the ``tessera.v1.Job`` message in proto3 JSON.
A record is rewritten on every state or progress change, so a restarted service finds each job
as it last was.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

from google.protobuf import json_format
from google.protobuf.timestamp_pb2 import Timestamp

from tessera.core.artifacts.base import ArtifactStore
from tessera.core.errors import InvalidArgument, NotFound
from tessera.v1 import common_pb2

Job = common_pb2.Job
JobState = common_pb2.JobState
TERMINAL_STATES = frozenset(
    {common_pb2.JOB_STATE_SUCCEEDED, common_pb2.JOB_STATE_FAILED, common_pb2.JOB_STATE_CANCELLED}
)
ACTIVE_STATES = frozenset({common_pb2.JOB_STATE_QUEUED, common_pb2.JOB_STATE_RUNNING})
_JOB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def new_job_id() -> str:
    return uuid.uuid4().hex


def validate_job_id(job_id: str, field: str = "id") -> str:
    if not job_id:
        raise InvalidArgument.field(field, "must not be empty")
    if not _JOB_ID.match(job_id):
        raise InvalidArgument.field(field, "must be 1-128 characters of [A-Za-z0-9._-], starting alphanumeric")
    return job_id


def now() -> Timestamp:
    ts = Timestamp()
    ts.GetCurrentTime()
    return ts


def state_name(state: int) -> str:
    return common_pb2.JobState.Name(state).removeprefix("JOB_STATE_")


class JobStore:
    """Reads and writes job records of one service in an :class:`ArtifactStore`."""

    def __init__(self, store: ArtifactStore, service: str):
        self.store = store
        self.prefix = f"jobs/{service}/"

    def _key(self, job_id: str) -> str:
        return f"{self.prefix}{validate_job_id(job_id)}.json"

    def save(self, job: common_pb2.Job) -> None:
        data = json_format.MessageToJson(job, preserving_proto_field_name=True).encode()
        self.store.put_bytes(self._key(job.id), data, media_type="application/json")

    def load(self, job_id: str) -> common_pb2.Job:
        try:
            data = self.store.get_bytes(self._key(job_id))
        except NotFound:
            raise NotFound(f"job {job_id!r} not found") from None
        return json_format.Parse(data, common_pb2.Job())

    def all(self) -> Iterator[common_pb2.Job]:
        for info in self.store.list(self.prefix):
            if info.key.endswith(".json"):
                yield json_format.Parse(self.store.get_bytes(info.key), common_pb2.Job())
