"""What every method returns and reports while it runs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import nn

# evaluate(model) -> quality in [0, 1] (accuracy, or Dice for segmentation models); called in eval mode.
EvalFn = Callable[[nn.Module], float]


@dataclass(frozen=True)
class StepInfo:
    """One reported step: a pruning event, a round, or the end of fine-tuning.

    ``step``/``total`` count the method's own steps (events or rounds), ``sparsity`` is the fraction of
    zero Conv/Linear weights after the step, ``accuracy`` the caller's evaluate() (None without one).
    """

    step: int
    total: int
    sparsity: float
    accuracy: float | None = None
    message: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


ProgressFn = Callable[[StepInfo], None]


@dataclass
class MethodResult:
    """The compressed model (a copy; the input is left untouched) and how it got there.

    ``structure``: "unstructured" (zeros inside dense tensors), "semi-structured" (N:M zeros),
    "physical" (channels removed: the tensors are smaller), "masks" (whole channels zeroed in place)
    or "mixed" (some layers shrunk, others only masked; see ``info["masked_layers"]``).
    """

    model: nn.Module
    method: str
    steps: list[StepInfo]
    sparsity: float
    layer_sparsity: dict[str, float]
    structure: str = "unstructured"
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def accuracy(self) -> float | None:
        return self.steps[-1].accuracy if self.steps else None


def report_step(steps: list[StepInfo], progress: ProgressFn | None, info: StepInfo) -> None:
    """Keep ``info`` and hand it to the caller's progress callback."""
    steps.append(info)
    if progress is not None:
        progress(info)


def evaluate_model(model: nn.Module, evaluate: EvalFn | None) -> float | None:
    """The caller's quality figure in eval mode, or None when no evaluate() was given."""
    if evaluate is None:
        return None
    model.eval()
    return float(evaluate(model))
