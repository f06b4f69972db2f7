"""Compress through the real stack: a registered torch model (and a plain ONNX model for int8) is
compressed by the service process, the new version loads in the real Triton and answers exactly as
in-process onnxruntime, report/plot/event are stored and announced, and bad requests are named."""

from __future__ import annotations

import io
import json
import time

import grpc
import numpy as np
import pytest
import torch

from tessera.cli.up import RunningService
from tessera.compression.models import ResNetCNN
from tessera.compression.registry import InputSpec, ModelRegistry
from tessera.compression.reports import export_onnx
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

pytestmark = pytest.mark.integration
KWARGS = {"widths": [4, 8], "num_classes": 3}
SMALL = {"batch_size": 16, "latency_repeats": 2, "train_samples": 32, "eval_samples": 32}


@pytest.fixture(scope="module")
def names() -> dict[str, str]:
    stamp = time.time_ns()
    return {"torch": f"cmp-cnn-{stamp}", "onnx": f"cmp-onnx-{stamp}"}


@pytest.fixture(scope="module")
def dataset(store: ArtifactStore) -> compression_pb2.DatasetRef:
    rng = np.random.default_rng(0)
    buffer = io.BytesIO()
    np.savez(buffer, x=rng.normal(size=(32, 1, 28, 28)).astype(np.float32), y=rng.integers(0, 3, 32),
             x_test=rng.normal(size=(24, 1, 28, 28)).astype(np.float32), y_test=rng.integers(0, 3, 24))
    info = store.put_bytes(f"itest/compression-{time.time_ns()}/data.npz", buffer.getvalue())
    return compression_pb2.DatasetRef(uri=common_pb2.ArtifactRef(uri=info.uri, sha256=info.sha256))


@pytest.fixture(scope="module")
def registered(models: ModelRepository, names: dict[str, str]) -> dict[str, int]:
    torch.manual_seed(0)
    model = ResNetCNN(**KWARGS).eval()  # type: ignore[arg-type]
    registry = ModelRegistry(models)
    cnn = registry.register(names["torch"], model, "resnet_cnn", KWARGS, InputSpec((1, 28, 28), 3))
    plain = registry.register_onnx(names["onnx"], export_onnx(model, torch.zeros(1, 1, 28, 28)))
    return {"torch": cnn.version, "onnx": plain.version}


def _compress(service: RunningService, request: compression_pb2.CompressRequest) -> tuple[common_pb2.Job, list]:
    with grpc.insecure_channel(f"127.0.0.1:{service.grpc_port}") as channel:
        job = compression_pb2_grpc.CompressionStub(channel).Compress(request, timeout=60)
        updates = list(common_pb2_grpc.JobsStub(channel).WatchJob(common_pb2.WatchJobRequest(id=job.id), timeout=300))
    return updates[-1], updates


def _served_equals_in_process(dev_stack: DevStack, models: ModelRepository, name: str,
                              version: int) -> tuple[np.ndarray, np.ndarray]:
    """(input batch, Triton's output), after checking Triton's output equals in-process onnxruntime's."""
    assert dev_stack.triton is not None
    batch = {"input": np.random.default_rng(1).normal(size=(5, 1, 28, 28)).astype(np.float32)}
    with TritonBackend(dev_stack.triton.grpc_url, index_wait_s=30) as triton:
        triton.load(name, str(version))
        served = triton.infer(name, batch, str(version))["output"]
    local = OnnxRuntimeBackend(models).infer(name, batch, str(version))["output"]
    np.testing.assert_allclose(served, local, rtol=1e-5, atol=1e-6)
    return batch["input"], served


