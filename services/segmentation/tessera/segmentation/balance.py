"""Greedy multi-modal learning: measuring and steering how much a multi-contrast network uses each contrast.

After Wu et al. 2022, "Characterizing and overcoming the greedy nature of learning in multi-modal deep neural
networks" (ICML). A network fed several inputs tends to lean on the one it learns fastest and under-fit the others.

* :func:`conditional_utilisation` measures it after training: the relative gain in a metric from adding
  contrast ``m`` to the others, ``u(m) = (A(all) - A(all without m)) / A(all)``.
* :class:`ConditionalLearningSpeed` tracks it during training. The learning speed of a parameter group at
  step ``i`` is ``||grad theta(i)||^2 / ||theta(i)||^2``, accumulated over regular steps into ``S(t)``. As in
  the paper's reference code (``Bias_Mitigation_Strong``), contrast ``m``'s conditional learning speed compares
  the *fusion* parameters that read ``m`` with ``m``'s own branch: ``BDR_m = log10(S_fusion_m / S_branch_m)``.
  A large ``BDR_m`` means the network keeps adjusting how it reads ``m`` while ``m``'s own encoder barely
  learns (its gradient is small because the decoder gives ``m`` little weight): the model is learning *less*
  from ``m``. The imbalance is ``max BDR - min BDR`` and re-balancing favours the contrast with the largest
  ``BDR`` (the paper's "caring modality"). Models without fusion parameters fall back to comparing the
  branches' own speeds (imbalance ``log10(S_fast / S_slow)``, focus on the slowest branch).
* :class:`BalancedScheduler` is the paper's balancing algorithm: once the imbalance passes a threshold,
  the next ``window`` optimiser steps are re-balancing steps for the contrast the model learns least from.

How this maps onto our architecture (one encoder per contrast, fused in a shared decoder by concatenation).
The fusion parameters of contrast ``m`` are the slices of the first decoder convolution of every level that
read ``m``'s skip features (``MultiContrastUNet3D.fusion_weights``); a model exposes them through
``fusion_parameters()`` (see :class:`FusionModel`). Comparing encoders directly (the earlier stand-in) picks the
*dominant* contrast as "fast" only by accident of scale: on the real U-Net the dominant T1w encoder had the
lowest relative speed and received most re-balancing steps. A re-balancing step updates only the focus
contrast's encoder plus the shared decoder (the other encoders are frozen for the step); optionally
(``StepPlan.drop``) the other contrasts are also fed as missing, the counterpart of the paper's cut. As in
the reference code, the speeds accumulate over regular steps only, and balancing starts after a warm-up;
unlike it, the first half of the warm-up is left out of the sums (the initialisation transient, see
:class:`ConditionalLearningSpeed`). On a small U-Net trained on a synthetic task with a dominant contrast, this
measure points at the weak contrast (tests/unit/segmentation/test_training.py).

Missing contrast. Inputs are z-scored per volume and contrast, so a missing contrast is filled with zeros:
the contrast's mean intensity everywhere, carrying no spatial information. This is the input-space
counterpart of the paper's choice (the missing modality's fusion features replaced by their mean). The same
fill is used to measure the utilisation rate, in re-balancing steps, for a contrast missing at inference and
for missing-contrast augmentation (:func:`sample_contrast_dropout`, :func:`fill_absent_contrasts`): training
with contrasts randomly missing teaches the network to work from any non-empty subset, a single T1w included.
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
    filled with :data:`MISSING_CONTRAST_FILL`; the caller fills it too, so a model may simply ignore it);
    ``contrast_present`` [B, C] (1 = present, 0 = missing) does the same per sample (missing-contrast
    augmentation), again with the caller filling the input channels.
    ``branch_parameters()`` maps each contrast to the parameters of its encoder branch; every other
    parameter is shared (the decoder).
    """

    @property
    def contrasts(self) -> Sequence[str]: ...

    # nn.Module's own __call__ (runs hooks, then forward); typed loosely as torch types it.
    __call__: Callable[..., Any]

    def branch_parameters(self) -> dict[str, list[nn.Parameter]]: ...

    def forward(self, x: torch.Tensor, drop_contrasts: Collection[str] = ...,
                contrast_present: torch.Tensor | None = ...) -> torch.Tensor: ...

    def parameters(self, recurse: bool = ...) -> Iterable[nn.Parameter]: ...

    def train(self, mode: bool = ...) -> nn.Module: ...

    def eval(self) -> nn.Module: ...


