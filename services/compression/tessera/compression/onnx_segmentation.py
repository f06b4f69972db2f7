"""Compress an ONNX 3D segmentation network and measure the Dice it retains.

Works on any ONNX model mapping images ``[N, C, D, H, W]`` (float32, its first input) to per-class
logits ``[N, K, D, H, W]`` (its first output): the label map is the argmax over K. Other inputs (a
multi-contrast network's ``contrast_present`` flags) take constant values given by the caller.
Two post-training methods, neither of which needs the network's training code (so the compression
service stays independent of the service that trained it):

* ``int8``: ONNX Runtime static quantisation (QDQ, int8 weights per channel and activations), calibrated
  on the dataset's volumes (:func:`tessera.compression.quantize.quantize_onnx_int8`);
* ``kmeans``: weight sharing on the graph's initialisers: every float initialiser consumed as a Conv /
  ConvTranspose / Gemm / MatMul weight or bias is clustered with one global 1-D k-means codebook
  (linear initialisation, as Deep Compression) and replaced by its centroids; no fine-tuning.

The dataset ref is a list of image + label volumes (:class:`SegmentationVolumes`): from an NPZ with ``x``
``(N, C, D, H, W)`` and ``y`` ``(N, D, H, W)``, or from NIfTI image/label file pairs. Dice is per class
(``2|A n B| / (|A| + |B|)``, NaN where the class is absent from both), of the compressed model's labels
against the ground truth and against the fp32 model's labels, averaged over volumes. Size: the ONNX file
(fp32, int8) or, for a weight-shared graph, fp32 codebook + Huffman-coded indices + other parameters.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from tessera.compression.kmeans import linear_kmeans
from tessera.compression.quantize import quantize_onnx_int8
from tessera.compression.reports import encoding_sizes, ort_session
from tessera.core.errors import InvalidArgument

# Operators whose weight/bias inputs (all but the first, the activations) are shared.
_WEIGHT_OPS = {"Conv", "ConvTranspose", "Gemm", "MatMul"}
METHODS = ("int8", "kmeans")


@dataclass(frozen=True)
class SegmentationVolumes:
    """Images (each float32 ``(C, D, H, W)``) and their integer label maps (each ``(D, H, W)``)."""

    images: list[np.ndarray]
    labels: list[np.ndarray]

    def __post_init__(self) -> None:
        if not self.images or len(self.images) != len(self.labels):
            raise InvalidArgument.field(
                "dataset", f"needs one label map per image and at least one pair, got {len(self.images)} images "
                f"and {len(self.labels)} label maps")
        for index, (image, label) in enumerate(zip(self.images, self.labels, strict=True)):
            if image.ndim != 4 or label.ndim != 3 or image.shape[1:] != label.shape:
                raise InvalidArgument.field(
                    "dataset.x", f"volume {index}: image must be (C, D, H, W) and labels (D, H, W) of the same "
                    f"grid, got {image.shape} and {label.shape}")

    @classmethod
    def from_npz(cls, data: bytes) -> SegmentationVolumes:
        """NPZ with ``x`` (N, C, D, H, W) float and ``y`` (N, D, H, W) integer labels."""
        with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
            for key, what in (("x", "images (N, C, D, H, W)"), ("y", "labels (N, D, H, W)")):
                if key not in arrays.files:  # a ref without labels cannot measure Dice
                    raise InvalidArgument.field(f"dataset.{key}", f"the NPZ has no array {key!r} of {what} "
                                                f"(it has {sorted(arrays.files)})")
            images, labels = arrays["x"], arrays["y"]
        if images.ndim != 5:
            raise InvalidArgument.field("dataset.x", f"must be (N, C, D, H, W), got shape {images.shape}")
        if not np.issubdtype(labels.dtype, np.integer):
            raise InvalidArgument.field("dataset.y", f"labels must be integers, got {labels.dtype}")
        if labels.shape != (images.shape[0], *images.shape[2:]):
            raise InvalidArgument.field("dataset.y", f"must be (N, D, H, W) = {(images.shape[0], *images.shape[2:])} "
                                        f"to match x {images.shape}, got {labels.shape}")
        return cls([image.astype(np.float32) for image in images], [label.astype(np.int64) for label in labels])

    @classmethod
    def from_nifti(cls, pairs: Sequence[tuple[Path, Path]]) -> SegmentationVolumes:
        """Image/label NIfTI files: images (X, Y, Z) or (X, Y, Z, C), labels (X, Y, Z); read with nibabel."""
        return cls.from_nifti_bytes([(Path(image).read_bytes(), Path(label).read_bytes()) for image, label in pairs])

    @classmethod
    def from_nifti_bytes(cls, pairs: Sequence[tuple[bytes, bytes]]) -> SegmentationVolumes:
        """Image/label NIfTI-1 files as bytes (``.nii`` or gzipped ``.nii.gz``), shapes as :meth:`from_nifti`."""
        images, labels = [], []
        for index, (image_bytes, label_bytes) in enumerate(pairs):
            image = _nifti_array(image_bytes, f"dataset.pairs[{index}].image").astype(np.float32)
            image = image[None] if image.ndim == 3 else np.moveaxis(image, -1, 0)
            images.append(np.ascontiguousarray(image))
            labels.append(_nifti_array(label_bytes, f"dataset.pairs[{index}].label").round().astype(np.int64))
        return cls(images, labels)


def _nifti_array(data: bytes, field_name: str) -> np.ndarray:
    """The voxel array of a NIfTI-1 file's bytes (gzip detected by its magic number); read with nibabel."""
    import gzip

    import nibabel as nib  # only NIfTI refs need it

    try:
        raw = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
        return np.asarray(nib.Nifti1Image.from_bytes(raw).dataobj)
    except (OSError, ValueError, nib.filebasedimages.ImageFileError) as exc:
        raise InvalidArgument.field(field_name, f"is not a NIfTI-1 file: {exc}") from None


