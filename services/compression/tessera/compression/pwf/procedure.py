"""Probabilistic weight fixing (Subia-Waud & Dasmahapatra, NeurIPS 2023), the whole procedure.

1. Every Conv/Linear weight (and bias) of a copy of the model becomes Bayesian: mean = the trained
   value, sigma from its distance to powers of two (:mod:`.sigma`).
2. For each cumulative fraction of the schedule: train means and sigmas briefly (SGD, the sigma
   regulariser added to the gradients, fixed entries frozen), then fix weights to power-of-two
   centres until that fraction of all shared weights is fixed (:mod:`.clustering`).
3. At 100% every shared weight sits on a centre; the sigmas are dropped and the model is plain again.
"""

from __future__ import annotations

import copy
import math
import resource
import time

import torch
from torch import nn

from tessera.compression.pwf.bayes import BayesianTensor, unwrap_model, wrap_model
from tessera.compression.pwf.clustering import FixingState, fix_round
from tessera.compression.pwf.config import PWFConfig
from tessera.compression.pwf.layers import layer_unique_values, shared_values, unique_values
from tessera.compression.pwf.results import (
    EvalFn,
    ProgressFn,
    RoundInfo,
    WeightSharingResult,
    evaluate_model,
    report_round,
)
from tessera.compression.pwf.sigma import add_regulariser_gradient
from tessera.compression.training import TrainConfig, TrainData, train
from tessera.core.errors import InvalidArgument


def gather_state(tensors: list[BayesianTensor]) -> FixingState:
    """Concatenate means, sigmas and fixed masks of all wrapped tensors (float64 copies)."""
    return FixingState(
        means=torch.cat([t.mean.detach().flatten().double() for t in tensors]),
        sigmas=torch.cat([t.sigma.detach().flatten().double() for t in tensors]),
        fixed=torch.cat([t.gaussian.fixed.flatten() for t in tensors]),
    )


@torch.no_grad()
def scatter_state(state: FixingState, tensors: list[BayesianTensor]) -> None:
    """Write the fixed entries back into each tensor's mean/sigma and its frozen copies."""
    offset = 0
    for tensor in tensors:
        count = tensor.mean.numel()
        shape = tensor.mean.shape
        means = state.means[offset:offset + count].reshape(shape).to(tensor.mean.dtype)
        sigmas = state.sigmas[offset:offset + count].reshape(shape).to(tensor.sigma.dtype)
        fixed = state.fixed[offset:offset + count].reshape(shape)
        tensor.mean.copy_(means)
        tensor.sigma.copy_(sigmas)
        tensor.gaussian.fixed.copy_(fixed)
        tensor.gaussian.fixed_mean.copy_(torch.where(fixed, means, 0.0))
        tensor.gaussian.fixed_sigma.copy_(torch.where(fixed, sigmas, 0.0))
        offset += count


class FixedWeightGuard:
    """Optimiser hooks: regulariser + zero gradients before the step, re-imposed fixed values after it.

    Zeroed gradients alone would not freeze fixed weights: momentum and weight decay still move them.
    """

    def __init__(self, tensors: list[BayesianTensor], config: PWFConfig) -> None:
        self.tensors = tensors
        self.config = config
        self.freeze_sigma = config.sigma_join != "allow_retraining"

    @torch.no_grad()
    def after_backward(self) -> None:
        for tensor in self.tensors:
            fixed = tensor.gaussian.fixed
            if tensor.mean.grad is not None:
                tensor.mean.grad[fixed] = 0.0
            eps = tensor.gaussian.eps
            if eps is not None:
                frozen = fixed if self.freeze_sigma else torch.zeros_like(fixed)
                add_regulariser_gradient(tensor.sigma, eps, frozen, self.config.reg_weight, self.config.sigma_ceiling)

    @torch.no_grad()
    def after_step(self) -> None:
        for tensor in self.tensors:
            gaussian = tensor.gaussian
            tensor.mean.copy_(torch.where(gaussian.fixed, gaussian.fixed_mean, tensor.mean))
            # A sigma pushed below zero by a step means "certain": keep it at the floor, not negative.
            floored = tensor.sigma.clamp_min(self.config.sigma_floor)
            if self.freeze_sigma:
                floored = torch.where(gaussian.fixed, gaussian.fixed_sigma, floored)
            tensor.sigma.copy_(floored)


