"""The whole platform end to end: the reference service on the real broker, S3 server and Triton."""

from __future__ import annotations

from pathlib import Path

from tessera.core.events import JOBS_TOPIC, decode
from tessera.core.jobs import state_name
from tessera.demo.pipeline import read_topic, run_pipeline, settings_for_stack
from tessera.demo.service import job_id_for
from tessera.devstack import DevStack
from tessera.v1 import common_pb2


def test_reference_pipeline_end_to_end(dev_stack: DevStack, tmp_path: Path) -> None:
    report = run_pipeline(dev_stack, tmp_path, n_requests=3, batch=2)

    assert report.completed == 3, report.lines()
    assert report.max_abs_diff < 1e-4, "Triton's results match PyTorch eager on the same inputs"
    assert report.backend.startswith("Triton")
    assert report.watched_states[-1] == "SUCCEEDED"
    assert report.watched_progress == sorted(report.watched_progress)
    assert report.failed_job is not None and state_name(report.failed_job.state) == "FAILED"
    assert report.failed_job.error.code == "NOT_FOUND"
    reasons = sorted(d["reason"] for d in report.dead_letters)
    assert reasons == ["handler-failed", "poison"]
    invalid = next(d for d in report.dead_letters if d["reason"] == "handler-failed")
    assert "model" in invalid["error"] and "input" in invalid["error"], "the DLQ record names the bad fields"

    # Every change of the failed job was announced on tessera.jobs, in order.
    settings = settings_for_stack(dev_stack)
    failed_id = job_id_for("demo-missing-input")
    states: list[str] = []
    for _, record in read_topic(settings, JOBS_TOPIC, want=10_000, timeout_s=10):
        event = decode(record.headers, record.key, record.value)  # type: ignore[attr-defined]
        job = common_pb2.Job.FromString(event.get_data())
        if job.id == failed_id:
            states.append(state_name(job.state))
            assert event.get_type() == "tessera.job.changed"
    assert states[0] == "QUEUED" and states[-1] == "FAILED", states
    assert "RUNNING" in states
