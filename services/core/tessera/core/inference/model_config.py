"""Triton ``config.pbtxt`` generated from an ONNX graph, and checked by parsing it back.

The config says what Triton (and the in-process backend) need to know about a model: its
platform (``onnxruntime_onnx``), its input and output tensors (name, data type, dims with -1 for
a dynamic axis) and batching. When every input and output has a dynamic first axis, that axis is
the batch axis: ``max_batch_size`` is set, ``dims`` leave it out (Triton's convention) and
``dynamic_batching {}`` lets Triton merge concurrent requests into one batch.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import onnx
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from tessera.core.errors import FieldViolation, InvalidArgument

PLATFORM_ONNX = "onnxruntime_onnx"
DEFAULT_MAX_BATCH_SIZE = 64

# ONNX TensorProto element type -> Triton data type name (model_config_pb2.DataType).
_ONNX_TO_TRITON: dict[int, str] = {
    onnx.TensorProto.FLOAT: "TYPE_FP32",
    onnx.TensorProto.DOUBLE: "TYPE_FP64",
    onnx.TensorProto.FLOAT16: "TYPE_FP16",
    onnx.TensorProto.BFLOAT16: "TYPE_BF16",
    onnx.TensorProto.INT8: "TYPE_INT8",
    onnx.TensorProto.INT16: "TYPE_INT16",
    onnx.TensorProto.INT32: "TYPE_INT32",
    onnx.TensorProto.INT64: "TYPE_INT64",
    onnx.TensorProto.UINT8: "TYPE_UINT8",
    onnx.TensorProto.UINT16: "TYPE_UINT16",
    onnx.TensorProto.UINT32: "TYPE_UINT32",
    onnx.TensorProto.UINT64: "TYPE_UINT64",
    onnx.TensorProto.BOOL: "TYPE_BOOL",
    onnx.TensorProto.STRING: "TYPE_STRING",
}


@dataclass(frozen=True)
class TensorSpec:
    """One input or output: ``datatype`` is Triton's wire name (``FP32``), ``shape`` has -1 for dynamic axes.

    ``shape`` is the full shape including the batch axis when the model batches.
    """

    name: str
    datatype: str
    shape: tuple[int, ...]


def _tensor_specs(values: list[onnx.ValueInfoProto], what: str) -> list[TensorSpec]:
    specs = []
    for value in values:
        tensor_type = value.type.tensor_type
        if not value.type.HasField("tensor_type"):
            raise InvalidArgument.field(f"onnx.{what}.{value.name}", "only tensor inputs/outputs are supported")
        triton_type = _ONNX_TO_TRITON.get(tensor_type.elem_type)
        if triton_type is None:
            name = onnx.TensorProto.DataType.Name(tensor_type.elem_type)
            raise InvalidArgument.field(f"onnx.{what}.{value.name}", f"element type {name} has no Triton equivalent")
        # dim_value 0 means unknown in ONNX; dim_param (a symbolic name) means dynamic.
        shape = tuple(d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else -1 for d in tensor_type.shape.dim)
        specs.append(TensorSpec(value.name, triton_type.removeprefix("TYPE_"), shape))
    return specs


def onnx_signature(onnx_bytes: bytes) -> tuple[list[TensorSpec], list[TensorSpec]]:
    """The graph's real inputs (initializers excluded) and outputs; :class:`InvalidArgument` if not ONNX."""
    try:
        model = onnx.load_model(io.BytesIO(onnx_bytes), load_external_data=False)
    except Exception as exc:  # onnx raises DecodeError / ValueError variants
        raise InvalidArgument.field("onnx_bytes", f"not a valid ONNX model: {exc}") from None
    initializers = {init.name for init in model.graph.initializer}
    inputs = [v for v in model.graph.input if v.name not in initializers]
    if not inputs or not model.graph.output:
        raise InvalidArgument.field("onnx_bytes", "the ONNX graph must have at least one input and one output")
    return _tensor_specs(inputs, "inputs"), _tensor_specs(list(model.graph.output), "outputs")


