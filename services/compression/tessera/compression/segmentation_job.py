"""Compress jobs on ONNX 3D segmentation networks: image + label volumes from a dataset ref, Dice in the report.

A model in the Triton repository that is plain ONNX (no torch state) and maps ``[N, C, D, H, W]`` to
``[N, K, D, H, W]`` is a segmentation network (:func:`~tessera.compression.onnx_segmentation.is_segmentation_onnx`).
For it, ``int8`` (ONNX Runtime static QDQ, calibrated on the volumes) and ``kmeans`` (one global k-means
codebook over the Conv/Gemm initialisers) apply; every other method fails on field ``method``.
:class:`SegmentationAware` wraps each entry of the method table and sends such models here.

``DatasetRef.uri`` (``name`` does not apply: the built-in sets are 2-D classification images) is either

* an ``.npz`` with ``x`` (N, C, D, H, W) float images and ``y`` (N, D, H, W) integer labels, or
* a JSON manifest ``{"pairs": [{"image": URI, "label": URI}, ...]}`` of NIfTI-1 files (``.nii`` or
  ``.nii.gz``; images (X, Y, Z) or (X, Y, Z, C), labels (X, Y, Z)); a URI without a scheme is relative
  to the manifest's folder.

The same volumes calibrate int8 (the first ``calibration_volumes``) and measure Dice. ``config_json`` keys:
:class:`SegmentationConfig`. The report's ``accuracy`` / ``baseline_accuracy`` are the mean foreground
Dice of the compressed / fp32 model against the labels; ``dice_retained`` is their ratio.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import onnx
from pydantic import Field

from tessera.compression.onnx_segmentation import (
    METHODS,
    SegmentationVolumes,
    check_segmentation_model,
    compress_segmentation,
    is_segmentation_onnx,
)
from tessera.compression.registry import ModelRegistry
from tessera.compression.training import StrictConfig
from tessera.compression.worker import (
    CompressionMethod,
    CompressionOutcome,
    CompressionTask,
    MethodInputs,
    RoundCallback,
)
from tessera.core.artifacts.factory import open_uri
from tessera.core.errors import InvalidArgument, NotFound
from tessera.core.runtime import ServiceRuntime
from tessera.core.settings import TesseraSettings
from tessera.v1 import compression_pb2


class SegmentationConfig(StrictConfig):
    """``config_json`` of a segmentation Compress job (unknown keys fail as ``config.<key>``)."""

    clusters: int = Field(16, ge=2, le=65536, description="kmeans: size of the one global codebook")
    calibration_volumes: int = Field(8, ge=1, le=10_000, description="int8: volumes ONNX Runtime calibrates on")
    max_volumes: int = Field(64, ge=1, le=100_000, description="volumes read from the dataset ref (the first ones)")
    latency_repeats: int = Field(5, ge=1, le=1000, description="ONNX Runtime runs timed for the latency figure")
    extra_inputs: dict[str, float] = Field(
        default_factory=dict, description="constant fill value of each input besides the image, e.g. "
                                          '{"contrast_present": 1.0} (shape from the model, batch 1)')


# ------------------------------------------------------------------ the dataset ref


def _read(uri: str, settings: TesseraSettings, field_name: str, sha256: str = "") -> bytes:
    try:
        return b"".join(open_uri(uri, settings, expected_sha256=sha256))
    except NotFound:
        raise InvalidArgument.field(field_name, f"{uri!r} does not exist") from None
    except InvalidArgument as exc:
        raise InvalidArgument.field(field_name, f"{uri!r}: {exc}") from None


def _resolve(uri: str, manifest_uri: str) -> str:
    """A manifest entry's URI; without a scheme it is relative to the manifest's folder."""
    return uri if "://" in uri else f"{manifest_uri.rsplit('/', 1)[0]}/{uri.lstrip('/')}"


def _from_manifest(data: bytes, manifest_uri: str, settings: TesseraSettings, limit: int) -> SegmentationVolumes:
    try:
        manifest = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidArgument.field("dataset.uri", f"is neither an .npz nor a JSON manifest: {exc}") from None
    pairs = manifest.get("pairs") if isinstance(manifest, dict) else None
    if not isinstance(pairs, list) or not pairs:
        raise InvalidArgument.field("dataset.pairs",
                                    'the manifest needs {"pairs": [{"image": URI, "label": URI}, ...]}')
    files = []
    for index, pair in enumerate(pairs[:limit]):
        for key in ("image", "label"):  # a pair without labels cannot measure Dice
            if not isinstance(pair, dict) or not isinstance(pair.get(key), str) or not pair[key]:
                raise InvalidArgument.field(f"dataset.pairs[{index}].{key}", f"must be the URI of a NIfTI {key} file")
        files.append(tuple(_read(_resolve(pair[key], manifest_uri), settings, f"dataset.pairs[{index}].{key}")
                           for key in ("image", "label")))
    return SegmentationVolumes.from_nifti_bytes(files)  # type: ignore[arg-type]


def load_volumes(ref: compression_pb2.DatasetRef, settings: TesseraSettings, limit: int) -> SegmentationVolumes:
    """The first ``limit`` image + label volumes ``ref`` names; bad refs raise naming ``dataset.*``."""
    if ref.name:
        raise InvalidArgument.field("dataset.name", f"{ref.name!r}: built-in sets are 2-D classification images; a "
                                                    "segmentation model needs dataset.uri (NPZ or NIfTI manifest)")
    if not ref.uri.uri:
        raise InvalidArgument.field("dataset.uri", "a segmentation model needs an .npz (x, y) or a JSON manifest of "
                                                   "NIfTI image/label pairs")
    if ref.split:
        raise InvalidArgument.field("dataset.split", "must be empty for a segmentation model: the volumes both "
                                                     "calibrate and measure")
    data = _read(ref.uri.uri, settings, "dataset.uri", ref.uri.sha256)
    if data[:2] == b"PK":  # a zip archive: numpy.savez
        volumes = SegmentationVolumes.from_npz(data)
        return SegmentationVolumes(volumes.images[:limit], volumes.labels[:limit])
    return _from_manifest(data, ref.uri.uri, settings, limit)


# ------------------------------------------------------------------ checks against the model


def extra_input_values(model_bytes: bytes, fills: Mapping[str, float]) -> dict[str, np.ndarray]:
    """Batch-1 arrays of the model's inputs besides the first (the image), filled with ``fills[name]``."""
    graph = onnx.load_from_string(model_bytes).graph
    initialisers = {init.name for init in graph.initializer}
    others = [value for value in graph.input if value.name not in initialisers][1:]
    unknown = sorted(set(fills) - {value.name for value in others})
    if unknown:
        raise InvalidArgument.field("config.extra_inputs", f"the model has no other input(s) {', '.join(unknown)}")
    values = {}
    for value in others:
        if value.name not in fills:
            raise InvalidArgument.field("config.extra_inputs", f"the model's input {value.name!r} needs a value")
        tensor = value.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else (1 if axis == 0 else -1)
                for axis, d in enumerate(tensor.shape.dim)]
        if any(d < 1 for d in dims):
            raise InvalidArgument.field("config.extra_inputs", f"input {value.name!r} has a symbolic non-batch axis")
        dtype = onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type)
        values[value.name] = np.full([1, *dims[1:]] if dims else [], fills[value.name], dtype=dtype)
    return values