def _io_ranks(model: onnx.ModelProto, extra: Mapping[str, np.ndarray]) -> tuple[str, int, int, int | None]:
    """(image input name, its rank, output rank, input channels or None when symbolic).

    The image is the first graph input; every other input needs a constant value in ``extra``.
    """
    graph = model.graph
    initialisers = {init.name for init in graph.initializer}
    inputs = [value for value in graph.input if value.name not in initialisers]
    if not inputs or len(graph.output) < 1:
        raise InvalidArgument.field("model", "needs an image input and a logits output")
    missing = [value.name for value in inputs[1:] if value.name not in extra]
    if missing:
        raise InvalidArgument.field("model", f"input(s) {', '.join(missing)} besides the image need values "
                                    "(extra_inputs)")
    in_dims = inputs[0].type.tensor_type.shape.dim
    out_dims = graph.output[0].type.tensor_type.shape.dim
    channels = in_dims[1].dim_value if len(in_dims) > 1 and in_dims[1].HasField("dim_value") else None
    return inputs[0].name, len(in_dims), len(out_dims), channels


def is_segmentation_onnx(model_bytes: bytes) -> bool:
    """Whether the model's first (non-initialiser) input and first output are both rank 5: [N, C, D, H, W]
    images to [N, K, D, H, W] logits (cheap: reads the graph's declared shapes, runs nothing)."""
    try:
        graph = onnx.load_from_string(model_bytes).graph
    except Exception:  # not an ONNX graph at all: certainly not a segmentation network
        return False
    initialisers = {init.name for init in graph.initializer}
    inputs = [value for value in graph.input if value.name not in initialisers]
    if not inputs or not graph.output:
        return False
    return len(inputs[0].type.tensor_type.shape.dim) == 5 and len(graph.output[0].type.tensor_type.shape.dim) == 5


def check_segmentation_model(model_bytes: bytes, volumes: SegmentationVolumes,
                             extra_inputs: Mapping[str, np.ndarray] | None = None) -> str:
    """The image input's name, after checking [N, C, D, H, W] -> [N, K, D, H, W] and that it fits ``volumes``."""
    name, in_rank, out_rank, channels = _io_ranks(onnx.load_from_string(model_bytes), extra_inputs or {})
    if in_rank != 5 or out_rank != 5:
        raise InvalidArgument.field(
            "model", f"a 3D segmentation network maps [N, C, D, H, W] to [N, K, D, H, W]; this one has input rank "
            f"{in_rank} and output rank {out_rank}")
    found = volumes.images[0].shape[0]
    if channels is not None and channels != found:
        raise InvalidArgument.field("dataset.x", f"the model takes {channels} channel(s), the volumes have {found}")
    return name