@pytest.mark.parametrize("method, config", [
    ("pwf", {"schedule": [0.5, 1.0], "first_epochs": 0.5, "epochs_per_round": 0.5}),
    ("magnitude", {"sparsity": 0.6, "finetune_epochs": 1, "then_quantize": {"bits": 8}}),
])
def test_compress_torch_model_served_by_triton(dev_stack: DevStack, service: RunningService, store: ArtifactStore,
                                               models: ModelRepository, names: dict[str, str],
                                               registered: dict[str, int], dataset: compression_pb2.DatasetRef,
                                               method: str, config: dict) -> None:
    output = f"{names['torch']}-{method}"
    final, updates = _compress(service, compression_pb2.CompressRequest(
        model=compression_pb2.ModelRef(name=names["torch"]), dataset=dataset, method=method_enum(method),
        config_json=json.dumps({**config, **SMALL}), output_model=output, seed=3))
    assert state_name(final.state) == "SUCCEEDED", final.error.message
    rounds = [json.loads(u.progress_message) for u in updates if u.progress_message.startswith("{")]
    assert rounds and rounds[-1]["round"] == rounds[-1]["rounds"]
    model_ref, report_ref, plot_ref = final.results
    assert model_ref.uri.endswith(f"{output}/1/model.onnx")
    report = json.loads(store.get_bytes(report_ref.uri.split("/", 3)[3]))
    assert report["output_model"] == {"name": output, "version": 1, "torch_registered": True}
    assert report["source_model"] == {"name": names["torch"], "version": registered["torch"]}
    assert report["compressed_bytes"] < report["fp32_bytes"]
    if method == "pwf":
        assert report["unique_values"] < 200 and report["rounds"][-1]["fixed_fraction"] == 1.0
    else:
        assert report["sparsity"] >= 0.59
    assert store.get_bytes(plot_ref.uri.split("/", 3)[3]).startswith(b"\x89PNG")
    inputs, served = _served_equals_in_process(dev_stack, models, output, 1)
    # The compressed torch model is itself registered: it rebuilds and computes what Triton serves.
    rebuilt, manifest = ModelRegistry(models).load(output, 1)
    assert manifest.architecture == "resnet_cnn"
    with torch.no_grad():
        np.testing.assert_allclose(rebuilt(torch.from_numpy(inputs)).numpy(), served, rtol=1e-4, atol=1e-4)
    events = [decode(r.headers, r.key, r.value).get_data()  # type: ignore[attr-defined]
              for _, r in read_topic(settings_for_stack(dev_stack), MODEL_COMPRESSED, want=1000, timeout_s=3)]
    mine = [e for e in events if isinstance(e, dict) and e.get("job_id") == final.id]
    assert len(mine) == 1 and mine[0]["output_model"] == {"name": output, "version": "1"}
    assert mine[0]["report"]["uri"] == report_ref.uri


def test_int8_of_a_plain_onnx_model_served_by_triton(dev_stack: DevStack, service: RunningService,
                                                     store: ArtifactStore, models: ModelRepository,
                                                     names: dict[str, str], registered: dict[str, int],
                                                     dataset: compression_pb2.DatasetRef) -> None:
    final, _ = _compress(service, compression_pb2.CompressRequest(
        model=compression_pb2.ModelRef(name=names["onnx"]), dataset=dataset, method=method_enum("int8"),
        config_json=json.dumps({**SMALL, "calibration_samples": 16})))
    assert state_name(final.state) == "SUCCEEDED", final.error.message
    output = f"{names['onnx']}-int8"
    version, onnx_bytes = models.model_bytes(output)
    assert b"QuantizeLinear" in onnx_bytes  # a real int8 QDQ graph, run by ONNX Runtime's int8 kernels
    report = json.loads(store.get_bytes(final.results[1].uri.split("/", 3)[3]))
    assert report["output_model"]["torch_registered"] is False
    assert report["encoded_bytes"] < report["fp32_bytes"] / 2
    _served_equals_in_process(dev_stack, models, output, version)


def test_bad_requests_name_the_field(service: RunningService, store: ArtifactStore, names: dict[str, str],
                                     registered: dict[str, int], dataset: compression_pb2.DatasetRef) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, x=np.zeros((4, 1, 32, 32), np.float32), y=np.zeros(4, np.int64))
    wrong = store.put_bytes(f"itest/compression-{time.time_ns()}/wrong.npz", buffer.getvalue())
    cases = [
        (names["torch"], "pwf", {"schedule": [0.6, 0.4, 1.0]}, dataset, "config.schedule"),
        (names["torch"], "magnitude", {"sparsity": 1.5}, dataset, "config.sparsity"),
        (names["torch"], "kmeans", {"train_samples": 0}, dataset, "config.train_samples"),
        (names["torch"], "pwf", {}, compression_pb2.DatasetRef(uri=common_pb2.ArtifactRef(uri=wrong.uri)),
         "dataset.x"),
        (names["torch"], "nm", {}, compression_pb2.DatasetRef(name="fashion-mnist"), "dataset.name"),
        (names["onnx"], "pwf", {}, dataset, "model.name"),
    ]
    with grpc.insecure_channel(f"127.0.0.1:{service.grpc_port}") as channel:
        stub = compression_pb2_grpc.CompressionStub(channel)
        for model, method, config, data, field in cases:
            with pytest.raises(grpc.RpcError) as err:
                stub.Compress(compression_pb2.CompressRequest(
                    model=compression_pb2.ModelRef(name=model), dataset=data, method=method_enum(method),
                    config_json=json.dumps(config)), timeout=60)
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, (field, err.value.details())
            assert field in [f for f, _ in field_violations(err.value)], (field, err.value.details())