def check_fits(model_bytes: bytes, volumes: SegmentationVolumes, extra: Mapping[str, np.ndarray]) -> None:
    """Channels, fixed spatial dims and label range of ``volumes`` against the model's static shapes."""
    check_segmentation_model(model_bytes, volumes, extra)  # names "model" / "dataset.x"
    graph = onnx.load_from_string(model_bytes).graph
    initialisers = {init.name for init in graph.initializer}
    image = next(value for value in graph.input if value.name not in initialisers)
    grid = [d.dim_value if d.HasField("dim_value") else -1 for d in image.type.tensor_type.shape.dim][2:]
    for index, volume in enumerate(volumes.images):
        if any(want > 0 and want != got for want, got in zip(grid, volume.shape[1:], strict=True)):
            raise InvalidArgument.field("dataset.x", f"volume {index} is {volume.shape[1:]} (D, H, W) but the model "
                                                     f"takes {tuple(grid)} (-1: any)")
    classes_dim = graph.output[0].type.tensor_type.shape.dim[1]
    if classes_dim.HasField("dim_value"):
        top = max(int(label.max()) for label in volumes.labels)
        if top >= classes_dim.dim_value or min(int(label.min()) for label in volumes.labels) < 0:
            raise InvalidArgument.field("dataset.y", f"labels must lie in [0, {classes_dim.dim_value}) for the model's "
                                                     f"{classes_dim.dim_value} classes, found up to {top}")


# ------------------------------------------------------------------ the method


def _dice_list(scores: np.ndarray) -> list[float | None]:
    return [None if math.isnan(float(s)) else float(s) for s in scores]


def foreground_dice(scores: np.ndarray) -> float:
    """Mean Dice over classes 1.. present in the data (0.0 when none is)."""
    foreground = scores[1:][~np.isnan(scores[1:])]
    return float(foreground.mean()) if foreground.size else 0.0