def predict_labels(model_bytes: bytes, volumes: SegmentationVolumes, threads: int = 1,
                   extra_inputs: Mapping[str, np.ndarray] | None = None) -> tuple[list[np.ndarray], int]:
    """Argmax label map (D, H, W) of every volume (one volume per run, batch 1) and the class count K."""
    session = ort_session(model_bytes, threads)
    name = session.get_inputs()[0].name
    labels, classes = [], 0
    for image in volumes.images:
        logits = np.asarray(session.run(None, {name: image[None], **(extra_inputs or {})})[0])
        if logits.ndim != 5 or logits.shape[2:] != image.shape[1:]:
            raise InvalidArgument.field(
                "model", f"logits must be [1, K, D, H, W] on the input grid {image.shape[1:]}, got {logits.shape}")
        labels.append(logits[0].argmax(axis=0))
        classes = int(logits.shape[1])
    return labels, classes


def dice_per_class(predicted: np.ndarray, reference: np.ndarray, classes: int) -> np.ndarray:
    """(classes,) Dice of each class; NaN where the class is in neither map."""
    scores = np.full(classes, np.nan)
    for label in range(classes):
        mine, theirs = predicted == label, reference == label
        total = int(mine.sum() + theirs.sum())
        if total:
            scores[label] = 2.0 * float((mine & theirs).sum()) / total
    return scores


def mean_dice(predicted: Sequence[np.ndarray], reference: Sequence[np.ndarray], classes: int) -> np.ndarray:
    """(classes,) per-class Dice averaged over volumes (NaN-aware)."""
    per_volume = np.stack([dice_per_class(p, r, classes) for p, r in zip(predicted, reference, strict=True)])
    present = ~np.isnan(per_volume)
    totals = np.where(present, per_volume, 0.0).sum(axis=0)
    counts = present.sum(axis=0)
    return np.divide(totals, counts, out=np.full(classes, np.nan), where=counts > 0)


def weight_initialisers(model: onnx.ModelProto) -> list[str]:
    """Names of the float initialisers used as weights/biases of Conv, ConvTranspose, Gemm or MatMul nodes."""
    floats = {init.name for init in model.graph.initializer if init.data_type == onnx.TensorProto.FLOAT}
    names: list[str] = []
    for node in model.graph.node:
        if node.op_type in _WEIGHT_OPS:
            names += [name for name in node.input[1:] if name in floats and name not in names]
    return names


def share_onnx_weights(model_bytes: bytes, clusters: int, seed: int = 0) -> bytes:
    """The model with its weight initialisers replaced by the centroids of one global k-means codebook."""
    if not 2 <= clusters <= 65536:
        raise InvalidArgument.field("config.clusters", f"must be in [2, 65536], got {clusters}")
    model = onnx.load_from_string(model_bytes)
    names = weight_initialisers(model)
    if not names:
        raise InvalidArgument.field("model", "has no float Conv/ConvTranspose/Gemm/MatMul weights to share")
    initialisers = {init.name: init for init in model.graph.initializer}
    arrays = [numpy_helper.to_array(initialisers[name]) for name in names]
    centroids, labels = linear_kmeans(np.concatenate([a.ravel() for a in arrays]).astype(np.float64), clusters,
                                      100, seed)
    offset = 0
    for name, array in zip(names, arrays, strict=True):
        shared = centroids[labels[offset:offset + array.size]].astype(np.float32).reshape(array.shape)
        offset += array.size
        initialisers[name].CopyFrom(numpy_helper.from_array(shared, name))
    return model.SerializeToString()


