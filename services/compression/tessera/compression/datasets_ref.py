"""Dataset references of a Compress request: a built-in set by name, or an NPZ artifact.

``DatasetRef.name``: ``fashion-mnist`` or ``mnist`` (:mod:`tessera.compression.datasets`, offline).
``DatasetRef.uri``: an ``.npz`` in the artifact store with arrays ``x`` (N, C, H, W) or (N, H, W)
(float or uint8, fed to the model as float32 unchanged) and ``y`` (N,) integer class labels, and
optionally ``x_test``/``y_test`` for evaluation (without them the report is measured on ``x``/``y``).
``DatasetRef.split``: empty (train split for fine-tuning and calibration, test split for the
report), ``train`` or ``test`` (that split for both).

:func:`check_dataset_ref` validates a reference against the model's input spec cheaply (NPZ array
headers only, plus the labels) so a Compress request fails at once, naming the field
(``dataset.name``, ``dataset.uri``, ``dataset.x``, ``dataset.y``, ``dataset.split``).
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass

import numpy as np
import torch

from tessera.compression.datasets import DATASETS, ImageDataset, load_dataset
from tessera.compression.registry import InputSpec
from tessera.core.artifacts.factory import open_uri
from tessera.core.errors import InvalidArgument, NotFound, TesseraError
from tessera.core.settings import TesseraSettings
from tessera.v1 import compression_pb2

# Shapes (C, H, W) and class counts of the built-in sets, known without loading them.
BUILTIN: dict[str, tuple[tuple[int, int, int], int]] = {name: ((1, 28, 28), 10) for name in DATASETS}
SPLITS = ("", "train", "test")


@dataclass(frozen=True)
class ResolvedData:
    """Images for fine-tuning/calibration (``train``) and for the report (``test``); ``source`` says which."""

    train: ImageDataset
    test: ImageDataset
    source: str


def _shape_matches(found: tuple[int, ...], wanted: tuple[int, ...]) -> bool:
    return len(found) == len(wanted) and all(w < 0 or f == w for f, w in zip(found, wanted, strict=True))


def _check_images(shape: tuple[int, ...], spec: InputSpec, field: str) -> None:
    """``shape`` is one sample's (C, H, W) (or (H, W) for one channel)."""
    sample = shape if len(shape) == len(spec.shape) else (1, *shape)
    if not _shape_matches(sample, spec.shape):
        raise InvalidArgument.field(field, f"samples are {tuple(shape)} but the model takes {tuple(spec.shape)}"
                                           " (channels, height, width)")


