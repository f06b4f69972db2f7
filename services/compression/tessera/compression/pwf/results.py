"""What the weight-sharing methods (PWF, k-means) return and report per round."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import nn

# evaluate(model) -> quality in [0, 1] (accuracy; Dice for segmentation), called in eval mode.
EvalFn = Callable[[nn.Module], float]


@dataclass(frozen=True)
class RoundInfo:
    """One round: ``fixed_fraction`` of the shared weights sit on ``centres`` distinct values, and the
    model as a whole holds ``unique_values`` distinct shared values (fixed or not)."""

    round: int
    rounds: int
    fixed_fraction: float
    centres: int
    unique_values: int
    accuracy: float | None
    train_loss: float | None
    seconds: float
    message: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


ProgressFn = Callable[[RoundInfo], None]


@dataclass
class WeightSharingResult:
    """The compressed model (a copy; the input is untouched), its codebook and per-round record."""

    model: nn.Module
    method: str
    rounds: list[RoundInfo]
    unique_values: int
    layer_unique_values: dict[str, int]
    codebook: list[float]
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def accuracy(self) -> float | None:
        return self.rounds[-1].accuracy if self.rounds else None


def report_round(rounds: list[RoundInfo], progress: ProgressFn | None, info: RoundInfo) -> None:
    """Keep ``info`` and hand it to the caller's callback."""
    rounds.append(info)
    if progress is not None:
        progress(info)


def evaluate_model(model: nn.Module, evaluate: EvalFn | None) -> float | None:
    """The caller's quality figure in eval mode (None without an evaluate function)."""
    if evaluate is None:
        return None
    was_training = model.training
    model.eval()
    quality = float(evaluate(model))
    model.train(was_training)
    return quality
