"""Lottery-ticket iterative magnitude pruning with rewinding (Frankle & Carbin 2019; Frankle et al. 2020).

Train the dense network, remembering its weights after ``rewind_step`` optimiser steps (0 = the
initialisation, the original lottery ticket). Then, per round: prune ``prune_fraction`` of the
remaining Conv/Linear weights by global magnitude, reset every surviving parameter (and the norms'
running statistics) to the remembered values, and retrain with the mask. Give the model as it
should start training (its current weights are the initialisation).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from tessera.compression.pruning.config import LotteryConfig
from tessera.compression.pruning.finetune import TrainData, require_data, train
from tessera.compression.pruning.layers import (
    check_supported,
    compressible_layers,
    layer_sparsity,
    make_permanent,
    sparsity,
)
from tessera.compression.pruning.magnitude import prune_global_to
from tessera.compression.pruning.results import EvalFn, MethodResult, ProgressFn, StepInfo, evaluate_model, report_step


def _snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    """Parameters and buffers by their unpruned names (``weight_orig`` is stored as ``weight``)."""
    state = {}
    for name, tensor in model.state_dict().items():
        if name.endswith("_mask"):
            continue
        state[name.removesuffix("_orig")] = tensor.detach().clone()
    return state


def _rewind(model: nn.Module, snapshot: dict[str, torch.Tensor]) -> None:
    """Copy the snapshot back in place; pruned tensors receive it in ``*_orig`` (the mask stays)."""
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if name.endswith("_mask"):
                continue
            tensor.copy_(snapshot[name.removesuffix("_orig")])


def lottery_ticket(
    model: nn.Module,
    config: LotteryConfig,
    data: TrainData,
    evaluate: EvalFn | None = None,
    progress: ProgressFn | None = None,
) -> MethodResult:
    """Find a winning ticket at ``config.final_sparsity`` after ``config.rounds`` prune-rewind-retrain rounds."""
    check_supported(model)
    require_data(data, config.finetune_epochs)
    ticket = copy.deepcopy(model)
    layers = compressible_layers(ticket, config.skip_layers)
    steps: list[StepInfo] = []
    rewind_point = _snapshot(ticket)
    if config.rewind_step > 0:
        train(ticket, data, config, epochs=10**6, max_steps=config.rewind_step)
        rewind_point = _snapshot(ticket)
    taken = config.rewind_step + train(ticket, data, config)
    dense_accuracy = evaluate_model(ticket, evaluate)
    report_step(steps, progress, StepInfo(0, config.rounds, sparsity(layers), dense_accuracy, "dense training"))
    for round_index in range(1, config.rounds + 1):
        target = 1.0 - (1.0 - config.prune_fraction) ** round_index
        prune_global_to(layers, target)
        _rewind(ticket, rewind_point)
        train(ticket, data, config)
        report_step(steps, progress, StepInfo(
            round_index, config.rounds, sparsity(layers), evaluate_model(ticket, evaluate), f"round {round_index}",
        ))
    make_permanent(ticket)
    return MethodResult(
        ticket, "lth", steps, sparsity(layers), layer_sparsity(layers),
        info={"dense_accuracy": dense_accuracy, "rewind_step": config.rewind_step, "dense_steps": taken},
    )