def config_from_onnx(name: str, onnx_bytes: bytes, *, max_batch_size: int = DEFAULT_MAX_BATCH_SIZE) -> str:
    """``config.pbtxt`` text for the ONNX model, already checked by :func:`parse_config`.

    Batching is on (``max_batch_size`` > 0, ``dynamic_batching {}``) when every input and output
    has a dynamic first axis; otherwise ``max_batch_size: 0`` and dims are the full shapes.
    """
    inputs, outputs = onnx_signature(onnx_bytes)
    batched = max_batch_size > 0 and all(s.shape and s.shape[0] == -1 for s in inputs + outputs)
    config = model_config_pb2.ModelConfig(
        name=name, platform=PLATFORM_ONNX, max_batch_size=max_batch_size if batched else 0
    )
    for specs, field in ((inputs, config.input), (outputs, config.output)):
        for spec in specs:
            dims = spec.shape[1:] if batched else spec.shape
            # Triton rejects empty dims for a batched tensor of shape [batch]: it spells that [1] + reshape.
            if batched and not dims:
                field.add(name=spec.name, data_type=_data_type("TYPE_" + spec.datatype), dims=[1]).reshape.SetInParent()
            else:
                field.add(name=spec.name, data_type=_data_type("TYPE_" + spec.datatype), dims=list(dims))
    if batched:
        config.dynamic_batching.SetInParent()
    text = text_format.MessageToString(config)
    parse_config(text, expected_name=name)
    return text


def _data_type(name: str) -> int:
    return int(model_config_pb2.DataType.Value(name))


def parse_config(text: str, *, expected_name: str | None = None) -> model_config_pb2.ModelConfig:
    """Parse ``config.pbtxt`` into tritonclient's ``ModelConfig``; :class:`InvalidArgument` if it is not one.

    Checks beyond the schema: at least one input and output, every tensor named and typed, a
    non-negative ``max_batch_size``, and (when given) the model name.
    """
    config = model_config_pb2.ModelConfig()
    try:
        text_format.Parse(text, config)
    except text_format.ParseError as exc:
        raise InvalidArgument.field("config.pbtxt", f"not a Triton ModelConfig: {exc}") from None
    problems: list[FieldViolation] = []
    if expected_name is not None and config.name != expected_name:
        problems.append(FieldViolation("config.pbtxt.name", f"is {config.name!r}, expected {expected_name!r}"))
    if config.max_batch_size < 0:
        problems.append(FieldViolation("config.pbtxt.max_batch_size", "must be >= 0"))
    for what, tensors in (("input", config.input), ("output", config.output)):
        if not tensors:
            problems.append(FieldViolation(f"config.pbtxt.{what}", "must list at least one tensor"))
        for i, tensor in enumerate(tensors):
            if not tensor.name:
                problems.append(FieldViolation(f"config.pbtxt.{what}[{i}].name", "must be set"))
            if tensor.data_type == model_config_pb2.TYPE_INVALID:
                problems.append(FieldViolation(f"config.pbtxt.{what}[{i}].data_type", "must be set"))
    if problems:
        raise InvalidArgument(problems)
    return config


def config_tensor_specs(config: model_config_pb2.ModelConfig) -> tuple[list[TensorSpec], list[TensorSpec]]:
    """Inputs and outputs of a parsed config as :class:`TensorSpec` with full shapes (batch axis -1 first)."""

    def specs(tensors: object) -> list[TensorSpec]:
        out = []
        for tensor in tensors:  # type: ignore[attr-defined]
            dims = tuple(tensor.reshape.shape) if tensor.HasField("reshape") else tuple(tensor.dims)
            shape = (-1, *dims) if config.max_batch_size > 0 else dims
            datatype = model_config_pb2.DataType.Name(tensor.data_type).removeprefix("TYPE_")
            out.append(TensorSpec(tensor.name, datatype, shape))
        return out

    return specs(config.input), specs(config.output)
