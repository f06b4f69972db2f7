"""Jobs: progress streamed over WatchJob, cancellation, and records that survive a restart."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from tessera.core.jobs import state_name
from tessera.v1 import common_pb2, common_pb2_grpc
from tests.servers import running_service


def _watch(target: str, job_id: str) -> list[common_pb2.Job]:
    with grpc.insecure_channel(target) as channel:
        return list(common_pb2_grpc.JobsStub(channel).WatchJob(common_pb2.WatchJobRequest(id=job_id), timeout=30))


def test_watch_streams_progress_to_succeeded(tmp_path: Path) -> None:
    with running_service(tmp_path) as sut:
        job = sut.jobs.submit("test.steps", labels={"steps": "5", "step_s": "0.1"})
        updates = _watch(sut.target, job.id)
    states = [state_name(u.state) for u in updates]
    progress = [u.progress for u in updates]
    assert states[-1] == "SUCCEEDED"
    assert "RUNNING" in states
    assert progress == sorted(progress), "progress never goes backwards"
    assert len({p for p in progress if 0 < p < 1}) >= 3, f"intermediate progress streamed: {progress}"
    assert updates[-1].progress == 1.0


def test_resubmitting_the_same_job_id_runs_it_once(tmp_path: Path) -> None:
    with running_service(tmp_path) as sut:
        first = sut.jobs.submit("test.steps", job_id="evt-123", labels={"steps": "2", "step_s": "0.05"})
        second = sut.jobs.submit("test.steps", job_id="evt-123", labels={"steps": "9"})
        done = sut.jobs.wait(first.id, 10)
    assert second.created_at == first.created_at
    assert done.labels["steps"] == "2"


def test_unknown_kind_is_invalid_argument(tmp_path: Path) -> None:
    from tessera.core.errors import InvalidArgument

    with running_service(tmp_path) as sut, pytest.raises(InvalidArgument) as err:
        sut.jobs.submit("no.such.kind")
    assert err.value.violations[0].field == "kind"


def test_cancel_stops_a_running_job(tmp_path: Path) -> None:
    with running_service(tmp_path) as sut, grpc.insecure_channel(sut.target) as channel:
        stub = common_pb2_grpc.JobsStub(channel)
        job = sut.jobs.submit("test.steps", labels={"steps": "100", "step_s": "0.05"})
        stream = stub.WatchJob(common_pb2.WatchJobRequest(id=job.id), timeout=30)
        next(u for u in stream if u.progress > 0)
        stub.CancelJob(common_pb2.CancelJobRequest(id=job.id))
        final = list(stream)[-1]
        with pytest.raises(grpc.RpcError) as again:
            stub.CancelJob(common_pb2.CancelJobRequest(id=job.id))
    assert state_name(final.state) == "CANCELLED"
    assert final.progress < 1.0
    assert again.value.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_job_record_survives_restart_and_interrupted_job_resumes(tmp_path: Path) -> None:
    with running_service(tmp_path) as first:
        finished = first.jobs.submit("test.steps", labels={"steps": "1", "step_s": "0.01"})
        first.jobs.wait(finished.id, 10)
    # A record left RUNNING by a process that died mid-job (written as that process would have).
    with running_service(tmp_path) as crashed:
        interrupted = crashed.jobs.submit("test.steps", labels={"steps": "3", "step_s": "0.05"})
        crashed.jobs.wait(interrupted.id, 10)
        record = crashed.jobs.store.load(interrupted.id)
        record.state, record.progress = common_pb2.JOB_STATE_RUNNING, 0.33
        crashed.jobs.store.save(record)

    with running_service(tmp_path) as restarted, grpc.insecure_channel(restarted.target) as channel:
        stub = common_pb2_grpc.JobsStub(channel)
        survived = stub.GetJob(common_pb2.GetJobRequest(id=finished.id))
        assert restarted.jobs.resume() == [interrupted.id]
        resumed = _watch(restarted.target, interrupted.id)
    assert state_name(survived.state) == "SUCCEEDED"
    assert survived.created_at == finished.created_at
    assert state_name(resumed[-1].state) == "SUCCEEDED"
    assert resumed[-1].progress == 1.0
    assert resumed[-1].updated_at.ToNanoseconds() > record.updated_at.ToNanoseconds()
