"""K-means weight sharing (Deep Compression): codebook sizes, shared gradients, zeros, bad input."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.utils.data import DataLoader, TensorDataset

from tessera.compression.kmeans import (
    KMeansConfig,
    SharedWeight,
    kmeans_weight_sharing,
    layer_cluster_counts,
    linear_kmeans,
)
from tessera.compression.pwf import RoundInfo
from tessera.compression.training import TrainConfig, TrainData, accuracy_evaluator, evaluate_accuracy, train
from tessera.core.errors import InvalidArgument


@pytest.fixture(scope="module")
def trained() -> tuple[nn.Sequential, DataLoader]:
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(240, 5, generator=generator)
    labels = (inputs[:, 0] + inputs[:, 1] > 0).long()
    loader = DataLoader(TensorDataset(inputs, labels), batch_size=40)
    model = nn.Sequential(nn.Linear(5, 12), nn.ReLU(), nn.Linear(12, 2))
    train(model, TrainData(loader), TrainConfig(epochs=20, lr=0.1))
    return model, loader


def test_linear_kmeans_finds_the_clusters_of_separated_values() -> None:
    values = np.concatenate([np.full(50, -1.0), np.full(30, 0.1), np.full(20, 2.0)]) + np.linspace(0, 0.01, 100)
    centroids, labels = linear_kmeans(values, 3, 100, 0)
    assert sorted(centroids.round(1).tolist()) == [-1.0, 0.1, 2.0]
    assert len(set(labels[:50])) == len(set(labels[50:80])) == len(set(labels[80:])) == 1
    few, few_labels = linear_kmeans(np.array([0.5, 0.5, 0.25]), 8, 10, 0)
    assert few.tolist() == [0.25, 0.5] and few_labels.tolist() == [1, 1, 0]


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_global_codebook_has_at_most_k_values(trained: tuple[nn.Sequential, DataLoader], optimizer: str) -> None:
    model, loader = trained
    before = copy.deepcopy(model.state_dict())
    baseline = evaluate_accuracy(model, loader)
    seen: list[RoundInfo] = []
    config = KMeansConfig(clusters=8, finetune_epochs=2, lr=0.01 if optimizer == "sgd" else 0.003, optimizer=optimizer)
    result = kmeans_weight_sharing(model, config, TrainData(loader), accuracy_evaluator(loader), seen.append)
    assert [info.round for info in seen] == [1, 2, 3]
    assert result.unique_values == len(result.codebook) <= 8
    assert all(count <= 8 for count in result.layer_unique_values.values())
    assert result.accuracy is not None and result.accuracy >= baseline - 0.1
    assert all(type(layer) in (nn.Linear, nn.ReLU) for layer in result.model.children())
    assert all(torch.equal(before[name], value) for name, value in model.state_dict().items())


def test_fractional_fine_tuning_reports_a_partial_last_epoch(trained: tuple[nn.Sequential, DataLoader]) -> None:
    model, loader = trained
    seen: list[RoundInfo] = []
    result = kmeans_weight_sharing(model, KMeansConfig(clusters=6, finetune_epochs=1.5, lr=0.01), TrainData(loader),
                                   progress=seen.append)
    assert [info.round for info in seen] == [1, 2, 3] and seen[-1].rounds == 3
    assert "0.5 of the data" in seen[-1].message and seen[-1].train_loss is not None
    assert result.unique_values <= 6


def test_layer_codebooks_and_kept_zeros(trained: tuple[nn.Sequential, DataLoader]) -> None:
    model = copy.deepcopy(trained[0])
    pruned = model.get_submodule("0")
    assert isinstance(pruned, nn.Linear)
    with torch.no_grad():
        pruned.weight[:, :2] = 0.0  # 24 pruned weights
    result = kmeans_weight_sharing(model, KMeansConfig(clusters=4, scope="layer", keep_zeros=True, finetune_epochs=0))
    first = result.model.get_submodule("0")
    assert isinstance(first, nn.Linear)
    assert bool((first.weight[:, :2] == 0).all())
    # Four centroids per tensor, plus the kept zero in the pruned one.
    assert result.layer_unique_values["0.weight"] == 5
    assert result.layer_unique_values["2.weight"] <= 4
    assert result.unique_values > 5


def test_layer_cluster_counts_share_the_total_equally_remainder_to_the_largest() -> None:
    assert layer_cluster_counts([60, 12, 24, 2], 11) == [3, 3, 3, 2]
    assert layer_cluster_counts([5, 100], 2) == [1, 1]
    with pytest.raises(InvalidArgument, match=r"config\.clusters"):
        layer_cluster_counts([5, 5, 5], 2)


def test_per_tensor_codebooks_split_a_total_count(trained: tuple[nn.Sequential, DataLoader]) -> None:
    model = trained[0]
    # Four tensors (two weights, two biases) share 9 values: 3 for the largest weight, 2 for the others.
    split = kmeans_weight_sharing(model, KMeansConfig(clusters=9, scope="layer", split="total", finetune_epochs=0))
    assert split.layer_unique_values == {"0.weight": 3, "0.bias": 2, "2.weight": 2, "2.bias": 2}
    assert split.unique_values == 9
    each = kmeans_weight_sharing(model, KMeansConfig(clusters=9, scope="layer", finetune_epochs=0))
    assert each.unique_values > 9  # nine per tensor: up to four times as many over the network


def test_centroid_gradient_is_the_sum_over_its_cluster() -> None:
    layer = nn.Linear(3, 2, bias=False)
    codebook = nn.Parameter(torch.tensor([-1.0, 0.5]))
    indices = torch.tensor([[0, 1, 1], [1, 0, 1]])
    parametrize.register_parametrization(layer, "weight", SharedWeight(codebook, indices, None), unsafe=True)
    inputs = torch.tensor([[1.0, 2.0, 3.0]])
    layer(inputs).sum().backward()
    # dL/dW[i, j] = x_j; centroid 0 collects W[0,0], W[1,1] -> 1 + 2, centroid 1 the rest -> 2 + 3 + 1 + 3.
    assert codebook.grad is not None
    assert codebook.grad.tolist() == [3.0, 9.0]


def test_mean_gradient_divides_by_the_cluster_size(trained: tuple[nn.Sequential, DataLoader]) -> None:
    model, loader = trained
    seen: list[tuple[float, float]] = []
    for gradient in ("sum", "mean"):
        config = KMeansConfig(clusters=4, finetune_epochs=1, lr=0.01, gradient=gradient)
        result = kmeans_weight_sharing(model, config, TrainData(loader))
        seen.append((result.codebook[0], result.codebook[-1]))
    clustered = kmeans_weight_sharing(model, KMeansConfig(clusters=4, finetune_epochs=0))
    # The summed gradient moves the extreme centroids much further than the averaged one.
    sum_move = abs(seen[0][0] - clustered.codebook[0]) + abs(seen[0][1] - clustered.codebook[-1])
    mean_move = abs(seen[1][0] - clustered.codebook[0]) + abs(seen[1][1] - clustered.codebook[-1])
    assert mean_move < sum_move


def test_bad_input() -> None:
    with pytest.raises(InvalidArgument) as caught:
        KMeansConfig.parse({"clusters": 1})
    assert caught.value.violations[0].field == "config.clusters"
    with pytest.raises(InvalidArgument) as caught:
        kmeans_weight_sharing(nn.Linear(2, 2), KMeansConfig(finetune_epochs=1))
    assert caught.value.violations[0].field == "data"
    with pytest.raises(InvalidArgument, match="GRU"):
        kmeans_weight_sharing(nn.Sequential(nn.GRU(2, 2), nn.Linear(2, 2)), KMeansConfig(finetune_epochs=0))
