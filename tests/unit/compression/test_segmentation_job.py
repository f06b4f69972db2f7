"""Compress jobs on ONNX 3D segmentation networks in-process (local artifact store, real int8/k-means): NPZ and
NIfTI-manifest dataset refs, the Dice report, bad input by field, and the segmentation policy rule."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
from collections.abc import Iterator

import nibabel as nib
import numpy as np
import pytest
import torch

from tessera.compression.methods import available_methods
from tessera.compression.models import ResNetCNN
from tessera.compression.onnx_segmentation import is_segmentation_onnx
from tessera.compression.registry import InputSpec, ModelRegistry
from tessera.compression.reports import export_onnx, onnx_predict
from tessera.compression.settings import CompressionSettings
from tessera.compression.worker import CompressionWorker, method_enum
from tessera.core.errors import InvalidArgument
from tessera.core.events.codec import make_event
from tessera.core.jobs import state_name
from tessera.core.runtime import ServiceRuntime
from tessera.core.settings import load_settings
from tessera.v1 import common_pb2, compression_pb2
from tests.threshold_segmenter import GRID, threshold_segmenter, threshold_volumes


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceRuntime]:
    root = tmp_path_factory.mktemp("cmp-seg-store")
    runtime = ServiceRuntime(load_settings(CompressionSettings, artifacts_uri=f"file://{root}", kafka_bootstrap=None),
                             configure_logs=False)
    ModelRegistry(runtime.models).register_onnx("seg", export_onnx(threshold_segmenter(), torch.zeros(1, 1, *GRID)),
                                                announce=False)
    yield runtime
    runtime.jobs.shutdown()


@pytest.fixture(scope="module")
def worker(runtime: ServiceRuntime) -> CompressionWorker:
    return CompressionWorker(runtime, available_methods())


def _npz_ref(runtime: ServiceRuntime, key: str, **arrays: np.ndarray) -> compression_pb2.DatasetRef:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    info = runtime.store.put_bytes(key, buffer.getvalue())
    return compression_pb2.DatasetRef(uri=common_pb2.ArtifactRef(uri=info.uri, sha256=info.sha256))


def _request(method: str, dataset: compression_pb2.DatasetRef, config: dict | None = None,
             model: str = "seg") -> compression_pb2.CompressRequest:
    return compression_pb2.CompressRequest(model=compression_pb2.ModelRef(name=model), dataset=dataset,
                                           method=method_enum(method), config_json=json.dumps(config or {}))


def test_int8_job_reports_dice_and_publishes_a_version(runtime: ServiceRuntime, worker: CompressionWorker) -> None:
    x, y = threshold_volumes()
    ref = _npz_ref(runtime, "seg/good.npz", x=x, y=y)
    job = runtime.jobs.wait(worker.start(_request("int8", ref, {"calibration_volumes": 2, "latency_repeats": 1})).id,
                            timeout_s=120)
    assert state_name(job.state) == "SUCCEEDED", job.error.message
    _, onnx_bytes = runtime.models.model_bytes("seg-int8")
    assert b"QuantizeLinear" in onnx_bytes and is_segmentation_onnx(onnx_bytes)
    report = json.loads(runtime.store.get_bytes(job.results[1].uri.split(f"{runtime.store.root_uri}/", 1)[1]))
    assert report["task"] == "segmentation" and report["metric"] == "dice" and report["classes"] == 3
    assert report["baseline_dice_per_class"][0] > 0.97 and report["dice_retained"] >= 0.9
    assert report["accuracy"] == pytest.approx(np.mean(report["dice_per_class"][1:]))
    assert report["compressed_bytes"] < report["fp32_bytes"]
    labels = onnx_predict(onnx_bytes, x[:1]).argmax(axis=1)
    assert (labels == y[:1]).mean() > 0.9


def test_kmeans_job_on_a_nifti_manifest(runtime: ServiceRuntime, worker: CompressionWorker) -> None:
    x, y = threshold_volumes(2)
    pairs = []
    for index in range(2):
        for kind, array in (("image", x[index, 0]), ("label", y[index].astype(np.int16))):
            data = gzip.compress(nib.Nifti1Image(array, np.eye(4)).to_bytes())
            runtime.store.put_bytes(f"seg/nifti/{kind}-{index}.nii.gz", data)
        pairs.append({"image": f"image-{index}.nii.gz", "label": f"label-{index}.nii.gz"})  # relative URIs
    manifest = runtime.store.put_bytes("seg/nifti/pairs.json", json.dumps({"pairs": pairs}).encode())
    ref = compression_pb2.DatasetRef(uri=common_pb2.ArtifactRef(uri=manifest.uri))
    job = runtime.jobs.wait(worker.start(_request("kmeans", ref, {"clusters": 8, "latency_repeats": 1})).id,
                            timeout_s=120)
    assert state_name(job.state) == "SUCCEEDED", job.error.message
    report = json.loads(runtime.store.get_bytes(job.results[1].uri.split(f"{runtime.store.root_uri}/", 1)[1]))
    assert report["unique_values"] <= 8 and report["info"]["volumes"] == 2
    assert 0.0 <= report["dice_retained"] <= 1.5


def _field(worker: CompressionWorker, request: compression_pb2.CompressRequest) -> list[str]:
    with pytest.raises(InvalidArgument) as err:
        worker.start(request)
    return [violation.field for violation in err.value.violations]


def test_bad_input_names_the_field(runtime: ServiceRuntime, worker: CompressionWorker) -> None:
    x, y = threshold_volumes(2)
    good = _npz_ref(runtime, "seg/good2.npz", x=x, y=y)
    assert "dataset.y" in _field(worker, _request("int8", _npz_ref(runtime, "seg/nolabels.npz", x=x)))
    assert "dataset.x" in _field(worker, _request("int8", _npz_ref(runtime, "seg/2ch.npz",
                                                                   x=np.concatenate([x, x], 1), y=y)))
    assert "dataset.x" in _field(worker, _request("int8", _npz_ref(runtime, "seg/grid.npz", x=x[:, :, :4],
                                                                   y=y[:, :4])))
    assert "dataset.y" in _field(worker, _request("int8", _npz_ref(runtime, "seg/classes.npz", x=x, y=y + 3)))
    assert "method" in _field(worker, _request("pwf", good))
    assert "method" in _field(worker, _request("magnitude", good, {"sparsity": 0.5}))
    assert "config.clusters" in _field(worker, _request("kmeans", good, {"clusters": 1}))
    assert "config.extra_inputs" in _field(worker, _request("int8", good, {"extra_inputs": {"flags": 1.0}}))
    assert "dataset.name" in _field(worker, _request("int8", compression_pb2.DatasetRef(name="mnist")))
    manifest = runtime.store.put_bytes("seg/bad.json", json.dumps({"pairs": [{"image": "a.nii"}]}).encode())
    assert "dataset.pairs[0].label" in _field(worker, _request(
        "int8", compression_pb2.DatasetRef(uri=common_pb2.ArtifactRef(uri=manifest.uri))))


def test_policy_compresses_a_new_segmentation_model_with_int8(runtime: ServiceRuntime,
                                                              tmp_path_factory: pytest.TempPathFactory) -> None:
    x, y = threshold_volumes(2)
    ref = _npz_ref(runtime, "seg/policy.npz", x=x, y=y)
    rules = [{"model_prefix": "seg", "task": "segmentation", "dataset_uri": ref.uri.uri,
              "config": {"calibration_volumes": 2, "latency_repeats": 1}}]  # no method: int8
    root = tmp_path_factory.mktemp("cmp-seg-policy")
    policy_runtime = ServiceRuntime(load_settings(CompressionSettings, artifacts_uri=f"file://{root}",
                                                  kafka_bootstrap=None, compression_policy_json=json.dumps(rules)),
                                    configure_logs=False)
    registry = ModelRegistry(policy_runtime.models)
    registry.register_onnx("segnet", export_onnx(threshold_segmenter(), torch.zeros(1, 1, *GRID)), announce=False)
    torch.manual_seed(0)
    kwargs = {"widths": [4, 8], "num_classes": 3}
    registry.register("segcnn", ResNetCNN(**kwargs), "resnet_cnn", kwargs,  # type: ignore[arg-type]
                      InputSpec((1, 28, 28), 3), announce=False)
    policy_worker = CompressionWorker(policy_runtime, available_methods())
    # No task in the data: the worker reads it off the models (5-D input and output or not).
    for name in ("segnet", "segcnn"):
        policy_worker.on_model_registered(make_event("tessera.model.registered", "/tests",
                                                     {"name": name, "version": "1"}, event_id=f"ev-{name}"))
    policy_worker.on_model_registered(make_event("tessera.model.registered", "/tests",  # says its task itself
                                                 {"name": "segcnn", "version": "1", "task": "classification"},
                                                 event_id="ev-segcnn-2"))
    assert sum(policy_runtime.jobs.counts().values()) == 1  # the segmentation network only
    job = policy_runtime.jobs.wait("cmp-" + hashlib.sha256(b"ev-segnet:0").hexdigest()[:24], timeout_s=120)
    assert job.labels["method"] == "int8" and state_name(job.state) == "SUCCEEDED", job.error.message
    assert policy_runtime.models.versions("segnet-int8") == [1]
    policy_runtime.jobs.shutdown()
