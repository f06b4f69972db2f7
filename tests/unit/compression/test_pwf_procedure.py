"""PWF end to end on tiny networks and synthetic data: every weight ends on a power-of-two sum."""

from __future__ import annotations

import copy
from typing import Literal

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from tessera.compression.models import VisionTransformer
from tessera.compression.pwf import PWFConfig, RoundInfo, fix_round, probabilistic_weight_fixing, wrap_model
from tessera.compression.pwf.procedure import FixedWeightGuard, _train_config, gather_state, scatter_state
from tessera.compression.training import TrainConfig, TrainData, accuracy_evaluator, evaluate_accuracy, train
from tessera.core.errors import InvalidArgument


def blobs(count: int, seed: int) -> TensorDataset:
    """Three Gaussian classes in 6-D, well separated."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(count) % 3
    centres = torch.tensor([[2.0, 0, 0, 1, 0, 0], [0, 2.0, 0, 0, 1, 0], [0, 0, 2.0, 0, 0, 1]])
    return TensorDataset(centres[labels] + 0.5 * torch.randn(count, 6, generator=generator), labels)


@pytest.fixture(scope="module")
def trained() -> tuple[nn.Sequential, DataLoader, DataLoader]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))
    train_loader = DataLoader(blobs(300, 0), batch_size=30, shuffle=True, generator=torch.Generator().manual_seed(0))
    test_loader = DataLoader(blobs(300, 1), batch_size=300)
    train(model, TrainData(train_loader), TrainConfig(epochs=15, lr=0.1))
    return model, train_loader, test_loader


def terms_of(value: float) -> int:
    scaled = abs(value) * 2**7
    assert scaled == int(scaled), value
    return bin(int(scaled)).count("1")


def test_pwf_fixes_every_weight_to_a_power_of_two_sum(trained: tuple[nn.Sequential, DataLoader, DataLoader]) -> None:
    model, train_loader, test_loader = trained
    original = copy.deepcopy(model.state_dict())
    baseline = evaluate_accuracy(model, test_loader)
    assert baseline > 0.9
    seen: list[RoundInfo] = []
    result = probabilistic_weight_fixing(
        model, PWFConfig(epochs_per_round=0.5, first_epochs=0.1), TrainData(train_loader),
        accuracy_evaluator(test_loader), seen.append,
    )
    assert [info.round for info in seen] == list(range(1, 11))
    fractions = [info.fixed_fraction for info in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert fractions[0] == pytest.approx(0.2, abs=0.01)
    assert seen[-1].unique_values == seen[-1].centres == result.unique_values == len(result.codebook)
    assert result.unique_values < 0.7 * result.info["shared_weights"]  # 163 weights and biases share values
    assert max(terms_of(value) for value in result.codebook) <= 4
    assert result.accuracy is not None and result.accuracy >= baseline - 0.05
    assert all(type(layer) in (nn.Linear, nn.ReLU) for layer in result.model.children())
    assert all(torch.equal(original[name], value) for name, value in model.state_dict().items())


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_fixed_weights_stay_frozen_while_free_ones_train(
    trained: tuple[nn.Sequential, DataLoader, DataLoader], optimizer: Literal["sgd", "adam"]
) -> None:
    # Momentum (SGD) and Adam's running moments would move a weight whose gradient is zeroed: the guard
    # re-imposes fixed values after every step.
    model, train_loader, _ = trained
    work = copy.deepcopy(model)
    config = PWFConfig(optimizer=optimizer, lr=0.05 if optimizer == "sgd" else 0.01, weight_decay=0.01)
    tensors = wrap_model(work)
    state = gather_state(tensors)
    fix_round(state, len(state.means) // 2)
    scatter_state(state, tensors)
    fixed_before = [(t.mean.detach().clone(), t.sigma.detach().clone(), t.gaussian.fixed.clone()) for t in tensors]
    guard = FixedWeightGuard(tensors, config)
    retrain = _train_config(config, epochs=1)
    assert retrain.optimizer == optimizer
    train(work, TrainData(train_loader), retrain, guard.after_backward, guard.after_step)
    moved = 0
    for tensor, (mean, sigma, fixed) in zip(tensors, fixed_before, strict=True):
        assert torch.equal(tensor.mean[fixed], mean[fixed])
        assert torch.equal(tensor.sigma[fixed], sigma[fixed])
        moved += int((tensor.mean[~fixed] != mean[~fixed]).sum())
    assert moved > 0


def test_pwf_runs_on_a_transformer_built_from_linear_layers() -> None:
    torch.manual_seed(0)
    model = VisionTransformer(image_size=8, patch_size=4, num_classes=2, embed_dim=8, depth=1, heads=2)
    images = torch.randn(16, 1, 8, 8)
    loader = DataLoader(TensorDataset(images, torch.arange(16) % 2), batch_size=8)
    config = PWFConfig(schedule=(0.5, 1.0), epochs_per_round=1, first_epochs=1)
    result = probabilistic_weight_fixing(model, config, TrainData(loader))
    assert set(result.layer_unique_values) >= {"blocks.0.attn.qkv.weight", "blocks.0.attn.proj.weight", "head.weight"}
    assert result.rounds[-1].fixed_fraction == 1.0
    assert result.model(images).shape == (16, 2)


def test_pwf_needs_data_to_retrain() -> None:
    with pytest.raises(InvalidArgument) as caught:
        probabilistic_weight_fixing(nn.Linear(2, 2), PWFConfig(), None)
    assert caught.value.violations[0].field == "data"
    # Without retraining (epochs 0) clustering alone runs.
    result = probabilistic_weight_fixing(nn.Linear(4, 4), PWFConfig(first_epochs=0, epochs_per_round=0), None)
    assert result.rounds[-1].fixed_fraction == 1.0
