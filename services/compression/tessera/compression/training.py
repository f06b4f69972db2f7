"""Supervised train/evaluate loops shared by the compression methods and the benchmarks.

Methods that need extra work around each optimiser step (PWF's sigma regulariser and frozen
fixed weights) pass ``after_backward`` / ``after_step`` hooks instead of owning a loop.
``TrainData.device`` moves only the training steps to an accelerator: the model goes there for
the run and comes back after it, so the methods' bookkeeping between runs (PWF's clustering,
k-means) stays on the CPU and needs no device handling of its own.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sized
from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from torch import nn

from tessera.core.errors import FieldViolation, InvalidArgument

Batch = tuple[torch.Tensor, torch.Tensor]
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Hook = Callable[[], None]


@dataclass
class TrainData:
    """Re-iterable batches ``(inputs, targets)`` (a DataLoader) and the loss on ``model(inputs)``.

    ``device``: where the training steps run ("cuda", "cuda:1"); None runs them where the model is.
    """

    batches: Iterable[Batch]
    loss_fn: LossFn = field(default=F.cross_entropy)
    device: str | None = None

    def training_device(self) -> torch.device | None:
        """``device`` parsed and checked; errors name ``data.device``."""
        if self.device is None:
            return None
        try:
            device = torch.device(self.device)
        except RuntimeError:
            raise InvalidArgument.field("data.device", f"{self.device!r} is not a torch device") from None
        if device.type == "cuda" and not torch.cuda.is_available():
            raise InvalidArgument.field("data.device", f"{self.device!r} asked for, but CUDA is not available here")
        return device

    def steps_per_epoch(self) -> int:
        if isinstance(self.batches, Sized):
            return len(self.batches)
        return sum(1 for _ in self.batches)


def config_error(error: ValidationError, prefix: str = "config") -> InvalidArgument:
    """One field violation per bad field of a pydantic config, under ``prefix``."""
    violations = []
    for item in error.errors():
        path = ".".join(str(part) for part in item["loc"])
        violations.append(FieldViolation(f"{prefix}.{path}" if path else prefix, item["msg"]))
    return InvalidArgument(violations)


class StrictConfig(BaseModel):
    """Frozen, no unknown fields; bad values raise InvalidArgument naming ``config.<field>``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def __init__(self, **data: object) -> None:
        try:
            super().__init__(**data)
        except ValidationError as error:
            raise config_error(error) from None


class TrainConfig(StrictConfig):
    """Optimiser and length of one training run (epochs over the caller's batches)."""

    epochs: float = Field(1.0, ge=0.0, le=1000.0, description="epochs; a fraction runs that share of one epoch")
    lr: float = Field(0.01, gt=0.0, le=10.0)
    optimizer: Literal["sgd", "adam"] = "sgd"
    momentum: float = Field(0.9, ge=0.0, lt=1.0)
    weight_decay: float = Field(0.0, ge=0.0, le=1.0)
    grad_clip: float | None = Field(None, gt=0.0, description="max gradient norm (None: no clipping)")
    schedule: Literal["constant", "cosine"] = "constant"


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    trainable = [parameter for parameter in model.parameters() if parameter.requires_grad]
    if config.optimizer == "adam":
        return torch.optim.Adam(trainable, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.SGD(trainable, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)


def train(
    model: nn.Module,
    data: TrainData,
    config: TrainConfig,
    after_backward: Hook | None = None,
    after_step: Hook | None = None,
) -> float:
    """Train ``model`` in place for ``config.epochs``; returns the mean training loss (nan if no step ran).

    ``after_backward`` runs between backward and the optimiser step (gradient surgery),
    ``after_step`` after each step (re-imposing constraints on the weights).
    """
    device = data.training_device()
    total_steps = math.ceil(config.epochs * data.steps_per_epoch())
    if total_steps == 0:
        return math.nan
    home = model_device(model)
    if device is not None:
        model.to(device)  # parameters keep their identity (data moved in place): callers' handles stay valid
    try:
        return _train_steps(model, data, config, total_steps, device, after_backward, after_step)
    finally:
        if device is not None:
            model.to(home)


def model_device(model: nn.Module) -> torch.device:
    """Device of the model's first parameter (CPU for a model without parameters)."""
    return next((parameter.device for parameter in model.parameters()), torch.device("cpu"))


def _train_steps(
    model: nn.Module,
    data: TrainData,
    config: TrainConfig,
    total_steps: int,
    device: torch.device | None,
    after_backward: Hook | None,
    after_step: Hook | None,
) -> float:
    optimizer = make_optimizer(model, config)
    scheduler = (
        torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps)
        if config.schedule == "cosine"
        else None
    )
    model.train()
    loss_sum = torch.zeros((), dtype=torch.float64, device=model_device(model))  # on the device: no sync per step
    steps = 0
    while steps < total_steps:
        for inputs, targets in data.batches:
            if device is not None:
                inputs, targets = inputs.to(device, non_blocking=True), targets.to(device, non_blocking=True)
            optimizer.zero_grad(set_to_none=True)
            loss = data.loss_fn(model(inputs), targets)
            loss.backward()
            if after_backward is not None:
                after_backward()
            if config.grad_clip is not None:
                nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            if after_step is not None:
                after_step()
            if scheduler is not None:
                scheduler.step()
            loss_sum += loss.detach()
            steps += 1
            if steps >= total_steps:
                break
    return float(loss_sum) / steps


@torch.no_grad()
def evaluate_accuracy(model: nn.Module, batches: Iterable[Batch]) -> float:
    """Top-1 accuracy in [0, 1] of ``model`` (switched to eval mode) over ``batches``."""
    model.eval()
    device = model_device(model)
    correct = seen = 0
    for inputs, targets in batches:
        correct += int((model(inputs.to(device)).argmax(dim=1) == targets.to(device)).sum())
        seen += len(targets)
    if seen == 0:
        raise InvalidArgument.field("data", "evaluation data holds no examples")
    return correct / seen


def accuracy_evaluator(batches: Iterable[Batch]) -> Callable[[nn.Module], float]:
    """``evaluate(model) -> accuracy`` over fixed ``batches``, the shape the methods take."""
    return lambda model: evaluate_accuracy(model, batches)
