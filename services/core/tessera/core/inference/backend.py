"""The ``InferenceBackend`` interface: run a named model of the model repository on numpy arrays.

Two implementations read the same repository (see :mod:`tessera.core.inference.repository`):
:class:`~tessera.core.inference.triton_backend.TritonBackend` (a Triton server, explicit model
control) and :class:`~tessera.core.inference.onnxruntime_backend.OnnxRuntimeBackend` (in-process).
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from tessera.core.errors import FieldViolation, InvalidArgument
from tessera.core.inference.model_config import TensorSpec

# Triton wire data type -> numpy dtype (tritonclient.utils.triton_to_np_dtype without the import).
NUMPY_DTYPES: dict[str, np.dtype] = {
    "BOOL": np.dtype(bool), "INT8": np.dtype(np.int8), "INT16": np.dtype(np.int16), "INT32": np.dtype(np.int32),
    "INT64": np.dtype(np.int64), "UINT8": np.dtype(np.uint8), "UINT16": np.dtype(np.uint16),
    "UINT32": np.dtype(np.uint32), "UINT64": np.dtype(np.uint64), "FP16": np.dtype(np.float16),
    "FP32": np.dtype(np.float32), "FP64": np.dtype(np.float64), "BYTES": np.dtype(object),
    "STRING": np.dtype(object),
}


@dataclass(frozen=True)
class ModelMetadata:
    """A loaded model's name, version and tensors (shapes include the batch axis as -1 when batched)."""

    name: str
    version: str
    platform: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]


class InferenceBackend(abc.ABC):
    """Run models of the repository. ``version=""`` means the newest version the backend serves."""

    @abc.abstractmethod
    def load(self, model: str, version: str = "") -> None:
        """Make ``model`` (at ``version``, default newest) servable; blocks until it is ready.

        Raises :class:`NotFound` naming the model when the repository has no such model/version.
        """

    @abc.abstractmethod
    def unload(self, model: str) -> None:
        """Release ``model``; absent models are not an error."""

    @abc.abstractmethod
    def ready(self, model: str, version: str = "") -> bool:
        """Whether ``model`` (at ``version``) answers inference requests now."""

    @abc.abstractmethod
    def metadata(self, model: str, version: str = "") -> ModelMetadata:
        """Tensors of a ready model; :class:`NotFound` naming it when it is not servable."""

    @abc.abstractmethod
    def infer(self, model: str, inputs: Mapping[str, np.ndarray], version: str = "") -> dict[str, np.ndarray]:
        """Run one request: input name -> array (batch axis first when batched) to output name -> array."""

    def close(self) -> None:  # noqa: B027 - optional hook, most backends hold nothing to release
        """Release connections and sessions."""

    def __enter__(self) -> InferenceBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def check_inputs(meta: ModelMetadata, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``inputs`` as contiguous arrays, or :class:`InvalidArgument` with one violation per bad input.

    Checks names (none missing, none unknown), dtypes (exact: no silent casts) and ranks/fixed dims.
    """
    problems: list[FieldViolation] = []
    expected = {spec.name: spec for spec in meta.inputs}
    for name in inputs:
        if name not in expected:
            problems.append(FieldViolation(f"inputs.{name}", f"model {meta.name!r} has no input {name!r} "
                                           f"(inputs: {sorted(expected)})"))
    checked: dict[str, np.ndarray] = {}
    for name, spec in expected.items():
        if name not in inputs:
            problems.append(FieldViolation(f"inputs.{name}", f"required by model {meta.name!r}"))
            continue
        array = np.asarray(inputs[name])
        want = NUMPY_DTYPES.get(spec.datatype)
        if want is not None and array.dtype != want:
            problems.append(FieldViolation(f"inputs.{name}", f"dtype is {array.dtype}, model wants {want}"))
        rank_ok = len(array.shape) == len(spec.shape)
        if not rank_ok or any(d not in (-1, a) for d, a in zip(spec.shape, array.shape, strict=True)):
            problems.append(FieldViolation(f"inputs.{name}", f"shape is {list(array.shape)}, model wants "
                                           f"{list(spec.shape)} (-1: any)"))
        checked[name] = np.ascontiguousarray(array)
    if problems:
        raise InvalidArgument(problems)
    return checked
