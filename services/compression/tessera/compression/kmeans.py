"""K-means weight sharing with centroid fine-tuning (Han, Mao & Dally 2016, "Deep Compression").

The weights (and biases, by default) of every Conv/Linear layer are clustered with 1-D k-means,
initialised linearly between the smallest and largest weight (the paper's best initialisation),
either per layer (one codebook per shared tensor) or with one codebook for the whole network.
Per-layer codebooks of ``clusters`` each give up to ``tensors * clusters`` distinct values over the
network; ``split="total"`` instead shares ``clusters`` among the tensors (equal shares, the remainder
to the largest tensors), so the network holds at most ``clusters`` values, as a global codebook does.
Each weight then reads its value from the codebook (``weight = codebook[index]``, a parametrisation),
so during fine-tuning the gradient of a centroid is the sum of the gradients of the weights sharing it, as in the paper.
``keep_zeros`` leaves exact zeros at zero (for pruned-then-shared models). ``gradient="mean"``
divides each centroid's summed gradient by its cluster size: with one global codebook a centroid
can collect the gradients of tens of thousands of weights, and the paper's sum then needs a far
smaller learning rate to stay stable.
"""

from __future__ import annotations

import copy
import time
import warnings
from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch
from pydantic import Field
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from torch import nn
from torch.nn.utils import parametrize

from tessera.compression.pwf.layers import check_supported, layer_unique_values, shared_tensors, unique_values
from tessera.compression.pwf.results import (
    EvalFn,
    ProgressFn,
    RoundInfo,
    WeightSharingResult,
    evaluate_model,
    report_round,
)
from tessera.compression.training import StrictConfig, TrainConfig, TrainData, train
from tessera.core.errors import InvalidArgument


class KMeansConfig(StrictConfig):
    """Deep Compression weight sharing: ``clusters`` centroids per layer or for the whole network."""

    clusters: int = Field(64, ge=2, le=65536, description="codebook size (per layer for scope=layer)")
    scope: Literal["global", "layer"] = Field("global", description="one codebook for all layers, or one each")
    split: Literal["each", "total"] = Field(
        "each", description="scope=layer: ``clusters`` per tensor, or ``clusters`` in all shared among the tensors"
    )
    max_iter: int = Field(100, ge=1, le=10_000, description="Lloyd iterations of k-means")
    finetune_epochs: float = Field(
        1.0, ge=0.0, le=1000.0, description="epochs of centroid (and other parameter) training; fractions allowed"
    )
    optimizer: Literal["sgd", "adam"] = Field(
        "sgd", description="fine-tuning optimiser: SGD with momentum, or Adam (for models trained with Adam)"
    )
    lr: float = Field(0.001, gt=0.0, le=10.0)
    momentum: float = Field(0.9, ge=0.0, lt=1.0)
    include_bias: bool = True
    keep_zeros: bool = Field(False, description="exact zeros stay zero and take no codebook entry")
    gradient: Literal["sum", "mean"] = Field("sum", description="centroid gradient: cluster sum (paper) or mean")
    skip_layers: tuple[str, ...] = ()
    seed: int = Field(0, ge=0)

    @classmethod
    def parse(cls, data: dict[str, object] | None) -> KMeansConfig:
        return cls(**dict(data or {}))


class SharedWeight(nn.Module):
    """Parametrisation ``_ -> codebook[indices]`` (zeros kept where ``zeros`` is set)."""

    indices: torch.Tensor
    zeros: torch.Tensor | None

    def __init__(self, codebook: nn.Parameter, indices: torch.Tensor, zeros: torch.Tensor | None) -> None:
        super().__init__()
        self.codebook = codebook
        self.register_buffer("indices", indices)
        self.register_buffer("zeros", zeros)

    def forward(self, original: torch.Tensor) -> torch.Tensor:
        shared = self.codebook[self.indices].to(original.dtype)
        if self.zeros is not None:
            shared = shared.masked_fill(self.zeros, 0.0)
        return shared


