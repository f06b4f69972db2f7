"""Movement pruning for fine-tuning (Sanh, Wolf & Rush 2020), hard variant.

Each Conv/Linear weight W gets a score S of its shape. The forward uses W' = W * M with M the top
(1 - s_t) of S in that layer (``scope="global"``: over all layers); by the straight-through estimator
S receives dL/dS = dL/dW' * W, so plain SGD on S accumulates S <- S - lr_s * dL/dW' * W: weights
moving away from zero gain score. The sparsity s_t follows the cubic schedule from 0 to
``final_sparsity`` between a warm-up and a cool-down share of the steps. Masks live in
torch.nn.utils.prune's ``weight_mask`` buffers; the score update reads dL/dW' from a hook on the
masked weight that prune recomputes every forward.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from tessera.compression.pruning.config import MovementConfig
from tessera.compression.pruning.finetune import TrainData, require_data, train
from tessera.compression.pruning.layers import (
    check_supported,
    compressible_layers,
    ensure_mask,
    layer_sparsity,
    make_permanent,
    sparsity,
)
from tessera.compression.pruning.results import EvalFn, MethodResult, ProgressFn, StepInfo, evaluate_model, report_step


def movement_sparsity(step: int, total_steps: int, config: MovementConfig) -> float:
    """Cubic schedule: 0 during warm-up, ``final_sparsity`` during cool-down, cubic in between."""
    start = config.warmup_fraction * total_steps
    end = (1.0 - config.cooldown_fraction) * total_steps
    if step <= start:
        return 0.0
    progress = min((step - start) / max(end - start, 1.0), 1.0)
    return config.final_sparsity * (1.0 - (1.0 - progress) ** 3)


def topk_mask(scores: torch.Tensor, keep_fraction: float) -> torch.Tensor:
    """0/1 mask of the ``round(keep_fraction * n)`` highest scores (at least one)."""
    keep = max(1, round(keep_fraction * scores.numel()))
    flat = torch.zeros(scores.numel(), dtype=scores.dtype)
    flat[scores.flatten().topk(keep).indices] = 1.0
    return flat.view_as(scores)


class _ScoreTracker:
    """Accumulates S -= lr * dL/dW' * W for one module through a hook on prune's masked weight."""

    def __init__(self, module: nn.Module, lr: float):
        self.module = module
        self.lr = lr
        self.scores = torch.zeros_like(module.weight_orig)  # type: ignore[arg-type]
        self.handle: RemovableHandle = module.register_forward_pre_hook(self._hook)

    def _hook(self, module: nn.Module, _inputs: object) -> None:
        weight = module.weight
        if torch.is_grad_enabled() and isinstance(weight, torch.Tensor) and weight.requires_grad:
            weight.register_hook(self._accumulate)

    def _accumulate(self, grad: torch.Tensor) -> None:
        self.scores.sub_(self.lr * grad.detach() * self.module.weight_orig.detach())  # type: ignore[operator]


def movement_prune(
    model: nn.Module,
    config: MovementConfig,
    data: TrainData,
    evaluate: EvalFn | None = None,
    progress: ProgressFn | None = None,
) -> MethodResult:
    """Fine-tune ``model`` on ``data`` while pruning by movement scores to ``config.final_sparsity``."""
    check_supported(model)
    require_data(data, config.finetune_epochs)
    pruned = copy.deepcopy(model)
    layers = compressible_layers(pruned, config.skip_layers)
    trackers = []
    for _, module in layers:
        ensure_mask(module)  # registers prune's hook first, so our hook sees the recomputed W'
        trackers.append(_ScoreTracker(module, config.lr))
    total_steps = config.finetune_epochs * data.steps_per_epoch()
    updates = max(1, total_steps // config.update_every)
    steps: list[StepInfo] = []

    def on_step(step: int) -> None:
        if step % config.update_every and step != total_steps:
            return
        target = movement_sparsity(step, total_steps, config)
        with torch.no_grad():
            if config.scope == "global":
                flat = topk_mask(torch.cat([t.scores.flatten() for t in trackers]), 1.0 - target)
                for tracker, part in zip(trackers, flat.split([t.scores.numel() for t in trackers]), strict=True):
                    tracker.module.weight_mask.copy_(part.view_as(tracker.scores))  # type: ignore[operator]
            else:
                for tracker in trackers:
                    tracker.module.weight_mask.copy_(topk_mask(tracker.scores, 1.0 - target))  # type: ignore[operator]
        index = min(step // config.update_every, updates)
        message = f"step {step}: target {target:.3f}"
        report_step(steps, progress, StepInfo(index, updates, sparsity(layers), None, message))

    train(pruned, data, config, on_step=on_step)
    for tracker in trackers:
        tracker.handle.remove()
    make_permanent(pruned)
    report_step(steps, progress, StepInfo(updates, updates, sparsity(layers), evaluate_model(pruned, evaluate), "done"))
    return MethodResult(pruned, "movement", steps, sparsity(layers), layer_sparsity(layers),
                       info={"optimizer_steps": total_steps})
