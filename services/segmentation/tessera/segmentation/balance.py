"""Greedy multi-modal learning: measuring and steering how much a multi-contrast network uses each contrast.

After Wu et al. 2022, "Characterizing and overcoming the greedy nature of learning in multi-modal deep neural
networks" (ICML). A network fed several inputs tends to lean on the one it learns fastest and under-fit the others.

* :func:`conditional_utilisation` measures it after training: the relative gain in a metric from adding
  contrast ``m`` to the others, ``u(m) = (A(all) - A(all without m)) / A(all)``.
* :class:`ConditionalLearningSpeed` tracks it during training: per branch, the cumulative learning speed
  ``S_m(t) = sum_{i<=t} ||grad theta_m(i)||^2 / ||theta_m(i)||^2`` of the branch's encoder parameters; the
  imbalance is ``log10(S_fast / S_slow)`` between the fastest and slowest branch.
* :class:`BalancedScheduler` is the paper's balancing algorithm: once the imbalance passes a threshold,
  the next ``window`` optimiser steps are re-balancing steps for the slowest branch.

How this maps onto our architecture (one encoder per contrast, fused in a shared decoder). The paper's
models have cross-modal fusion layers inside each uni-modal branch; its conditional learning speed of a
branch compares the speed of those fusion parameters with the branch's own, and a re-balancing step cuts
the other modality's flow into the slow branch (replacing it by its training-set average). Our branches
meet only in the decoder, so there is no per-branch fusion parameter to compare against: the speed of each
encoder is compared directly. A re-balancing step updates only the slow branch's encoder plus the shared
decoder (the faster encoders are frozen for the step); optionally (``StepPlan.drop``) the faster contrasts
are also fed as missing, the counterpart of the paper's cut. On our synthetic task the cut variant made the
encoder speeds flip back and forth and pushed the model further onto the dominant contrast, so training
defaults to freezing only. As in the reference code, the speeds accumulate over regular steps only, and
balancing starts after a warm-up.

Missing contrast. Inputs are z-scored per volume and contrast, so a missing contrast is filled with zeros:
the contrast's mean intensity everywhere, carrying no spatial information. This is the input-space
counterpart of the paper's choice (the missing modality's fusion features replaced by their mean). The same
fill is used to measure the utilisation rate, in re-balancing steps and for a contrast missing at inference.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn

from tessera.core.errors import FieldViolation, InvalidArgument

MISSING_CONTRAST_FILL = 0.0
"""Value a missing contrast's channel takes (inputs are z-scored, so this is the contrast's mean)."""


@runtime_checkable
class MultiBranchModel(Protocol):
    """A segmentation network with one encoder branch per input contrast.

    ``contrasts`` names the input channels in order (e.g. ``("T1w", "T2w", "FLAIR")``).
    ``forward(x, drop_contrasts)`` takes ``x`` of shape [B, C, D, H, W] (C = len(contrasts), z-scored) and
    returns logits [B, K, D, H, W]; a contrast named in ``drop_contrasts`` is treated as missing (its channel
    filled with :data:`MISSING_CONTRAST_FILL`; the caller fills it too, so a model may simply ignore it).
    ``branch_parameters()`` maps each contrast to the parameters of its encoder branch; every other
    parameter is shared (the decoder).
    """

    @property
    def contrasts(self) -> Sequence[str]: ...

    # nn.Module's own __call__ (runs hooks, then forward); typed loosely as torch types it.
    __call__: Callable[..., Any]

    def branch_parameters(self) -> dict[str, list[nn.Parameter]]: ...

    def forward(self, x: torch.Tensor, drop_contrasts: Collection[str] = ...) -> torch.Tensor: ...

    def parameters(self, recurse: bool = ...) -> Iterable[nn.Parameter]: ...

    def train(self, mode: bool = ...) -> nn.Module: ...

    def eval(self) -> nn.Module: ...


def fill_missing_contrasts(x: torch.Tensor, contrasts: Sequence[str], missing: Collection[str]) -> torch.Tensor:
    """Return a copy of ``x`` [B, C, ...] with the channels of ``missing`` set to :data:`MISSING_CONTRAST_FILL`.

    Raises :class:`InvalidArgument` for a contrast the model does not know.
    """
    unknown = sorted(set(missing) - set(contrasts))
    if unknown:
        raise InvalidArgument.field("drop_contrasts", f"unknown contrast(s) {unknown}; model has {list(contrasts)}")
    if not missing:
        return x
    filled = x.clone()
    for name in missing:
        filled[:, list(contrasts).index(name)] = MISSING_CONTRAST_FILL
    return filled


def conditional_utilisation(metric_all: float, metric_without: Mapping[str, float]) -> dict[str, float]:
    """Conditional utilisation rate of each contrast: ``u(m) = (metric_all - metric_without[m]) / metric_all``.

    ``metric_all`` is the metric (higher is better, e.g. mean foreground Dice) with every contrast present;
    ``metric_without[m]`` the same metric with ``m`` missing and the others present. ``u(m)`` is the
    fraction of the model's performance that adding ``m`` to the other contrasts brings; with two contrasts
    this is exactly the paper's ``u(m1 | m0)``. Balanced models have similar rates; a large gap means the model
    leans on one contrast. Rates can be negative (the contrast hurts) and are at most 1 for a metric >= 0.
    """
    if not math.isfinite(metric_all) or metric_all <= 0.0:
        raise InvalidArgument.field("metric_all", f"must be a finite positive metric, got {metric_all}")
    bad = [FieldViolation(f"metric_without.{m}", f"must be finite, got {v}")
           for m, v in metric_without.items() if not math.isfinite(v)]
    if bad:
        raise InvalidArgument(bad)
    return {m: (metric_all - v) / metric_all for m, v in metric_without.items()}


def utilisation_gap(rates: Mapping[str, float]) -> float:
    """Spread ``max(u) - min(u)`` of conditional utilisation rates; 0 means perfectly balanced."""
    if not rates:
        raise InvalidArgument.field("rates", "no utilisation rates given")
    return max(rates.values()) - min(rates.values())


@dataclass(frozen=True)
class SpeedSnapshot:
    """Conditional learning speeds after one regular optimiser step.

    ``speeds``: cumulative learning speed per branch (dimensionless, sum over steps of ||g||^2/||theta||^2).
    ``imbalance``: ``log10(max speed / min speed)`` >= 0; ``fastest``/``slowest``: the branches at each end.
    """

    step: int
    speeds: dict[str, float]
    imbalance: float
    fastest: str
    slowest: str


class ConditionalLearningSpeed:
    """Tracks per-branch cumulative learning speed; call :meth:`update` after each regular backward pass.

    The step's learning speed of a branch is ``sum_p ||grad p||^2 / sum_p ||p||^2`` over the branch's
    parameters ``p`` (a relative update size, independent of the branch's scale), accumulated over steps.
    Gradients must still be present when :meth:`update` runs (after ``backward``, before ``zero_grad``;
    after ``optimizer.step()`` is fine).
    """

    def __init__(self, branches: Collection[str]):
        if len(branches) < 2:
            raise InvalidArgument.field("branches", f"need at least two branches to compare, got {list(branches)}")
        self._cumulative: dict[str, float] = {b: 0.0 for b in branches}
        self.steps = 0

    @staticmethod
    def step_speed(params: Iterable[nn.Parameter]) -> float:
        """Learning speed ``||g||^2 / ||theta||^2`` of one parameter group at the current step."""
        grad_sq = 0.0
        weight_sq = 0.0
        for p in params:
            weight_sq += float(p.detach().pow(2).sum())
            if p.grad is not None:
                grad_sq += float(p.grad.detach().pow(2).sum())
        if weight_sq == 0.0:
            return 0.0
        return grad_sq / weight_sq

    def update(self, branch_params: Mapping[str, Iterable[nn.Parameter]]) -> SpeedSnapshot:
        """Add this step's speed of every branch and return the cumulative speeds and the imbalance."""
        if set(branch_params) != set(self._cumulative):
            raise InvalidArgument.field(
                "branch_params", f"branches {sorted(branch_params)} differ from tracked {sorted(self._cumulative)}"
            )
        for name, params in branch_params.items():
            self._cumulative[name] += self.step_speed(params)
        self.steps += 1
        return self.snapshot()

    def snapshot(self) -> SpeedSnapshot:
        """Current cumulative speeds and imbalance (0 imbalance until every branch has moved)."""
        speeds = dict(self._cumulative)
        fastest = max(speeds, key=lambda b: speeds[b])
        slowest = min(speeds, key=lambda b: speeds[b])
        if speeds[slowest] <= 0.0:
            # A branch that has not moved yet (no gradient): no meaningful ratio, report balanced.
            imbalance = 0.0 if speeds[fastest] <= 0.0 else math.inf
        else:
            imbalance = math.log10(speeds[fastest] / speeds[slowest])
        return SpeedSnapshot(self.steps, speeds, imbalance, fastest, slowest)


@dataclass
class StepPlan:
    """What the next optimiser step does: regular (``focus`` None) or re-balancing for branch ``focus``.

    In a re-balancing step only ``focus``'s encoder and the shared parameters are updated; ``drop`` lists the
    other contrasts, which the trainer may feed as missing (the paper's cut of their flow).
    """

    focus: str | None = None
    drop: frozenset[str] = field(default_factory=frozenset)

    @property
    def rebalancing(self) -> bool:
        return self.focus is not None


class BalancedScheduler:
    """The balancing algorithm: alternate regular steps with windows of re-balancing steps.

    After each regular step (once ``start_step`` regular steps have passed, the warm-up) the caller passes
    the :class:`SpeedSnapshot`; if its imbalance exceeds ``threshold`` (log10 units), the next ``window``
    steps re-balance towards the slowest branch. Speeds are only fed on regular steps, as in the paper's code.
    """

    def __init__(self, branches: Collection[str], threshold: float, window: int, start_step: int = 0):
        if not threshold >= 0.0:
            raise InvalidArgument.field("threshold", f"must be >= 0, got {threshold}")
        if window < 1:
            raise InvalidArgument.field("window", f"must be >= 1, got {window}")
        if start_step < 0:
            raise InvalidArgument.field("start_step", f"must be >= 0, got {start_step}")
        self.branches = frozenset(branches)
        self.threshold = threshold
        self.window = window
        self.start_step = start_step
        self._remaining = 0
        self._focus: str | None = None
        self._regular_steps = 0
        self.rebalancing_steps = 0

    def next_step(self) -> StepPlan:
        """Plan the coming optimiser step (call once per step, before the forward pass)."""
        if self._remaining > 0 and self._focus is not None:
            self._remaining -= 1
            self.rebalancing_steps += 1
            return StepPlan(self._focus, self.branches - {self._focus})
        return StepPlan()

    def observe(self, snapshot: SpeedSnapshot) -> None:
        """Feed the speeds measured on the regular step just taken; may open a re-balancing window."""
        self._regular_steps += 1
        if self._regular_steps <= self.start_step or self._remaining > 0:
            return
        if snapshot.imbalance > self.threshold:
            self._focus = snapshot.slowest
            self._remaining = self.window


def shared_parameters(model: MultiBranchModel) -> list[nn.Parameter]:
    """Parameters of ``model`` outside every branch (the shared decoder/fusion)."""
    in_branch = {id(p) for params in model.branch_parameters().values() for p in params}
    return [p for p in model.parameters() if id(p) not in in_branch]


def freeze_grads_outside(model: MultiBranchModel, focus: str) -> None:
    """Drop gradients of every branch but ``focus`` so the optimiser step leaves those encoders untouched.

    Setting ``grad`` to None (not zero) makes Adam/SGD skip the parameter entirely, momentum included.
    """
    for name, params in model.branch_parameters().items():
        if name != focus:
            for p in params:
                p.grad = None