def linear_kmeans(values: np.ndarray, clusters: int, max_iter: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """1-D k-means of ``values`` from a linear initialisation: (centroids (k,), label of each value (n,))."""
    distinct = np.unique(values)
    if len(distinct) <= clusters:  # nothing to share: every distinct value is its own centroid
        return distinct, np.searchsorted(distinct, values)
    start = np.linspace(values.min(), values.max(), clusters).reshape(-1, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # empty clusters at the tails are expected
        fitted = KMeans(clusters, init=start, n_init=1, max_iter=max_iter, random_state=seed).fit(values.reshape(-1, 1))
    return fitted.cluster_centers_.ravel(), fitted.labels_


def layer_cluster_counts(sizes: Sequence[int], total: int) -> list[int]:
    """Codebook size of each tensor (element counts ``sizes``) when ``total`` centroids are shared among them.

    Equal shares, at least one each; the remainder goes to the largest tensors. A tensor never gets
    more centroids than it has elements.
    """
    if total < len(sizes):
        raise InvalidArgument.field(
            "config.clusters", f"{total} centroids cannot give each of the {len(sizes)} shared tensors one"
        )
    counts = [total // len(sizes)] * len(sizes)
    for index in sorted(range(len(sizes)), key=lambda i: -sizes[i])[: total - sum(counts)]:
        counts[index] += 1
    return [min(count, size) for count, size in zip(counts, sizes, strict=True)]


def _attach_codebooks(
    tensors: Sequence[tuple[str, nn.Module, str]], config: KMeansConfig
) -> list[tuple[nn.Module, str]]:
    """Cluster and register the parametrisations; returns (module, tensor name) of each."""
    groups = [list(tensors)] if config.scope == "global" else [[tensor] for tensor in tensors]
    if config.scope == "layer" and config.split == "total":
        tensor_sizes = [getattr(module, name).numel() for _, module, name in tensors]
        cluster_counts = layer_cluster_counts(tensor_sizes, config.clusters)
    else:
        cluster_counts = [config.clusters] * len(groups)
    attached = []
    for group, clusters in zip(groups, cluster_counts, strict=True):
        originals = [getattr(module, name).detach() for _, module, name in group]
        zero_masks = [(original == 0) if config.keep_zeros else None for original in originals]
        values = torch.cat([
            original.flatten()[~mask.flatten()] if mask is not None else original.flatten()
            for original, mask in zip(originals, zero_masks, strict=True)
        ]).double().numpy()
        if values.size == 0:
            continue  # an all-zero layer with keep_zeros: nothing to share
        centroids, labels = linear_kmeans(values, clusters, config.max_iter, config.seed)
        codebook = nn.Parameter(torch.tensor(centroids, dtype=originals[0].dtype))
        if config.gradient == "mean":
            sizes = torch.bincount(torch.from_numpy(labels.astype(np.int64)), minlength=len(centroids)).clamp_min(1)
            codebook.register_hook(lambda grad, sizes=sizes: grad / sizes.to(grad))  # grad's device too
        offset = 0
        for (_, module, name), original, mask in zip(group, originals, zero_masks, strict=True):
            indices = torch.zeros(original.numel(), dtype=torch.long)
            keep = ~mask.flatten() if mask is not None else torch.ones(original.numel(), dtype=torch.bool)
            count = int(keep.sum())
            indices[keep] = torch.from_numpy(labels[offset:offset + count].astype(np.int64))
            offset += count
            getattr(module, name).requires_grad_(False)  # the codebook, not the original, is trained
            parametrize.register_parametrization(
                module, name, SharedWeight(codebook, indices.reshape(original.shape), mask), unsafe=True
            )
            attached.append((module, name))
    return attached


def kmeans_weight_sharing(
    model: nn.Module,
    config: KMeansConfig,
    data: TrainData | None = None,
    evaluate: EvalFn | None = None,
    progress: ProgressFn | None = None,
) -> WeightSharingResult:
    """Share weights of a copy of ``model`` through k-means codebooks, then fine-tune the centroids.

    Rounds reported: 1 = after clustering, then one per fine-tuning epoch (a last partial one for a fraction).
    """
    if data is None and config.finetune_epochs > 0:
        raise InvalidArgument.field("data", f"fine-tuning for {config.finetune_epochs} epoch(s) needs training batches")
    check_supported(model)
    torch.manual_seed(config.seed)
    work = copy.deepcopy(model)
    tensors = shared_tensors(work, config.include_bias, config.skip_layers)
    rounds: list[RoundInfo] = []
    whole = int(config.finetune_epochs)
    chunks = [1.0] * whole + ([config.finetune_epochs - whole] if config.finetune_epochs > whole else [])
    total_rounds = 1 + len(chunks)
    started = time.perf_counter()
    attached = _attach_codebooks(tensors, config)

    def report(index: int, loss: float | None, message: str) -> None:
        count = unique_values(work, config.include_bias, config.skip_layers)
        info = RoundInfo(
            round=index, rounds=total_rounds, fixed_fraction=1.0, centres=count, unique_values=count,
            accuracy=evaluate_model(work, evaluate), train_loss=loss, seconds=time.perf_counter() - started,
            message=message,
        )
        report_round(rounds, progress, info)

    split = f", {config.split}" if config.scope == "layer" else ""
    report(1, None, f"clustered into {config.clusters} centroids ({config.scope}{split})")
    for epoch, epochs in enumerate(chunks):
        started = time.perf_counter()
        assert data is not None
        train_config = TrainConfig(epochs=epochs, lr=config.lr, optimizer=config.optimizer, momentum=config.momentum)
        loss = train(work, data, train_config)
        report(epoch + 2, loss, f"fine-tuned centroids, epoch {epoch + 1} ({epochs:g} of the data)")
    for module, name in attached:  # bake codebook[indices] into plain weights
        parametrize.remove_parametrizations(module, name, leave_parametrized=True)
        getattr(module, name).requires_grad_(True)
    work.eval()
    values = torch.cat([getattr(module, name).detach().flatten() for _, module, name in tensors])
    return WeightSharingResult(
        model=work,
        method=f"kmeans-{config.scope}",
        rounds=rounds,
        unique_values=unique_values(work, config.include_bias, config.skip_layers),
        layer_unique_values=layer_unique_values(work, config.include_bias, config.skip_layers),
        codebook=sorted(float(value) for value in torch.unique(values)),
        info={"shared_weights": int(values.numel()), "config": config.model_dump()},
    )