def _check_labels(labels: np.ndarray, count: int, spec: InputSpec, field: str) -> None:
    if labels.ndim != 1 or len(labels) != count:
        raise InvalidArgument.field(field, f"labels must be (N,) = ({count},), got {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise InvalidArgument.field(field, f"labels must be integer class indices, got {labels.dtype}")
    if count and (labels.min() < 0 or (spec.num_classes > 0 and labels.max() >= spec.num_classes)):
        raise InvalidArgument.field(field, f"labels span {int(labels.min())}..{int(labels.max())} but the model "
                                           f"predicts {spec.num_classes} classes")


def _npz_bytes(ref: compression_pb2.DatasetRef, settings: TesseraSettings) -> bytes:
    try:
        return b"".join(open_uri(ref.uri.uri, settings, expected_sha256=ref.uri.sha256))
    except NotFound:
        raise InvalidArgument.field("dataset.uri", f"{ref.uri.uri!r} does not exist") from None
    except InvalidArgument as exc:
        raise InvalidArgument.field("dataset.uri", f"{ref.uri.uri!r}: {exc}") from None


def _npz_headers(data: bytes) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """name -> (shape, dtype) of every array of an .npz, read from the .npy headers only."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise InvalidArgument.field("dataset.uri", "is not an .npz file (numpy.savez)") from None
    headers = {}
    with archive:
        for member in archive.namelist():
            if not member.endswith(".npy"):
                continue
            with archive.open(member) as stream:
                version = np.lib.format.read_magic(stream)
                read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                               else np.lib.format.read_array_header_2_0)
                shape, _, dtype = read_header(stream)
            headers[member.removesuffix(".npy")] = (tuple(shape), np.dtype(dtype))
    return headers


def check_dataset_ref(ref: compression_pb2.DatasetRef, spec: InputSpec, settings: TesseraSettings) -> None:
    """Raise :class:`InvalidArgument` naming the field when ``ref`` cannot feed a model of ``spec``."""
    has_name, has_uri = bool(ref.name), bool(ref.uri.uri)
    if has_name == has_uri:
        raise InvalidArgument.field("dataset", "set exactly one of dataset.name (a built-in set) and dataset.uri"
                                               " (an .npz artifact)")
    if ref.split not in SPLITS:
        raise InvalidArgument.field("dataset.split", f"must be empty, 'train' or 'test', got {ref.split!r}")
    if has_name:
        if ref.name not in BUILTIN:
            raise InvalidArgument.field("dataset.name", f"unknown dataset {ref.name!r}; built-in: "
                                                        f"{', '.join(sorted(BUILTIN))}")
        shape: tuple[int, ...] = BUILTIN[ref.name][0]
        classes = BUILTIN[ref.name][1]
        if not _shape_matches(shape, spec.shape):
            raise InvalidArgument.field("dataset.name", f"{ref.name} images are {shape} but the model takes "
                                                        f"{tuple(spec.shape)}")
        if spec.num_classes > 0 and classes != spec.num_classes:
            raise InvalidArgument.field("dataset.name", f"{ref.name} has {classes} classes but the model predicts "
                                                        f"{spec.num_classes}")
        return
    data = _npz_bytes(ref, settings)
    headers = _npz_headers(data)
    with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
        for x_key, y_key in (("x", "y"), ("x_test", "y_test")):
            if x_key not in headers and x_key == "x_test" and y_key not in headers:
                continue
            for key in (x_key, y_key):
                if key not in headers:
                    raise InvalidArgument.field(f"dataset.{key}", f"the .npz has no array {key!r} "
                                                                  f"(it has {sorted(headers)})")
            shape, dtype = headers[x_key]
            if len(shape) < 2 or shape[0] < 1:
                raise InvalidArgument.field(f"dataset.{x_key}", f"must be (N, C, H, W) with N >= 1, got {shape}")
            if not (np.issubdtype(dtype, np.floating) or np.issubdtype(dtype, np.integer)):
                raise InvalidArgument.field(f"dataset.{x_key}", f"must be numeric, got {dtype}")
            _check_images(shape[1:], spec, f"dataset.{x_key}")
            _check_labels(arrays[y_key], shape[0], spec, f"dataset.{y_key}")


def _from_arrays(name: str, x: np.ndarray, y: np.ndarray, spec: InputSpec) -> ImageDataset:
    images = np.asarray(x, dtype=np.float32)
    if images.ndim == len(spec.shape):  # (N, H, W): one channel
        images = images[:, None]
    classes = tuple(str(c) for c in range(spec.num_classes if spec.num_classes > 0 else int(y.max()) + 1))
    return ImageDataset(name, torch.from_numpy(np.ascontiguousarray(images)), torch.from_numpy(y.astype(np.int64)),
                        classes)


def load_dataset_ref(ref: compression_pb2.DatasetRef, spec: InputSpec, settings: TesseraSettings, *,
                     train_samples: int | None = None, eval_samples: int | None = None,
                     seed: int = 0) -> ResolvedData:
    """The checked images of ``ref``, sub-sampled (reproducibly from ``seed``) to the given counts."""
    check_dataset_ref(ref, spec, settings)
    if ref.name:
        try:
            splits = load_dataset(ref.name, seed=seed)
        except TesseraError as exc:
            raise InvalidArgument.field("dataset.name", str(exc)) from None
        train, test, source = splits.train, splits.test, f"{ref.name} (built-in)"
    else:
        with np.load(io.BytesIO(_npz_bytes(ref, settings)), allow_pickle=False) as arrays:
            train = _from_arrays("npz", arrays["x"], arrays["y"], spec)
            has_test = "x_test" in arrays.files
            test = _from_arrays("npz", arrays["x_test"], arrays["y_test"], spec) if has_test else train
        source = f"{ref.uri.uri}" + ("" if has_test else " (no x_test: evaluated on x)")
    if ref.split == "train":
        test = train
    elif ref.split == "test":
        train = test
    if train_samples:
        train = train.subset(train_samples, seed)
    if eval_samples:
        test = test.subset(eval_samples, seed + 1)
    return ResolvedData(train, test, source + (f", split {ref.split}" if ref.split else ""))