@runtime_checkable
class FusionModel(Protocol):
    """Optional extension of :class:`MultiBranchModel`: the fusion parameters that read each contrast.

    ``fusion_parameters()`` maps each contrast to tensors (views of shared weights are fine) whose ``.grad``
    holds the matching slice of the loss gradient after ``backward``: the weights through which the shared
    part of the network reads that contrast's features.
    """

    def fusion_parameters(self) -> dict[str, list[torch.Tensor]]: ...


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
    ``fusion_speeds``: the same for each contrast's fusion parameters (empty without fusion parameters).
    ``learned_from``: per contrast, how much the model learns from it (log10 units, higher = more):
    ``log10(S_branch / S_fusion)`` (the paper's ``-BDR``) or, without fusion parameters, ``log10(S_branch)``.
    ``imbalance``: ``max - min`` of ``learned_from`` (>= 0; 0 until every group has moved);
    ``fastest``/``slowest``: the contrasts the model learns most/least from (re-balancing favours ``slowest``).
    """

    step: int
    speeds: dict[str, float]
    imbalance: float
    fastest: str
    slowest: str
    fusion_speeds: dict[str, float] = field(default_factory=dict)
    learned_from: dict[str, float] = field(default_factory=dict)


def _log10_ratio(numerator: float, denominator: float) -> float:
    """``log10(numerator / denominator)`` for speeds >= 0: +-inf when one side has not moved, NaN when neither."""
    if numerator <= 0.0 and denominator <= 0.0:
        return math.nan
    if numerator <= 0.0:
        return -math.inf
    if denominator <= 0.0:
        return math.inf
    return math.log10(numerator / denominator)


class ConditionalLearningSpeed:
    """Tracks per-contrast cumulative learning speeds; call :meth:`update` after each regular backward pass.

    The step's learning speed of a parameter group is ``sum_p ||grad p||^2 / sum_p ||p||^2`` over its tensors
    ``p`` (a relative update size, independent of the group's scale), accumulated over steps. Each contrast has
    two groups: its branch's own parameters and, when the model has them, the fusion parameters that read it.
    Gradients must still be present when :meth:`update` runs (after ``backward``, before ``zero_grad``;
    after ``optimizer.step()`` is fine).

    The first ``warmup`` updates are counted but not accumulated. The first steps from a random initialisation
    move every group fast whatever the data says (on our U-Net the fusion weights' first step outweighed all
    later ones together), which would freeze the ratio of the cumulative sums at its initial value.
    """

    def __init__(self, branches: Collection[str], warmup: int = 0):
        if len(branches) < 2:
            raise InvalidArgument.field("branches", f"need at least two branches to compare, got {list(branches)}")
        if warmup < 0:
            raise InvalidArgument.field("warmup", f"must be >= 0, got {warmup}")
        self.warmup = warmup
        self._cumulative: dict[str, float] = {b: 0.0 for b in branches}
        self._fusion: dict[str, float] = {}
        self.steps = 0

    @staticmethod
    def step_speed(params: Iterable[torch.Tensor]) -> float:
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

    def update(self, branch_params: Mapping[str, Iterable[torch.Tensor]],
               fusion_params: Mapping[str, Iterable[torch.Tensor]] | None = None) -> SpeedSnapshot:
        """Add this step's speed of every branch (and of its fusion parameters, when given) and return the
        cumulative speeds and the imbalance. Fusion parameters must be given on every update or on none."""
        expected = set(self._cumulative)
        if set(branch_params) != expected:
            raise InvalidArgument.field(
                "branch_params", f"branches {sorted(branch_params)} differ from tracked {sorted(expected)}"
            )
        with_fusion = bool(fusion_params)
        if with_fusion and set(fusion_params or {}) != expected:
            raise InvalidArgument.field(
                "fusion_params", f"contrasts {sorted(fusion_params or {})} differ from tracked {sorted(expected)}"
            )
        if self.steps and with_fusion != bool(self._fusion):
            raise InvalidArgument.field("fusion_params", "must be given on every update or on none")
        accumulate = self.steps >= self.warmup
        for name, params in branch_params.items():
            self._cumulative[name] += self.step_speed(params) if accumulate else 0.0
        if fusion_params:
            for name, params in fusion_params.items():
                self._fusion[name] = self._fusion.get(name, 0.0) + (self.step_speed(params) if accumulate else 0.0)
        self.steps += 1
        return self.snapshot()

    def snapshot(self) -> SpeedSnapshot:
        """Current cumulative speeds, how much the model learns from each contrast, and the imbalance."""
        speeds = dict(self._cumulative)
        fusion = dict(self._fusion)
        if fusion:
            learned = {b: _log10_ratio(speeds[b], fusion[b]) for b in speeds}
        else:
            learned = {b: -math.inf if s <= 0.0 else math.log10(s) for b, s in speeds.items()}
        fastest = max(learned, key=lambda b: learned[b])
        slowest = min(learned, key=lambda b: learned[b])
        spread = learned[fastest] - learned[slowest]
        # A group that has not moved yet gives no meaningful ratio: report balanced until every one has moved,
        # except that (as before) a branch still at rest while another moves is infinitely imbalanced.
        if any(math.isnan(v) for v in learned.values()) or math.isnan(spread):
            spread = 0.0
        return SpeedSnapshot(self.steps, speeds, spread, fastest, slowest, fusion, learned)


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


def fusion_parameters_of(model: MultiBranchModel) -> dict[str, list[torch.Tensor]] | None:
    """The model's per-contrast fusion parameters (:class:`FusionModel`), or None when it has none."""
    if not isinstance(model, FusionModel):
        return None
    fusion = model.fusion_parameters()
    if sorted(fusion) != sorted(model.contrasts):
        raise InvalidArgument.field(
            "model", f"fusion_parameters() keys {sorted(fusion)} must match contrasts {list(model.contrasts)}"
        )
    return fusion or None


def sample_contrast_dropout(batch_size: int, contrasts: Sequence[str], probability: float,
                            generator: torch.Generator) -> torch.Tensor:
    """Presence mask (B, C) float, 1 = present, 0 = fill as missing, for missing-contrast augmentation.

    Each contrast of each sample is missing with ``probability``, independently, except that a sample never
    loses every contrast: when the draw removes them all, one contrast (uniformly chosen) is kept.
    """
    if not 0.0 <= probability < 1.0:
        raise InvalidArgument.field("contrast_dropout", f"must be in [0, 1), got {probability}")
    count = len(contrasts)
    present = (torch.rand(batch_size, count, generator=generator) >= probability).float()
    if count > 1:
        for row in (present.sum(dim=1) == 0).nonzero().flatten().tolist():
            present[row, int(torch.randint(count, (1,), generator=generator))] = 1.0
    else:
        present.fill_(1.0)  # a single-contrast model has nothing to drop
    return present


def fill_absent_contrasts(x: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
    """Copy of ``x`` [B, C, ...] with channel c of sample b set to :data:`MISSING_CONTRAST_FILL` where
    ``present[b, c] == 0`` (``present``: [B, C], 1 = present) - the per-sample form of the missing fill."""
    if tuple(present.shape) != tuple(x.shape[:2]):
        raise InvalidArgument.field("contrast_present", f"shape {tuple(present.shape)}, want {tuple(x.shape[:2])}")
    mask = present.to(x.dtype).reshape(*present.shape, *([1] * (x.dim() - 2)))
    return x * mask + (1 - mask) * MISSING_CONTRAST_FILL