def _train_config(config: PWFConfig, epochs: float) -> TrainConfig:
    return TrainConfig(
        epochs=epochs, lr=config.lr, optimizer=config.optimizer, momentum=config.momentum,
        weight_decay=config.weight_decay, grad_clip=config.grad_clip,
    )


def probabilistic_weight_fixing(
    model: nn.Module,
    config: PWFConfig,
    data: TrainData | None,
    evaluate: EvalFn | None = None,
    progress: ProgressFn | None = None,
) -> WeightSharingResult:
    """Compress a copy of ``model`` to a few hundred power-of-two-sum values; ``progress`` after every round.

    ``data`` yields training batches for the retraining between rounds (None only when every
    round's epochs are 0). The input model is left untouched.
    """
    if data is None and (config.first_epochs > 0 or (config.epochs_per_round > 0 and len(config.schedule) > 1)):
        raise InvalidArgument.field("data", "PWF retrains between rounds: training batches are required")
    torch.manual_seed(config.seed)
    work = copy.deepcopy(model)
    tensors = wrap_model(
        work, config.include_bias, config.skip_layers, config.sigma_scale, config.sigma_floor, config.sigma_ceiling
    )
    guard = FixedWeightGuard(tensors, config)
    total = sum(tensor.mean.numel() for tensor in tensors)
    rounds: list[RoundInfo] = []
    for index, fraction in enumerate(config.schedule):
        started = time.perf_counter()
        epochs = config.first_epochs if index == 0 else config.epochs_per_round
        loss = None
        if data is not None and epochs > 0:
            loss = train(work, data, _train_config(config, epochs), guard.after_backward, guard.after_step)
        clustering_started = time.perf_counter()
        state = gather_state(tensors)
        outcome = fix_round(
            state, min(total, math.ceil(fraction * total)),
            delta=config.round_delta(index), delta_growth=config.delta_growth, max_terms=config.max_terms,
            lowest_exponent=config.lowest_exponent, zero_fix=config.zero_fix, sigma_join=config.sigma_join,
            count_fixed=config.count_fixed,
        )
        scatter_state(state, tensors)
        clustering_seconds = time.perf_counter() - clustering_started
        fixed_values = state.means[state.fixed]
        accuracy = evaluate_model(work, evaluate)
        info = RoundInfo(
            round=index + 1,
            rounds=len(config.schedule),
            fixed_fraction=float(state.fixed.double().mean()),
            centres=int(torch.unique(fixed_values).numel()),
            unique_values=int(torch.unique(state.means).numel()),
            accuracy=accuracy,
            train_loss=loss,
            seconds=time.perf_counter() - started,
            message=f"fixed {fraction:.1%} of {total} weights",
            extra={
                "new_centres": len(outcome.centres),
                "clustering_seconds": clustering_seconds,
                "delta": outcome.delta,
                "terms": outcome.terms,
                "sigma_mean_free": float(state.sigmas[~state.fixed].mean()) if not bool(state.fixed.all()) else 0.0,
                "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
            },
        )
        report_round(rounds, progress, info)
    unwrap_model(tensors)
    work.eval()
    values = shared_values(work, config.include_bias, config.skip_layers)
    codebook = sorted(float(value) for value in torch.unique(values))
    return WeightSharingResult(
        model=work,
        method="pwf",
        rounds=rounds,
        unique_values=unique_values(work, config.include_bias, config.skip_layers),
        layer_unique_values=layer_unique_values(work, config.include_bias, config.skip_layers),
        codebook=codebook,
        info={"shared_weights": total, "config": config.model_dump()},
    )