def shared_encoding_bytes(model_bytes: bytes) -> int:
    """Bytes of the weight initialisers as fp32 codebook + Huffman-coded indices, other float initialisers
    at fp32 (what a weight-shared graph costs to store; the ONNX file itself keeps fp32 tensors)."""
    model = onnx.load_from_string(model_bytes)
    names = set(weight_initialisers(model))
    shared, others = [], 0
    for init in model.graph.initializer:
        if init.name in names:
            shared.append(numpy_helper.to_array(init))
        elif init.data_type == onnx.TensorProto.FLOAT:
            others += int(np.prod(init.dims))
    return encoding_sizes(shared, others)[0]


def unique_weight_values(model_bytes: bytes) -> int:
    """Distinct values over the weight initialisers of a float model (the figure weight sharing is judged by)."""
    model = onnx.load_from_string(model_bytes)
    initialisers = {init.name: init for init in model.graph.initializer}
    values = [numpy_helper.to_array(initialisers[name]).ravel() for name in weight_initialisers(model)]
    return int(np.unique(np.concatenate(values)).size) if values else 0


@dataclass
class SegmentationResult:
    """One method: per-class Dice vs ground truth and vs the fp32 model, and the compressed graph."""

    method: str
    model: bytes
    dice: np.ndarray
    dice_vs_fp32: np.ndarray
    unique_values: int | None
    encoded_bytes: int
    info: dict[str, object] = field(default_factory=dict)

    def retained(self, baseline: SegmentationResult) -> float:
        """Mean foreground Dice (classes 1.., those present) relative to the fp32 model's (1.0 = nothing lost)."""
        keep = ~np.isnan(baseline.dice) & ~np.isnan(self.dice)
        keep[0] = False  # background
        return float(self.dice[keep].mean() / baseline.dice[keep].mean())


def compress_segmentation(
    model_bytes: bytes, volumes: SegmentationVolumes, methods: Sequence[str] = METHODS, clusters: int = 16,
    calibration_volumes: int = 8, seed: int = 0, extra_inputs: Mapping[str, np.ndarray] | None = None,
) -> list[SegmentationResult]:
    """fp32 baseline first, then each of ``methods`` ("int8", "kmeans"), all measured on ``volumes``.

    ``extra_inputs``: constant values of the model's inputs other than the image, batch 1 (for instance
    ``{"contrast_present": ones((1, C))}`` for a multi-contrast network).
    """
    unknown = [method for method in methods if method not in METHODS]
    if unknown:
        raise InvalidArgument.field("method", f"unknown {unknown}; known: {', '.join(METHODS)}")
    name = check_segmentation_model(model_bytes, volumes, extra_inputs)
    fp32_labels, classes = predict_labels(model_bytes, volumes, extra_inputs=extra_inputs)
    largest = max(int(label.max()) for label in volumes.labels)
    if largest >= classes or min(int(label.min()) for label in volumes.labels) < 0:
        raise InvalidArgument.field("dataset.y", f"labels must lie in [0, {classes}) for a {classes}-class model, "
                                    f"found up to {largest}")
    results = [SegmentationResult("fp32", model_bytes, mean_dice(fp32_labels, volumes.labels, classes),
                                  mean_dice(fp32_labels, fp32_labels, classes), unique_weight_values(model_bytes),
                                  len(model_bytes))]
    for method in methods:
        if method == "int8":
            calibration = [image[None] for image in volumes.images[:calibration_volumes]]
            compressed = quantize_onnx_int8(model_bytes, calibration, input_name=name, extra_inputs=extra_inputs)
            unique: int | None = None  # int8 weights: at most 256 codes per output channel
            encoded = len(compressed)  # int8 initialisers: the file is the encoding
            info: dict[str, object] = {"calibration_volumes": len(calibration)}
        else:
            compressed = share_onnx_weights(model_bytes, clusters, seed)
            unique = unique_weight_values(compressed)
            encoded = shared_encoding_bytes(compressed)
            info = {"clusters": clusters}
        labels, _ = predict_labels(compressed, volumes, extra_inputs=extra_inputs)
        results.append(SegmentationResult(method, compressed, mean_dice(labels, volumes.labels, classes),
                                          mean_dice(labels, fp32_labels, classes), unique, encoded, info))
    return results
