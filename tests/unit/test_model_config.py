"""config.pbtxt generated from ONNX graphs (torch export and onnx.helper), checked by parsing it back."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper
from tritonclient.grpc import model_config_pb2

from tessera.core.artifacts.local import LocalArtifactStore
from tessera.core.errors import AlreadyExists, InvalidArgument, NotFound
from tessera.core.inference.model_config import config_from_onnx, config_tensor_specs, parse_config
from tessera.core.inference.onnxruntime_backend import OnnxRuntimeBackend
from tessera.core.inference.repository import ModelRepository


def torch_cnn_onnx() -> bytes:
    """A tiny conv net exported with a dynamic batch axis: input [N,3,8,8] float32 -> logits [N,5]."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(), torch.nn.Linear(4, 5),
    ).eval()
    buf: Any = io.BytesIO()  # torch types f as a path, but it writes to file objects too
    torch.onnx.export(net, (torch.randn(1, 3, 8, 8),), buf, input_names=["image"], output_names=["logits"],
                      dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}}, dynamo=False)
    return buf.getvalue()


def fixed_shape_onnx() -> bytes:
    """onnx.helper graph with fixed shapes and two typed inputs: a [2,3] float64 + b [2,3] float64 -> sum; idx int64."""
    graph = helper.make_graph(
        [helper.make_node("Add", ["a", "b"], ["sum"]), helper.make_node("ArgMax", ["sum"], ["idx"], axis=1)],
        "fixed",
        [helper.make_tensor_value_info("a", TensorProto.DOUBLE, [2, 3]),
         helper.make_tensor_value_info("b", TensorProto.DOUBLE, [2, 3])],
        [helper.make_tensor_value_info("sum", TensorProto.DOUBLE, [2, 3]),
         helper.make_tensor_value_info("idx", TensorProto.INT64, [2, 1])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def test_dynamic_batch_model_gets_batching_config() -> None:
    text = config_from_onnx("cnn", torch_cnn_onnx(), max_batch_size=16)
    config = parse_config(text, expected_name="cnn")
    assert config.platform == "onnxruntime_onnx"
    assert config.max_batch_size == 16
    assert config.HasField("dynamic_batching")
    fp32 = model_config_pb2.TYPE_FP32
    assert [(t.name, t.data_type, list(t.dims)) for t in config.input] == [("image", fp32, [3, 8, 8])]
    assert [(t.name, t.data_type, list(t.dims)) for t in config.output] == [("logits", fp32, [5])]
    inputs, outputs = config_tensor_specs(config)
    assert inputs[0].shape == (-1, 3, 8, 8) and inputs[0].datatype == "FP32"
    assert outputs[0].shape == (-1, 5)


def test_fixed_shape_model_has_no_batching_and_keeps_types() -> None:
    config = parse_config(config_from_onnx("fixed", fixed_shape_onnx()))
    assert config.max_batch_size == 0
    assert not config.HasField("dynamic_batching")
    assert [(t.name, t.data_type, list(t.dims)) for t in config.input] == [
        ("a", model_config_pb2.TYPE_FP64, [2, 3]), ("b", model_config_pb2.TYPE_FP64, [2, 3])]
    assert [(t.name, t.data_type) for t in config.output] == [
        ("sum", model_config_pb2.TYPE_FP64), ("idx", model_config_pb2.TYPE_INT64)]


def test_dynamic_inner_axis_is_minus_one() -> None:
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])], "seq",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "time", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "time", 4])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()
    config = parse_config(config_from_onnx("seq", model))
    assert config.max_batch_size > 0 and list(config.input[0].dims) == [-1, 4]


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('name: "m" platform: "onnxruntime_onnx" output [{name: "y" data_type: TYPE_FP32 dims: [1]}]',
         "config.pbtxt.input"),
        ('name: "m" input [{name: "x" dims: [1]}] output [{name: "y" data_type: TYPE_FP32 dims: [1]}]',
         "config.pbtxt.input[0].data_type"),
        ('name: "m" no_such_field: 3', "config.pbtxt"),
        ('name: "other" input [{name: "x" data_type: TYPE_FP32 dims: [1]}] '
         'output [{name: "y" data_type: TYPE_FP32 dims: [1]}]', "config.pbtxt.name"),
    ],
)
def test_bad_configs_are_rejected_naming_the_field(text: str, field: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        parse_config(text, expected_name="m")
    assert field in [v.field for v in info.value.violations]


def test_not_onnx_is_invalid_argument() -> None:
    with pytest.raises(InvalidArgument, match="not a valid ONNX model"):
        config_from_onnx("junk", b"\x00not a model")


def test_repository_layout_versions_and_in_process_inference(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path)
    repo = ModelRepository(store)
    onnx_bytes = torch_cnn_onnx()
    first = repo.publish("cnn", onnx_bytes)
    second = repo.publish("cnn", onnx_bytes)
    assert (first.version, second.version) == (1, 2)
    assert store.exists("models/cnn/config.pbtxt") and store.exists("models/cnn/2/model.onnx")
    assert repo.versions("cnn") == [1, 2] and repo.names() == ["cnn"]
    with pytest.raises(AlreadyExists):
        repo.publish("cnn", onnx_bytes, version=2)
    with pytest.raises(InvalidArgument):
        repo.publish("../evil", onnx_bytes)
    with pytest.raises(NotFound, match="'missing'"):
        repo.model_bytes("missing")
    assert onnx.load_model_from_string(repo.model_bytes("cnn", "1")[1]).graph.input[0].name == "image"

    backend = OnnxRuntimeBackend(repo)
    x = np.random.default_rng(0).standard_normal((8, 3, 8, 8)).astype(np.float32)
    out = backend.infer("cnn", {"image": x})["logits"]
    assert out.shape == (8, 5) and backend.ready("cnn") and backend.metadata("cnn").version == "2"
    with pytest.raises(InvalidArgument) as info:
        backend.infer("cnn", {"image": x.astype(np.float64)})
    assert info.value.violations[0].field == "inputs.image"
    with pytest.raises(NotFound, match="'nope'"):
        backend.infer("nope", {"image": x})
