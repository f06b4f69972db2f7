"""Validation of :func:`estimate_training_accuracy`: train real two-layer networks on random data.

For each ``(d, N, L)`` of a grid, ``seeds`` independent datasets of ``N`` points drawn uniformly
from ``[0, 1]^d`` with two balanced random classes are fitted by a two-layer fully connected
network (``d -> L`` ReLU ``-> 1`` logit, binary cross-entropy, Adam, full batch). The measured
figure is the best training accuracy reached during training (the quantity the estimate is
for), averaged over seeds. All seeds of one grid cell train at once as one batched network.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch

from tessera.compression.estimation import estimate_training_accuracy, validate_arguments
from tessera.core.errors import InvalidArgument


@dataclass(frozen=True)
class TrainingConfig:
    """How the networks are trained: ``epochs`` full-batch Adam steps at learning rate ``lr``."""

    epochs: int = 3000
    lr: float = 0.02
    seeds: int = 4

    def validate(self) -> None:
        if self.epochs < 1:
            raise InvalidArgument.field("epochs", f"must be at least 1, got {self.epochs}")
        if not (0 < self.lr <= 1):
            raise InvalidArgument.field("lr", f"must be in (0, 1], got {self.lr}")
        if self.seeds < 1:
            raise InvalidArgument.field("seeds", f"must be at least 1, got {self.seeds}")


@dataclass(frozen=True)
class CellResult:
    """One grid cell: the estimate, the measured training accuracies (fractions) and their gap."""

    d: int
    n: int
    l: int  # noqa: E741 (the paper's symbol)
    estimate: float
    measured_mean: float
    measured_std: float
    measured_min: float
    measured_max: float

    @property
    def abs_error(self) -> float:
        return abs(self.estimate - self.measured_mean)

    def as_dict(self) -> dict[str, float]:
        return {**asdict(self), "abs_error": self.abs_error}


@dataclass(frozen=True)
class ValidationSummary:
    cells: list[CellResult]

    @property
    def mean_abs_error(self) -> float:
        return float(np.mean([c.abs_error for c in self.cells]))

    @property
    def max_abs_error(self) -> float:
        return float(np.max([c.abs_error for c in self.cells]))


def random_two_class(d: int, n: int, seeds: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``seeds`` random datasets: inputs ``(seeds, n, d)`` uniform in [0, 1], labels ``(seeds, n)``
    in {0., 1.} with ``n // 2`` of class 1 in each (balanced, randomly placed)."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(seeds, n, d, generator=gen)
    base = (torch.arange(n) < n // 2).float()
    y = torch.stack([base[torch.randperm(n, generator=gen)] for _ in range(seeds)])
    return x, y


def max_training_accuracy(x: torch.Tensor, y: torch.Tensor, hidden: int, config: TrainingConfig,
                          seed: int = 0) -> torch.Tensor:
    """Best training accuracy reached by a ``d -> hidden -> 1`` ReLU network on each dataset.

    ``x``: ``(S, N, d)`` inputs, ``y``: ``(S, N)`` labels in {0, 1}; returns ``(S,)`` fractions.
    Each of the S datasets gets its own network (batched weights, one Adam optimiser).
    """
    s, _, d = x.shape
    gen = torch.Generator().manual_seed(seed + 7919)
    # Centred, unit-variance inputs: the hyperplanes start through the data, as a standard
    # preprocessing would have them (uniform [0,1] data would otherwise sit off-centre).
    x = (x - x.mean(dim=1, keepdim=True)) / (x.std(dim=1, keepdim=True) + 1e-8)
    w1 = (torch.randn(s, d, hidden, generator=gen) * math.sqrt(2.0 / d)).requires_grad_()
    b1 = (torch.randn(s, 1, hidden, generator=gen) * 0.1).requires_grad_()
    w2 = (torch.randn(s, hidden, 1, generator=gen) * math.sqrt(1.0 / hidden)).requires_grad_()
    b2 = torch.zeros(s, 1, 1, requires_grad=True)
    params = [w1, b1, w2, b2]
    optimiser = torch.optim.Adam(params, lr=config.lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=config.epochs, eta_min=config.lr * 0.05)
    best = torch.zeros(s)
    for _ in range(config.epochs):
        logits = (torch.relu(torch.baddbmm(b1, x, w1)) @ w2 + b2).squeeze(-1)
        with torch.no_grad():
            best = torch.maximum(best, ((logits > 0).float() == y).float().mean(dim=1))
        # Sum over datasets: each network's gradient is its own loss's (no coupling between seeds).
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, y, reduction="none").mean(dim=1).sum()
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        schedule.step()
    with torch.no_grad():
        logits = (torch.relu(torch.baddbmm(b1, x, w1)) @ w2 + b2).squeeze(-1)
        best = torch.maximum(best, ((logits > 0).float() == y).float().mean(dim=1))
    return best


def validate_cell(d: int, n: int, hidden: int, config: TrainingConfig, seed: int = 0) -> CellResult:
    """Estimate vs measured training accuracy for one ``(d, N, L)``."""
    validate_arguments(d, n, hidden)
    config.validate()
    cell_seed = seed + 1_000_003 * d + 1009 * n + hidden
    x, y = random_two_class(d, n, config.seeds, seed=cell_seed)
    measured = max_training_accuracy(x, y, hidden, config, seed=cell_seed).numpy()
    return CellResult(d=d, n=n, l=hidden, estimate=estimate_training_accuracy(d, n, hidden),
                      measured_mean=float(measured.mean()), measured_std=float(measured.std()),
                      measured_min=float(measured.min()), measured_max=float(measured.max()))


def validate_grid(grid: Iterable[tuple[int, int, int]], config: TrainingConfig | None = None,
                  seed: int = 0) -> ValidationSummary:
    """Run :func:`validate_cell` over ``(d, N, L)`` triples; the summary gives mean and max |error|."""
    config = config or TrainingConfig()
    cells = [validate_cell(d, n, hidden, config, seed) for d, n, hidden in grid]
    if not cells:
        raise InvalidArgument.field("grid", "must hold at least one (d, N, L) triple")
    return ValidationSummary(cells)


def product_grid(dims: Sequence[int], points: Sequence[int], hidden: Sequence[int]) -> list[tuple[int, int, int]]:
    """Every ``(d, N, L)`` combination, in the order d, then N, then L."""
    return [(d, n, h) for d in dims for n in points for h in hidden]