class SegmentationMethod:
    """``int8`` or ``kmeans`` on an ONNX segmentation network (the :class:`CompressionMethod` interface)."""

    def __init__(self, name: str):
        self.name = name

    def validate_config(self, config: Mapping[str, Any]) -> None:
        SegmentationConfig(**dict(config))

    def validate(self, inputs: MethodInputs, model_bytes: bytes) -> None:
        config = SegmentationConfig(**dict(inputs.config))
        volumes = load_volumes(inputs.dataset, inputs.runtime.settings, config.max_volumes)
        check_fits(model_bytes, volumes, extra_input_values(model_bytes, config.extra_inputs))

    def compress(self, task: CompressionTask, on_round: RoundCallback) -> CompressionOutcome:
        from tessera.compression.methods import float_parameters, onnx_report, plot_png, to_round

        config = SegmentationConfig(**task.config)
        volumes = load_volumes(task.dataset, task.runtime.settings, config.max_volumes)
        extra = extra_input_values(task.onnx_bytes, config.extra_inputs)
        check_fits(task.onnx_bytes, volumes, extra)
        fp32, result = compress_segmentation(task.onnx_bytes, volumes, [self.name], clusters=config.clusters,
                                             calibration_volumes=config.calibration_volumes, seed=task.seed,
                                             extra_inputs=extra)
        baseline_dice, dice = foreground_dice(fp32.dice), foreground_dice(result.dice)
        parameters = float_parameters(task.onnx_bytes)
        example = volumes.images[0][None]
        baseline = onnx_report(task.onnx_bytes, "fp32 source", parameters, baseline_dice, None, example,
                               config.latency_repeats, extra)
        report = onnx_report(result.model, self.name, parameters, dice, baseline_dice, example,
                             config.latency_repeats, extra)
        report.info.update({**result.info, "source": "onnx", "task": "segmentation", "volumes": len(volumes.images),
                            "dataset": task.dataset.uri.uri, "accuracy_measured_on": "onnxruntime",
                            "onnx_file_bytes": len(result.model), "shared_encoding_bytes": result.encoded_bytes})
        on_round(to_round(1, 1, report.sparsity, report.unique_values, dice))
        return CompressionOutcome(
            onnx_bytes=result.model,
            report={**report.model_dump(mode="json"), "compressed_bytes": report.encoded_bytes,
                    "task": "segmentation", "metric": "dice", "classes": len(fp32.dice),
                    "dice_per_class": _dice_list(result.dice), "baseline_dice_per_class": _dice_list(fp32.dice),
                    "dice_vs_fp32_per_class": _dice_list(result.dice_vs_fp32),
                    "dice_retained": result.retained(fp32),
                    "baseline": baseline.model_dump(mode="json", exclude={"layers"})},
            plot_png=plot_png([baseline, report], f"{task.model_name} v{task.model_version}: {self.name} "
                              "(segmentation)", metric="Dice"))


# ------------------------------------------------------------------ dispatch


def segmentation_source(runtime: ServiceRuntime, name: str, version: int) -> bytes | None:
    """The ONNX bytes of ``name`` v``version`` when it is a plain ONNX segmentation network, else None."""
    if ModelRegistry(runtime.models).manifest(name, version) is not None:
        return None  # a registered torch model: the torch methods' path
    model_bytes = runtime.models.model_bytes(name, version)[1]
    return model_bytes if is_segmentation_onnx(model_bytes) else None


class SegmentationAware:
    """One entry of the method table: ONNX segmentation networks go to :class:`SegmentationMethod` (int8,
    kmeans; other methods fail on ``method``), everything else to the wrapped method."""

    def __init__(self, name: str, inner: CompressionMethod):
        self.name = name
        self.inner = inner
        self.segmentation = SegmentationMethod(name) if name in METHODS else None

    def validate_config(self, config: Mapping[str, Any]) -> None:
        # The model is not known yet: a config either path accepts passes; validate_inputs decides.
        try:
            self.inner.validate_config(config)
        except InvalidArgument as exc:
            if self.segmentation is None:
                raise
            try:
                self.segmentation.validate_config(config)
            except InvalidArgument:
                raise exc from None

    def _not_applicable(self) -> InvalidArgument:
        return InvalidArgument.field("method", f"{self.name} does not apply to an ONNX segmentation network "
                                               f"([N, C, D, H, W] -> [N, K, D, H, W]); use {' or '.join(METHODS)}")

    def validate_inputs(self, inputs: MethodInputs) -> None:
        source = segmentation_source(inputs.runtime, inputs.model_name, inputs.model_version)
        if source is None:
            self.inner.validate_config(inputs.config)
            self.inner.validate_inputs(inputs)
        elif self.segmentation is None:
            raise self._not_applicable()
        else:
            self.segmentation.validate(inputs, source)

    def compress(self, task: CompressionTask, on_round: RoundCallback) -> CompressionOutcome:
        if segmentation_source(task.runtime, task.model_name, task.model_version) is None:
            return self.inner.compress(task, on_round)
        if self.segmentation is None:
            raise self._not_applicable()
        return self.segmentation.compress(task, on_round)
