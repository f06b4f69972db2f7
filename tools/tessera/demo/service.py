"""The reference service: a request event in, a job per event, inference, artifacts and an event out.

Consumes ``tessera.reference.classify.requested`` (data: ``{"input": ArtifactRef, "model": name}``
where the input is a float32 .npy of shape (N, 1, 28, 28)); each event becomes job
``reference.classify`` with an id derived from the event id, so a replayed event never runs twice.
The job reads the input (SHA-256 checked), runs the model through Triton (or onnxruntime
in-process), writes ``results/reference/<job id>/logits.npy`` and publishes
``tessera.reference.classify.completed`` with the result's ref. Run: ``python -m tessera.demo.service``.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import threading
from typing import Any

import numpy as np

from tessera.core.artifacts.factory import open_uri
from tessera.core.errors import FieldViolation, InvalidArgument
from tessera.core.events import Event, artifact_ref_json, topic_name
from tessera.core.jobs import JobContext
from tessera.core.runtime import ServiceRuntime
from tessera.core.settings import TesseraSettings, load_settings
from tessera.v1 import common_pb2

REQUESTED = topic_name("reference", "classify.requested")
COMPLETED = topic_name("reference", "classify.completed")
COMPLETED_TYPE = "tessera.reference.classify.completed"
JOB_KIND = "reference.classify"
NPY_MEDIA_TYPE = "application/x-npy"


class ReferenceSettings(TesseraSettings):
    service_name: str = "reference"


def job_id_for(event_id: str) -> str:
    """Deterministic job id from an event id (safe as a key segment whatever the id holds)."""
    return "cls-" + hashlib.sha256(event_id.encode()).hexdigest()[:32]


def parse_request(data: Any) -> tuple[common_pb2.ArtifactRef, str]:
    """Validate request data: ``input`` must be a full artifact ref, ``model`` a model name."""
    if not isinstance(data, dict):
        raise InvalidArgument.field("data", "must be a JSON object")
    problems: list[FieldViolation] = []
    ref = data.get("input")
    if not isinstance(ref, dict):
        problems.append(FieldViolation("input", "must be an artifact ref {uri, sha256, size, media_type}"))
    else:
        for key in ("uri", "sha256"):
            if not isinstance(ref.get(key), str) or not ref.get(key):
                problems.append(FieldViolation(f"input.{key}", "must be a non-empty string"))
    model = data.get("model")
    if not isinstance(model, str) or not model:
        problems.append(FieldViolation("model", "must be a non-empty model name"))
    if problems:
        raise InvalidArgument(problems)
    assert isinstance(ref, dict) and isinstance(model, str)
    return common_pb2.ArtifactRef(uri=ref["uri"], sha256=ref["sha256"], size=int(ref.get("size", 0)),
                                  media_type=str(ref.get("media_type", NPY_MEDIA_TYPE))), model


class ReferenceWorker:
    def __init__(self, runtime: ServiceRuntime):
        self.runtime = runtime
        self._load_lock = threading.Lock()
        runtime.jobs.register(JOB_KIND, self.classify)

    def on_requested(self, event: Event) -> None:
        """Event handler: the effect is a durable job record, then the offset may be committed."""
        ref, model = parse_request(event.get_data())
        self.runtime.jobs.submit(JOB_KIND, [ref], job_id=job_id_for(event.get_id()),
                                 labels={"model": model, "event_id": event.get_id()})

    def classify(self, ctx: JobContext) -> list[common_pb2.ArtifactRef]:
        rt, model = self.runtime, ctx.job.labels["model"]
        ref = ctx.job.inputs[0]
        raw = b"".join(open_uri(ref.uri, rt.settings, expected_sha256=ref.sha256))
        images = np.load(io.BytesIO(raw), allow_pickle=False)
        ctx.progress(0.25, f"read {images.shape} from {ref.uri}")
        with self._load_lock:
            if not rt.inference.ready(model):
                rt.inference.load(model)
        ctx.progress(0.5, f"model {model} ready")
        logits = rt.inference.infer(model, {"image": images.astype(np.float32, copy=False)})["logits"]
        ctx.progress(0.75, f"inferred {len(logits)} images")
        buffer = io.BytesIO()
        np.save(buffer, logits, allow_pickle=False)
        info = rt.store.put_bytes(f"results/reference/{ctx.job_id}/logits.npy", buffer.getvalue(),
                                  media_type=NPY_MEDIA_TYPE)
        if rt.publisher is not None:
            rt.publisher.publish(
                COMPLETED, COMPLETED_TYPE, {"job_id": ctx.job_id, "input": artifact_ref_json(ref),
                                            "result": artifact_ref_json(info), "model": model},
                key=ctx.job_id, event_id=f"{ctx.job_id}-completed",
            )
        return [info.to_proto()]


def main() -> None:
    runtime = ServiceRuntime(load_settings(ReferenceSettings))
    worker = ReferenceWorker(runtime)
    runtime.consume("reference", [REQUESTED], worker.on_requested)
    asyncio.run(runtime.serve())


if __name__ == "__main__":
    main()
