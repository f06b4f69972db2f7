"""Compress an ONNX 3D segmentation network through the real stack: a tiny conv net (exported here) and
synthetic volumes with known labels go to S3, the service's Compress job quantises it to int8, reports
Dice, publishes the new version, which the real Triton loads and labels exactly as in-process
onnxruntime does; bad requests are named by field."""

from __future__ import annotations

import io
import json
import time

import grpc
import numpy as np
import pytest
import torch
from torch import nn

from tessera.cli.up import RunningService
from tessera.compression.registry import ModelRegistry
from tessera.compression.worker import MODEL_COMPRESSED, method_enum
from tessera.core.artifacts.base import ArtifactStore
from tessera.core.events import decode
from tessera.core.inference import ModelRepository
from tessera.core.inference.onnxruntime_backend import OnnxRuntimeBackend
from tessera.core.inference.triton_backend import TritonBackend
from tessera.core.jobs import state_name
from tessera.core.server import field_violations
from tessera.demo.pipeline import read_topic, settings_for_stack
from tessera.devstack import DevStack
from tessera.v1 import common_pb2, common_pb2_grpc, compression_pb2, compression_pb2_grpc
from tests.threshold_segmenter import GRID, threshold_segmenter, threshold_volumes

pytestmark = pytest.mark.integration

def _onnx(model: nn.Module) -> bytes:
    buffer = io.BytesIO()
    torch.onnx.export(model, (torch.zeros(1, 1, *GRID),), buffer, dynamo=False, input_names=["image"],
                      output_names=["logits"], dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}})
    return buffer.getvalue()


@pytest.fixture(scope="module")
def segmenter_name(models: ModelRepository) -> str:
    name = f"cmp-seg-{time.time_ns()}"
    ModelRegistry(models).register_onnx(name, _onnx(threshold_segmenter()), announce=False)
    return name


@pytest.fixture(scope="module")
def volumes() -> tuple[np.ndarray, np.ndarray]:
    return threshold_volumes(4)


def _npz_ref(store: ArtifactStore, name: str, **arrays: np.ndarray) -> compression_pb2.DatasetRef:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    info = store.put_bytes(f"itest/compression-seg-{time.time_ns()}/{name}", buffer.getvalue())
    return compression_pb2.DatasetRef(uri=common_pb2.ArtifactRef(uri=info.uri, sha256=info.sha256))


def test_int8_segmentation_job_served_by_triton(dev_stack: DevStack, service: RunningService, store: ArtifactStore,
                                                models: ModelRepository, segmenter_name: str,
                                                volumes: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = volumes
    request = compression_pb2.CompressRequest(
        model=compression_pb2.ModelRef(name=segmenter_name), dataset=_npz_ref(store, "volumes.npz", x=x, y=y),
        method=method_enum("int8"), config_json=json.dumps({"calibration_volumes": 4, "latency_repeats": 1}))
    with grpc.insecure_channel(f"127.0.0.1:{service.grpc_port}") as channel:
        job = compression_pb2_grpc.CompressionStub(channel).Compress(request, timeout=60)
        updates = list(common_pb2_grpc.JobsStub(channel).WatchJob(common_pb2.WatchJobRequest(id=job.id), timeout=120))
    final = updates[-1]
    assert state_name(final.state) == "SUCCEEDED", final.error.message
    rounds = [json.loads(u.progress_message) for u in updates if u.progress_message.startswith("{")]
    assert rounds and rounds[-1]["round"] == rounds[-1]["rounds"] == 1
    output = f"{segmenter_name}-int8"
    model_ref, report_ref, plot_ref = final.results
    assert model_ref.uri.endswith(f"{output}/1/model.onnx")
    report = json.loads(store.get_bytes(report_ref.uri.split("/", 3)[3]))
    assert report["metric"] == "dice" and report["classes"] == 3 and report["info"]["volumes"] == 4
    assert min(report["baseline_dice_per_class"]) > 0.97  # the net thresholds exactly as the labels do
    assert report["dice_retained"] >= 0.9 and report["accuracy"] >= 0.9 * report["baseline_accuracy"]
    assert report["compressed_bytes"] < report["fp32_bytes"]
    assert store.get_bytes(plot_ref.uri.split("/", 3)[3]).startswith(b"\x89PNG")
    # The new version loads in the real Triton and labels as in-process onnxruntime does.
    version, onnx_bytes = models.model_bytes(output)
    assert version == 1 and b"QuantizeLinear" in onnx_bytes
    assert dev_stack.triton is not None
    batch = {"image": x[:2]}
    with TritonBackend(dev_stack.triton.grpc_url, index_wait_s=30) as triton:
        triton.load(output, "1")
        served = triton.infer(output, batch, "1")["logits"]
    local = OnnxRuntimeBackend(models).infer(output, batch, "1")["logits"]
    assert served.shape == (2, 3, *GRID)
    np.testing.assert_allclose(served, local, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(served.argmax(axis=1), local.argmax(axis=1))
    assert (served.argmax(axis=1) == y[:2]).mean() > 0.9
    events = [decode(r.headers, r.key, r.value).get_data()  # type: ignore[attr-defined]
              for _, r in read_topic(settings_for_stack(dev_stack), MODEL_COMPRESSED, want=1000, timeout_s=3)]
    mine = [e for e in events if isinstance(e, dict) and e.get("job_id") == final.id]
    assert len(mine) == 1 and mine[0]["output_model"] == {"name": output, "version": "1"}
    assert mine[0]["accuracy"] == pytest.approx(report["accuracy"])


def test_bad_segmentation_requests_name_the_field(service: RunningService, store: ArtifactStore,
                                                  segmenter_name: str, volumes: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = volumes
    good = _npz_ref(store, "good.npz", x=x, y=y)
    cases = [
        ("int8", {}, _npz_ref(store, "nolabels.npz", x=x), "dataset.y"),
        ("int8", {}, _npz_ref(store, "channels.npz", x=np.concatenate([x, x], axis=1), y=y), "dataset.x"),
        ("pwf", {}, good, "method"),
        ("kmeans", {"clusters": 1}, good, "config.clusters"),
    ]
    with grpc.insecure_channel(f"127.0.0.1:{service.grpc_port}") as channel:
        stub = compression_pb2_grpc.CompressionStub(channel)
        for method, config, data, field in cases:
            with pytest.raises(grpc.RpcError) as err:
                stub.Compress(compression_pb2.CompressRequest(
                    model=compression_pb2.ModelRef(name=segmenter_name), dataset=data, method=method_enum(method),
                    config_json=json.dumps(config)), timeout=60)
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, (field, err.value.details())
            assert field in [f for f, _ in field_violations(err.value)], (field, err.value.details())
