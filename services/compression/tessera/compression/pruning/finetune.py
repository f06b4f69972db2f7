"""A minimal supervised loop for the fine-tuning between/while pruning (the caller owns the data).

The loop calls ``on_step(step)`` after every optimiser step so a method can update its masks
(gradual and movement pruning) without owning the loop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from tessera.compression.pruning.config import FinetuneConfig
from tessera.core.errors import InvalidArgument

Batch = tuple[torch.Tensor, torch.Tensor]
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class TrainData:
    """Re-iterable batches ``(inputs, targets)`` (a DataLoader) and the loss on ``model(inputs)``."""

    batches: Iterable[Batch]
    loss_fn: LossFn = field(default=F.cross_entropy)

    def steps_per_epoch(self) -> int:
        try:
            return len(self.batches)  # type: ignore[arg-type]
        except TypeError:
            return sum(1 for _ in self.batches)


def require_data(data: TrainData | None, epochs: int) -> TrainData | None:
    """Fine-tuning needs data: say so by field instead of failing inside the loop."""
    if data is None and epochs > 0:
        raise InvalidArgument.field("data", f"fine-tuning for {epochs} epoch(s) needs training batches")
    return data


def make_optimizer(params: Iterable[torch.nn.Parameter], config: FinetuneConfig) -> torch.optim.Optimizer:
    trainable = [p for p in params if p.requires_grad]
    if config.optimizer == "adam":
        return torch.optim.Adam(trainable, lr=config.lr)
    return torch.optim.SGD(trainable, lr=config.lr, momentum=config.momentum)


def train(
    model: nn.Module,
    data: TrainData,
    config: FinetuneConfig,
    epochs: int | None = None,
    on_step: Callable[[int], None] | None = None,
    max_steps: int | None = None,
) -> int:
    """Train ``epochs`` (default ``config.finetune_epochs``) or ``max_steps``; return optimiser steps taken."""
    optimizer = make_optimizer(model.parameters(), config)
    n_epochs = config.finetune_epochs if epochs is None else epochs
    step = 0
    model.train()
    for _ in range(n_epochs):
        for inputs, targets in data.batches:
            if max_steps is not None and step >= max_steps:
                model.eval()
                return step
            optimizer.zero_grad(set_to_none=True)
            loss = data.loss_fn(model(inputs), targets)
            loss.backward()
            optimizer.step()
            step += 1
            if on_step is not None:
                on_step(step)
    model.eval()
    return step
