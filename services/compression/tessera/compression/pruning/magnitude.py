"""Magnitude pruning: one-shot global or layer-wise, and gradual (Zhu & Gupta 2017).

Masks come from torch.nn.utils.prune (``global_unstructured`` / ``l1_unstructured``); fine-tuning runs
with the masks in place so pruned weights stay zero, and the masks are baked in at the end.
"""

from __future__ import annotations

import copy
import math

from torch import nn
from torch.nn.utils import prune

from tessera.compression.pruning.config import GradualConfig, MagnitudeConfig
from tessera.compression.pruning.finetune import TrainData, require_data, train
from tessera.compression.pruning.layers import (
    check_supported,
    compressible_layers,
    layer_sparsity,
    make_permanent,
    sparsity,
    weight_tensor,
)
from tessera.compression.pruning.results import EvalFn, MethodResult, ProgressFn, StepInfo, evaluate_model, report_step


def cubic_sparsity(step: int, config: GradualConfig) -> float:
    """Zhu & Gupta's target sparsity at optimiser step ``step`` (constant before t0 and after t0 + n dt)."""
    span = config.num_events * config.prune_every
    progress = min(max((step - config.start_step) / span, 0.0), 1.0)
    return config.final_sparsity + (config.initial_sparsity - config.final_sparsity) * (1.0 - progress) ** 3


def prune_global_to(layers: list[tuple[str, nn.Module]], target: float) -> None:
    """Raise the global sparsity of ``layers`` to ``target`` by magnitude (never un-prunes).

    prune's amount on an already-pruned tensor counts *remaining* weights, so the extra count is
    passed as an integer.
    """
    total = sum(weight_tensor(m).numel() for _, m in layers)
    wanted = round(target * total)
    extra = wanted - round(sparsity(layers) * total)
    if extra <= 0:
        return
    prune.global_unstructured(
        [(m, "weight") for _, m in layers], pruning_method=prune.L1Unstructured, amount=extra
    )


def magnitude_prune(
    model: nn.Module,
    config: MagnitudeConfig,
    data: TrainData | None = None,
    evaluate: EvalFn | None = None,
    progress: ProgressFn | None = None,
) -> MethodResult:
    """One-shot magnitude pruning to ``config.sparsity`` (global or per layer), then fine-tuning."""
    check_supported(model)
    require_data(data, config.finetune_epochs)
    pruned = copy.deepcopy(model)
    layers = compressible_layers(pruned, config.skip_layers)
    steps: list[StepInfo] = []
    if config.scope == "global":
        prune_global_to(layers, config.sparsity)
    else:
        for _, module in layers:
            prune.l1_unstructured(module, "weight", amount=config.sparsity)
    report_step(steps, progress, StepInfo(1, 2, sparsity(layers), evaluate_model(pruned, evaluate), "pruned"))
    if data is not None and config.finetune_epochs > 0:
        train(pruned, data, config)
    make_permanent(pruned)
    report_step(steps, progress, StepInfo(2, 2, sparsity(layers), evaluate_model(pruned, evaluate), "fine-tuned"))
    return MethodResult(pruned, f"magnitude-{config.scope}", steps, sparsity(layers), layer_sparsity(layers))


def gradual_magnitude_prune(
    model: nn.Module,
    config: GradualConfig,
    data: TrainData,
    evaluate: EvalFn | None = None,
    progress: ProgressFn | None = None,
) -> MethodResult:
    """Gradual magnitude pruning during training along the cubic schedule (global magnitude ranking).

    Events at t0, t0 + dt, ..., t0 + n dt optimiser steps; if the epochs end before the last event the
    final sparsity is applied once at the end (and reported), so the result always reaches it.
    """
    check_supported(model)
    require_data(data, config.finetune_epochs)
    pruned = copy.deepcopy(model)
    layers = compressible_layers(pruned, config.skip_layers)
    steps: list[StepInfo] = []
    event_steps = [config.start_step + k * config.prune_every for k in range(config.num_events + 1)]
    total = len(event_steps)

    def on_step(step: int) -> None:
        if step in event_steps:
            prune_global_to(layers, cubic_sparsity(step, config))
            index = event_steps.index(step) + 1
            report_step(steps, progress, StepInfo(index, total, sparsity(layers), None, f"event at step {step}"))

    if config.start_step == 0:
        prune_global_to(layers, config.initial_sparsity)
    steps_taken = train(pruned, data, config, on_step=on_step)
    if sparsity(layers) + 1e-9 < config.final_sparsity:
        prune_global_to(layers, config.final_sparsity)
        train(pruned, data, config, epochs=1)  # one recovery epoch after the forced final event
    make_permanent(pruned)
    report_step(steps, progress, StepInfo(total, total, sparsity(layers), evaluate_model(pruned, evaluate), "done"))
    return MethodResult(
        pruned, "gmp", steps, sparsity(layers), layer_sparsity(layers),
        info={"optimizer_steps": steps_taken, "schedule_steps": event_steps,
              "schedule": [round(cubic_sparsity(s, config), 6) for s in event_steps],
              "final_event_forced": not math.isclose(steps_taken, event_steps[-1]) and steps_taken < event_steps[-1]},
    )
