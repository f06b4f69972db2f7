"""TrainData.device: the training steps run on the named device, the model comes back where it was."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from tessera.compression.kmeans import KMeansConfig, kmeans_weight_sharing
from tessera.compression.pwf import PWFConfig, probabilistic_weight_fixing
from tessera.compression.training import TrainConfig, TrainData, evaluate_accuracy, model_device, train
from tessera.core.errors import InvalidArgument


def blobs(count: int, seed: int) -> TensorDataset:
    """Three separated Gaussian classes in 4-D."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(count) % 3
    centres = torch.tensor([[2.0, 0, 0, 1], [0, 2.0, 0, 1], [0, 0, 2.0, 1]])
    return TensorDataset(centres[labels] + 0.4 * torch.randn(count, 4, generator=generator), labels)


def loader(seed: int) -> DataLoader:
    return DataLoader(blobs(240, seed), batch_size=24, shuffle=True, generator=torch.Generator().manual_seed(seed))


def small_model() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 12), nn.ReLU(), nn.Linear(12, 3))


def test_named_cpu_device_trains_exactly_as_the_default() -> None:
    default, named = small_model(), small_model()
    handle = named[0].weight
    loss_default = train(default, TrainData(loader(0)), TrainConfig(epochs=2, lr=0.1))
    loss_named = train(named, TrainData(loader(0), device="cpu"), TrainConfig(epochs=2, lr=0.1))
    assert loss_named == pytest.approx(loss_default)
    for a, b in zip(default.parameters(), named.parameters(), strict=True):
        assert torch.equal(a, b)
    assert named[0].weight is handle  # callers' parameter handles stay valid
    assert model_device(named) == torch.device("cpu")


@pytest.mark.parametrize("device", ["npu:x", "not-a-device"])
def test_unknown_device_names_the_field(device: str) -> None:
    with pytest.raises(InvalidArgument) as error:
        train(small_model(), TrainData(loader(0), device=device), TrainConfig(epochs=1))
    assert error.value.violations[0].field == "data.device"


def test_cuda_runs_pwf_and_kmeans_or_says_it_is_missing() -> None:
    model = small_model()
    train(model, TrainData(loader(0)), TrainConfig(epochs=10, lr=0.1))
    test = DataLoader(blobs(300, 9), batch_size=300)
    baseline = evaluate_accuracy(model, test)
    assert baseline > 0.9
    if not torch.cuda.is_available():
        with pytest.raises(InvalidArgument) as error:
            train(copy.deepcopy(model), TrainData(loader(1), device="cuda"), TrainConfig(epochs=1))
        assert error.value.violations[0].field == "data.device"
        assert "CUDA is not available" in error.value.violations[0].description
        return
    pwf = probabilistic_weight_fixing(model, PWFConfig(epochs_per_round=0.5, first_epochs=0.1),
                                      TrainData(loader(1), device="cuda"))
    assert model_device(pwf.model) == torch.device("cpu")
    assert evaluate_accuracy(pwf.model, test) > baseline - 0.05
    scaled = torch.cat([p.detach().flatten() for p in pwf.model.parameters()]).abs() * 2**7
    assert torch.equal(scaled, scaled.round())  # every value a sum of powers of two down to 2^-7
    shared = kmeans_weight_sharing(model, KMeansConfig(clusters=8, finetune_epochs=1.0),
                                   TrainData(loader(2), device="cuda"))
    assert model_device(shared.model) == torch.device("cpu")
    assert shared.unique_values <= 8
    assert evaluate_accuracy(shared.model, test) > baseline - 0.1
