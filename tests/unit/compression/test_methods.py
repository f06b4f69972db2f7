"""Compress jobs in-process (local artifact store, real methods): publication, report, errors by field,
and a failed round that leaves the repository at its last good version."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import torch

from tessera.compression.methods import Int8Method, PWFMethod, available_methods, split_config
from tessera.compression.models import ResNetCNN
from tessera.compression.registry import InputSpec, ModelRegistry
from tessera.compression.reports import export_onnx, onnx_predict
from tessera.compression.settings import CompressionSettings
from tessera.compression.worker import CompressionWorker, RoundCallback, method_enum
from tessera.core.errors import InvalidArgument
from tessera.core.jobs import state_name
from tessera.core.runtime import ServiceRuntime
from tessera.core.settings import load_settings
from tessera.v1 import common_pb2, compression_pb2

KWARGS = {"widths": [4, 8], "num_classes": 3}
SMALL = {"batch_size": 16, "latency_repeats": 1, "train_samples": 32, "eval_samples": 16}


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceRuntime]:
    root = tmp_path_factory.mktemp("cmp-store")
    runtime = ServiceRuntime(load_settings(CompressionSettings, artifacts_uri=f"file://{root}", kafka_bootstrap=None),
                             configure_logs=False)
    torch.manual_seed(0)
    model = ResNetCNN(**KWARGS).eval()  # type: ignore[arg-type]
    registry = ModelRegistry(runtime.models)
    registry.register("cnn", model, "resnet_cnn", KWARGS, InputSpec((1, 28, 28), 3))
    registry.register_onnx("plain", export_onnx(model, torch.zeros(1, 1, 28, 28)))
    yield runtime
    runtime.jobs.shutdown()


def _npz(runtime: ServiceRuntime, key: str, **arrays: np.ndarray) -> compression_pb2.DatasetRef:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    info = runtime.store.put_bytes(key, buffer.getvalue())
    return compression_pb2.DatasetRef(uri=common_pb2.ArtifactRef(uri=info.uri))


@pytest.fixture(scope="module")
def dataset(runtime: ServiceRuntime) -> compression_pb2.DatasetRef:
    rng = np.random.default_rng(0)
    return _npz(runtime, "data/good.npz", x=rng.normal(size=(32, 1, 28, 28)).astype(np.float32),
                y=rng.integers(0, 3, 32))


def _request(model: str, method: str, config: dict[str, Any], dataset: compression_pb2.DatasetRef,
             output: str = "") -> compression_pb2.CompressRequest:
    return compression_pb2.CompressRequest(model=compression_pb2.ModelRef(name=model), method=method_enum(method),
                                           config_json=json.dumps(config), dataset=dataset, output_model=output)


def _run(worker: CompressionWorker, request: compression_pb2.CompressRequest) -> common_pb2.Job:
    job = worker.start(request)
    return worker.runtime.jobs.wait(job.id, timeout_s=120)


@pytest.mark.parametrize("method, config, torch_registered", [
    ("nm", {"finetune_epochs": 0}, True),
    ("kmeans", {"clusters": 6, "finetune_epochs": 1}, True),
    ("int8", {"bits": 4}, True),  # fake-quant: weights on a 4-bit grid in an fp32 graph
    ("channel", {"amount": 0.25, "finetune_epochs": 0}, False),  # physically smaller: ONNX only
])
def test_methods_publish_a_version_with_report(runtime: ServiceRuntime, dataset: compression_pb2.DatasetRef,
                                               method: str, config: dict[str, Any], torch_registered: bool) -> None:
    worker = CompressionWorker(runtime, available_methods())
    job = _run(worker, _request("cnn", method, {**config, **SMALL}, dataset))
    assert state_name(job.state) == "SUCCEEDED", job.error.message
    report = _report(runtime, job)
    name = f"cnn-{method}"
    assert report["output_model"] == {"name": name, "version": 1, "torch_registered": torch_registered}
    assert report["rounds"] and report["rounds"][-1]["round"] == report["rounds"][-1]["rounds"]
    assert 0.0 <= report["accuracy"] <= 1.0 and report["baseline"]["method"] == "fp32 source"
    if method == "kmeans":
        assert report["unique_values"] <= 6
    if method == "nm":
        assert report["sparsity"] == pytest.approx(0.5, abs=0.02)
    if method == "int8":
        assert max(report["unique_values_per_layer"].values()) <= 16 * 8  # <= 2^4 values per output channel
    _, onnx_bytes = runtime.models.model_bytes(name)
    batch = np.random.default_rng(2).normal(size=(3, 1, 28, 28)).astype(np.float32)
    if torch_registered:
        rebuilt, _ = ModelRegistry(runtime.models).load(name)
        with torch.no_grad():
            np.testing.assert_allclose(onnx_predict(onnx_bytes, batch), rebuilt(torch.from_numpy(batch)).numpy(),
                                       rtol=1e-4, atol=1e-4)


def test_int8_quantises_a_plain_onnx_model_with_onnxruntime(runtime: ServiceRuntime,
                                                            dataset: compression_pb2.DatasetRef) -> None:
    worker = CompressionWorker(runtime, available_methods())
    job = _run(worker, _request("plain", "int8", {**SMALL, "calibration_samples": 16}, dataset))
    assert state_name(job.state) == "SUCCEEDED", job.error.message
    _, onnx_bytes = runtime.models.model_bytes("plain-int8")
    assert b"DequantizeLinear" in onnx_bytes
    report = _report(runtime, job)
    assert report["structure"] == "onnx" and report["encoded_bytes"] < report["fp32_bytes"] / 2


def _report(runtime: ServiceRuntime, job: common_pb2.Job) -> dict[str, Any]:
    key = job.results[1].uri.removeprefix(runtime.store.root_uri.rstrip("/") + "/")
    return dict(json.loads(runtime.store.get_bytes(key)))


def _fields(error: pytest.ExceptionInfo[InvalidArgument]) -> list[str]:
    return [v.field for v in error.value.violations]


def test_bad_configs_and_inputs_name_the_field(runtime: ServiceRuntime, dataset: compression_pb2.DatasetRef) -> None:
    worker = CompressionWorker(runtime, available_methods())
    cases: list[tuple[str, str, dict[str, Any], compression_pb2.DatasetRef, str]] = [
        ("cnn", "pwf", {"schedule": [0.5, 0.4, 1.0]}, dataset, "config.schedule"),
        ("cnn", "gmp", {"initial_sparsity": 0.5, "final_sparsity": 0.2}, dataset, "config.final_sparsity"),
        ("cnn", "magnitude", {"then_quantize": {"bits": 12}}, dataset, "config.then_quantize.bits"),
        ("cnn", "int8", {"bits": 4, "engine": "onnxruntime"}, dataset, "config.engine"),
        ("cnn", "nm", {"batch_size": 0}, dataset, "config.batch_size"),
        ("cnn", "nm", {"no_such_key": 1}, dataset, "config.no_such_key"),
        ("plain", "pwf", {}, dataset, "model.name"),
        ("plain", "int8", {"mode": "qat"}, dataset, "config.mode"),
        ("cnn", "nm", {}, compression_pb2.DatasetRef(), "dataset"),
        ("cnn", "nm", {}, compression_pb2.DatasetRef(name="cifar"), "dataset.name"),
        ("cnn", "nm", {}, compression_pb2.DatasetRef(name="mnist"), "dataset.name"),  # 10 classes vs 3
        ("cnn", "nm", {}, compression_pb2.DatasetRef(name="mnist", split="val"), "dataset.split"),
        ("cnn", "nm", {}, compression_pb2.DatasetRef(uri=common_pb2.ArtifactRef(uri=runtime.store.uri_for("nope"))),
         "dataset.uri"),
        ("cnn", "nm", {}, _npz(runtime, "data/small.npz", x=np.zeros((2, 1, 14, 14), np.float32), y=np.zeros(2, int)),
         "dataset.x"),
        ("cnn", "nm", {}, _npz(runtime, "data/labels.npz", x=np.zeros((2, 1, 28, 28), np.float32),
                               y=np.array([0, 7])), "dataset.y"),
        ("cnn", "nm", {}, _npz(runtime, "data/nolabels.npz", x=np.zeros((2, 28, 28), np.float32)), "dataset.y"),
    ]
    for model, method, config, data, field in cases:
        with pytest.raises(InvalidArgument) as err:
            worker.start(_request(model, method, config, data))
        assert field in _fields(err), (field, err.value)
    options, own, extras = split_config({"train_samples": 8, "sparsity": 0.2, "then_quantize": {}}, ("then_quantize",))
    assert options.train_samples == 8 and own == {"sparsity": 0.2} and extras == {"then_quantize": {}}
    with pytest.raises(InvalidArgument) as err:
        Int8Method().validate_config({"engine": "tensorrt"})
    assert _fields(err) == ["config.engine"]


class FailsInRoundTwo(PWFMethod):
    """Real PWF whose second round fails (as a round that runs out of memory would)."""

    def run(self, prepared: Any, typed: Any, seed: int, on_round: RoundCallback) -> Any:
        def failing(progress: compression_pb2.RoundProgress) -> None:
            on_round(progress)
            if progress.round == 2:
                raise RuntimeError("round 2 failed")

        return super().run(prepared, typed, seed, failing)


def test_a_failed_round_leaves_the_last_good_version(runtime: ServiceRuntime,
                                                     dataset: compression_pb2.DatasetRef) -> None:
    config = {"schedule": [0.5, 0.8, 1.0], "first_epochs": 0.5, "epochs_per_round": 0.5, **SMALL}
    good = _run(CompressionWorker(runtime, {"pwf": PWFMethod()}), _request("cnn", "pwf", config, dataset, "cnn-q"))
    assert state_name(good.state) == "SUCCEEDED", good.error.message
    before = {info.key: info.sha256 for info in runtime.store.list("models/cnn-q/")}
    failed = _run(CompressionWorker(runtime, {"pwf": FailsInRoundTwo()}), _request("cnn", "pwf", config, dataset,
                                                                                    "cnn-q"))
    assert state_name(failed.state) == "FAILED" and "round 2 failed" in failed.error.message
    assert runtime.models.versions("cnn-q") == [1]
    assert {info.key: info.sha256 for info in runtime.store.list("models/cnn-q/")} == before
    assert json.loads(failed.progress_message)["round"] == 2  # progress got as far as the failing round


def test_every_method_of_the_api_is_wired() -> None:
    assert sorted(available_methods()) == sorted(["pwf", "kmeans", "int8", "magnitude", "gmp", "channel", "nm",
                                                  "movement", "lth"])


def test_policy_starts_one_job_per_matching_rule_and_never_twice(tmp_path_factory: pytest.TempPathFactory,
                                                                  dataset: compression_pb2.DatasetRef) -> None:
    from tessera.core.events.codec import make_event

    root = tmp_path_factory.mktemp("cmp-policy")
    rules = [{"model_prefix": "cn", "method": "nm", "config": {**SMALL, "finetune_epochs": 0},
              "dataset_uri": dataset.uri.uri}, {"model_prefix": "seg-", "method": "int8"}]
    runtime = ServiceRuntime(load_settings(CompressionSettings, artifacts_uri=f"file://{root}", kafka_bootstrap=None,
                                           compression_policy_json=json.dumps(rules)), configure_logs=False)
    torch.manual_seed(0)
    ModelRegistry(runtime.models).register("cnn", ResNetCNN(**KWARGS), "resnet_cnn", KWARGS,  # type: ignore[arg-type]
                                           InputSpec((1, 28, 28), 3), announce=False)
    worker = CompressionWorker(runtime, available_methods())
    event = make_event("tessera.model.registered", "/tests", {"name": "cnn", "version": "1"}, event_id="ev-1")
    worker.on_model_registered(event)
    worker.on_model_registered(event)  # a replay
    assert sum(runtime.jobs.counts().values()) == 1  # one rule matched, once
    job_id = "cmp-" + hashlib.sha256(b"ev-1:0").hexdigest()[:24]
    job = runtime.jobs.wait(job_id, timeout_s=120)
    assert job.labels["method"] == "nm" and state_name(job.state) == "SUCCEEDED", job.error.message
    assert runtime.models.versions("cnn-nm") == [1]
    runtime.jobs.shutdown()
