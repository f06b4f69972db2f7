"""Drive the reference pipeline end to end against a running stack and report what happened.

Publishes the reference CNN to the model repository, starts the reference service, uploads
request inputs to S3, sends request events (plus one poison record and one invalid request, to
show the dead-letter path, and one request whose input is missing, to show a failed job),
collects the completion events, follows one job over gRPC, and checks every result against
PyTorch eager on the same inputs.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import numpy as np
import torch
from kafka import KafkaConsumer

from tessera.cli.up import RunningService, start_services
from tessera.core.artifacts.factory import open_store, open_uri
from tessera.core.events import EventPublisher, artifact_ref_json, decode, dlq_topic
from tessera.core.inference import ModelRepository
from tessera.core.jobs import state_name
from tessera.core.settings import TesseraSettings, load_settings
from tessera.demo.model import INPUT_SHAPE, export_onnx, reference_cnn
from tessera.demo.service import COMPLETED, NPY_MEDIA_TYPE, REQUESTED, job_id_for
from tessera.devstack import DevStack
from tessera.v1 import common_pb2, common_pb2_grpc

MODEL_NAME = "reference-cnn"
DATA_NOTE = "synthetic 28x28 images (seeded uniform noise); the reference CNN has seeded random weights"


@dataclass
class PipelineReport:
    requests: int = 0
    completed: int = 0
    latencies_s: list[float] = field(default_factory=list)
    max_abs_diff: float = float("nan")
    watched_states: list[str] = field(default_factory=list)
    watched_progress: list[float] = field(default_factory=list)
    dead_letters: list[dict[str, str]] = field(default_factory=list)
    failed_job: common_pb2.Job | None = None
    model_version: int = 0
    service: str = ""
    backend: str = ""

    def lines(self) -> list[str]:
        lat = np.array(self.latencies_s) * 1e3 if self.latencies_s else np.array([np.nan])
        failed = self.failed_job
        return [
            f"data: {DATA_NOTE}",
            f"model: {MODEL_NAME} v{self.model_version} served by {self.backend}",
            f"service: {self.service}",
            f"requests completed: {self.completed}/{self.requests}",
            f"request event -> completed event, ms: p50 {np.percentile(lat, 50):.1f}  max {lat.max():.1f}"
            " (cold: includes the service joining its group and Triton loading the model)",
            f"results vs PyTorch eager: max |diff| = {self.max_abs_diff:.2e}",
            f"one job over WatchJob: {' -> '.join(dict.fromkeys(self.watched_states))}"
            f" (progress {', '.join(f'{p:.2f}' for p in self.watched_progress)})",
            "missing input -> job " + (f"{state_name(failed.state)} ({failed.error.code}: {failed.error.message[:80]})"
                                       if failed else "not seen"),
            f"dead letters: {len(self.dead_letters)}",
            *[f"  - {d['reason']}: {d['error'][:100]}" for d in self.dead_letters],
        ]


def settings_for_stack(stack: DevStack) -> TesseraSettings:
    overrides = {k.removeprefix("TESSERA_").lower(): v for k, v in stack.env().items()}
    return load_settings(TesseraSettings, service_name="demo-driver", **overrides)


def read_topic(settings: TesseraSettings, topic: str, want: int, timeout_s: float) -> list[tuple[float, object]]:
    """Read ``want`` records of ``topic`` from the start (no group); returns (receive time, record)."""
    consumer = KafkaConsumer(topic, bootstrap_servers=settings.kafka_bootstrap, group_id=None,
                             auto_offset_reset="earliest", enable_auto_commit=False, consumer_timeout_ms=500)
    out: list[tuple[float, object]] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(out) < want and time.monotonic() < deadline:
            for record in consumer:
                out.append((time.monotonic(), record))
                if len(out) >= want:
                    break
    finally:
        consumer.close()
    return out


def run_pipeline(stack: DevStack, log_dir: Path, n_requests: int = 6, batch: int = 4) -> PipelineReport:
    settings = settings_for_stack(stack)
    store = open_store(settings)
    report = PipelineReport(requests=n_requests, backend=f"Triton at {settings.triton_url}"
                            if settings.triton_url else "onnxruntime in-process")
    model = reference_cnn()
    published = ModelRepository(store, settings.model_repository_prefix).publish(MODEL_NAME, export_onnx(model))
    report.model_version = int(published.version)

    services: list[RunningService] = start_services(stack, log_dir, only=["reference"])
    try:
        svc = services[0]
        report.service = f"reference on 127.0.0.1:{svc.grpc_port} (metrics :{svc.metrics_port})"
        rng = np.random.default_rng(0)
        inputs: dict[str, np.ndarray] = {}
        sent_at: dict[str, float] = {}
        with EventPublisher(settings, source="/tessera/demo") as publisher:
            for i in range(n_requests):
                images = rng.random((batch, *INPUT_SHAPE), dtype=np.float32)
                buffer = io.BytesIO()
                np.save(buffer, images, allow_pickle=False)
                info = store.put_bytes(f"inputs/demo/request-{i}.npy", buffer.getvalue(), media_type=NPY_MEDIA_TYPE)
                event_id = f"demo-request-{i}-{info.sha256[:12]}"
                inputs[job_id_for(event_id)] = images
                sent_at[job_id_for(event_id)] = time.monotonic()
                publisher.publish(REQUESTED, "tessera.reference.classify.requested",
                                  {"input": artifact_ref_json(info), "model": MODEL_NAME},
                                  key=f"request-{i}", event_id=event_id)
            missing = {"uri": store.uri_for("inputs/demo/missing.npy"), "sha256": "0" * 64, "size": 1,
                       "media_type": NPY_MEDIA_TYPE}
            publisher.publish(REQUESTED, "tessera.reference.classify.requested",
                              {"input": missing, "model": MODEL_NAME}, event_id="demo-missing-input")
            publisher.publish(REQUESTED, "tessera.reference.classify.requested", {"model": ""},
                              event_id="demo-invalid-request")
            publisher.send_record(REQUESTED, b"\x00 not a cloudevent", [])

        # Follow one job over gRPC while the pipeline runs.
        first_job = next(iter(inputs))
        with grpc.insecure_channel(f"127.0.0.1:{svc.grpc_port}") as channel:
            stub = common_pb2_grpc.JobsStub(channel)
            deadline = time.monotonic() + 120
            while True:
                try:
                    for job in stub.WatchJob(common_pb2.WatchJobRequest(id=first_job), timeout=120):
                        report.watched_states.append(state_name(job.state))
                        report.watched_progress.append(job.progress)
                    break
                except grpc.RpcError as err:  # the event may not have become a job yet
                    if err.code() != grpc.StatusCode.NOT_FOUND or time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)

        diffs = []
        for received_at, record in read_topic(settings, COMPLETED, n_requests, timeout_s=120):
            data = decode(record.headers, record.key, record.value).get_data()  # type: ignore[attr-defined]
            assert isinstance(data, dict), "completion events carry JSON objects"
            job_id = data["job_id"]
            report.latencies_s.append(received_at - sent_at[job_id])
            raw = b"".join(open_uri(data["result"]["uri"], settings, expected_sha256=data["result"]["sha256"]))
            logits = np.load(io.BytesIO(raw))
            with torch.no_grad():
                expected = model(torch.from_numpy(inputs[job_id])).numpy()
            diffs.append(float(np.abs(logits - expected).max()))
        report.completed = len(diffs)
        report.max_abs_diff = max(diffs) if diffs else float("nan")

        for _, record in read_topic(settings, dlq_topic(REQUESTED), 2, timeout_s=60):
            headers = {k: v.decode(errors="replace") for k, v in record.headers}  # type: ignore[attr-defined]
            report.dead_letters.append({"reason": headers.get("tessera_dlq_reason", "?"),
                                        "error": headers.get("tessera_error_message", "")})

        with grpc.insecure_channel(f"127.0.0.1:{svc.grpc_port}") as channel:
            stub = common_pb2_grpc.JobsStub(channel)
            for job in stub.WatchJob(common_pb2.WatchJobRequest(id=job_id_for("demo-missing-input")), timeout=60):
                report.failed_job = job
    finally:
        for svc in services:
            svc.process.stop()
    return report
