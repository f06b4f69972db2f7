"""Greedy multi-modal learning metrics and scheduler (tessera.segmentation.balance) on hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from tessera.core.errors import InvalidArgument
from tessera.segmentation.balance import (
    BalancedScheduler,
    ConditionalLearningSpeed,
    SpeedSnapshot,
    conditional_utilisation,
    fill_absent_contrasts,
    fill_missing_contrasts,
    sample_contrast_dropout,
    utilisation_gap,
)


def test_conditional_utilisation_is_relative_gain_from_adding_the_contrast() -> None:
    # Dice 0.8 with both; 0.2 without A (B alone), 0.72 without B (A alone).
    rates = conditional_utilisation(0.8, {"A": 0.2, "B": 0.72})
    assert rates["A"] == pytest.approx(0.75)  # (0.8 - 0.2) / 0.8
    assert rates["B"] == pytest.approx(0.1)  # (0.8 - 0.72) / 0.8
    assert utilisation_gap(rates) == pytest.approx(0.65)


def test_conditional_utilisation_negative_when_contrast_hurts() -> None:
    assert conditional_utilisation(0.5, {"FLAIR": 0.6})["FLAIR"] == pytest.approx(-0.2)


@pytest.mark.parametrize("metric_all", [0.0, -0.1, math.nan])
def test_conditional_utilisation_rejects_undefined_reference(metric_all: float) -> None:
    with pytest.raises(InvalidArgument, match="metric_all"):
        conditional_utilisation(metric_all, {"A": 0.1})


def test_conditional_utilisation_rejects_non_finite_metric() -> None:
    with pytest.raises(InvalidArgument, match=r"metric_without\.B"):
        conditional_utilisation(0.9, {"A": 0.1, "B": math.inf})


def _param(values: list[float], grad: list[float]) -> nn.Parameter:
    p = nn.Parameter(torch.tensor(values))
    p.grad = torch.tensor(grad)
    return p


def test_learning_speed_accumulates_grad_to_weight_ratio_per_branch() -> None:
    speed = ConditionalLearningSpeed(["A", "B"])
    # A: ||g||^2 = 4 + 0 = 4, ||w||^2 = 1 + 1 = 2 -> 2.0 per step; B: ||g||^2 = 0.25, ||w||^2 = 1 -> 0.25.
    a = [_param([1.0, 1.0], [2.0, 0.0])]
    b = [_param([1.0], [0.5])]
    speed.update({"A": a, "B": b})
    snap = speed.update({"A": a, "B": b})
    assert snap.step == 2
    assert snap.speeds == {"A": pytest.approx(4.0), "B": pytest.approx(0.5)}
    assert snap.fastest == "A" and snap.slowest == "B"
    assert snap.imbalance == pytest.approx(math.log10(8.0))


def test_learning_speed_counts_all_parameters_of_a_branch_as_one_group() -> None:
    # Group ratio sum ||g||^2 / sum ||w||^2 = (1 + 9) / (1 + 4) = 2, not the mean of per-tensor ratios.
    group = [_param([1.0], [1.0]), _param([2.0], [3.0])]
    assert ConditionalLearningSpeed.step_speed(group) == pytest.approx(2.0)


def test_fusion_measure_compares_fusion_with_branch_speed_per_contrast() -> None:
    speed = ConditionalLearningSpeed(["A", "B"])
    # Per step: A branch 4/2 = 2.0, A fusion 1/4 = 0.25; B branch 0.25/1 = 0.25, B fusion 12.5/5 = 2.5.
    # learned_from = log10(S_branch / S_fusion): A log10(8), B log10(0.1) = -1 (B's fusion moves 10x its encoder).
    a, b = [_param([1.0, 1.0], [2.0, 0.0])], [_param([1.0], [0.5])]
    fa, fb = [_param([2.0], [1.0])], [_param([1.0, 2.0], [2.5, 2.5])]
    snap = speed.update({"A": a, "B": b}, {"A": fa, "B": fb})
    snap = speed.update({"A": a, "B": b}, {"A": fa, "B": fb})
    assert snap.fusion_speeds == {"A": pytest.approx(0.5), "B": pytest.approx(5.0)}
    assert snap.learned_from["A"] == pytest.approx(math.log10(4.0 / 0.5))
    assert snap.learned_from["B"] == pytest.approx(-1.0)
    assert snap.slowest == "B" and snap.fastest == "A"
    assert snap.imbalance == pytest.approx(math.log10(8.0) + 1.0)


def test_fusion_measure_can_disagree_with_encoder_speeds() -> None:
    # The dominant contrast's encoder may be the slower one in absolute terms (A: 0.25 per step vs B: 1.0), yet
    # the decoder reads B 100x faster than B's encoder learns: the model learns least from B.
    speed = ConditionalLearningSpeed(["A", "B"])
    snap = speed.update({"A": [_param([1.0], [0.5])], "B": [_param([1.0], [1.0])]},
                        {"A": [_param([1.0], [0.5])], "B": [_param([1.0], [10.0])]})
    assert snap.slowest == "B"
    assert snap.imbalance == pytest.approx(2.0)


def test_learning_speed_warmup_counts_steps_without_accumulating() -> None:
    speed = ConditionalLearningSpeed(["A", "B"], warmup=2)
    a, b = [_param([1.0], [1.0])], [_param([1.0], [2.0])]
    assert speed.update({"A": a, "B": b}).imbalance == 0.0
    speed.update({"A": a, "B": b})
    snap = speed.update({"A": a, "B": b})
    assert snap.step == 3 and snap.speeds == {"A": pytest.approx(1.0), "B": pytest.approx(4.0)}
    with pytest.raises(InvalidArgument, match="warmup"):
        ConditionalLearningSpeed(["A", "B"], warmup=-1)


def test_learning_speed_rejects_fusion_parameters_given_only_sometimes() -> None:
    speed = ConditionalLearningSpeed(["A", "B"])
    a, b = [_param([1.0], [1.0])], [_param([1.0], [2.0])]
    speed.update({"A": a, "B": b})
    with pytest.raises(InvalidArgument, match="fusion_params"):
        speed.update({"A": a, "B": b}, {"A": a, "B": b})
    with pytest.raises(InvalidArgument, match="fusion_params"):
        ConditionalLearningSpeed(["A", "B"]).update({"A": a, "B": b}, {"A": a})


def test_learning_speed_rejects_unknown_branch_set() -> None:
    speed = ConditionalLearningSpeed(["A", "B"])
    with pytest.raises(InvalidArgument, match="branch_params"):
        speed.update({"A": [_param([1.0], [1.0])]})
    with pytest.raises(InvalidArgument, match="branches"):
        ConditionalLearningSpeed(["A"])


def _snap(imbalance: float, slowest: str = "B") -> SpeedSnapshot:
    fastest = "A" if slowest == "B" else "B"
    return SpeedSnapshot(0, {"A": 1.0, "B": 1.0}, imbalance, fastest, slowest)


def test_scheduler_opens_window_for_slowest_branch_above_threshold() -> None:
    sched = BalancedScheduler(["A", "B"], threshold=0.1, window=3, start_step=1)
    assert not sched.next_step().rebalancing
    sched.observe(_snap(0.5))  # still warm-up: ignored
    assert not sched.next_step().rebalancing
    sched.observe(_snap(0.05))  # below threshold
    assert not sched.next_step().rebalancing
    sched.observe(_snap(0.5, slowest="B"))
    plans = [sched.next_step() for _ in range(4)]
    assert [p.focus for p in plans] == ["B", "B", "B", None]
    assert plans[0].drop == frozenset({"A"})
    assert sched.rebalancing_steps == 3


def test_scheduler_rejects_bad_settings() -> None:
    with pytest.raises(InvalidArgument, match="window"):
        BalancedScheduler(["A", "B"], threshold=0.1, window=0)
    with pytest.raises(InvalidArgument, match="threshold"):
        BalancedScheduler(["A", "B"], threshold=-1.0, window=2)


def test_fill_missing_sets_channel_to_zero_and_keeps_input() -> None:
    x = torch.ones(2, 3, 4, 4, 4)
    filled = fill_missing_contrasts(x, ["T1w", "T2w", "FLAIR"], {"T2w"})
    assert float(filled[:, 1].abs().sum()) == 0.0
    assert float(filled[:, 0].sum()) == float(filled[:, 2].sum()) == 2 * 64
    assert float(x.sum()) == 2 * 3 * 64  # input untouched
    with pytest.raises(InvalidArgument, match="PD"):
        fill_missing_contrasts(x, ["T1w", "T2w", "FLAIR"], {"PD"})


def test_contrast_dropout_never_removes_every_contrast_and_hits_its_rate() -> None:
    g = torch.Generator().manual_seed(0)
    present = sample_contrast_dropout(4000, ["T1w", "T2w", "FLAIR"], 0.5, g)
    assert present.shape == (4000, 3)
    assert set(present.unique().tolist()) == {0.0, 1.0}
    assert bool((present.sum(dim=1) >= 1).all())
    # 0.5 per contrast, less the all-missing draws (1/8) where one of 3 is put back: 0.5 - 1/24 ~ 0.458.
    assert 0.40 < float(1 - present.mean()) < 0.50
    assert bool((sample_contrast_dropout(10, ["T1w"], 0.9, g) == 1).all())
    with pytest.raises(InvalidArgument, match="contrast_dropout"):
        sample_contrast_dropout(2, ["A", "B"], 1.0, g)


def test_fill_absent_contrasts_per_sample() -> None:
    x = torch.ones(2, 2, 3, 3, 3)
    filled = fill_absent_contrasts(x, torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    assert float(filled[0, 1].abs().sum()) == float(filled[1, 0].abs().sum()) == 0.0
    assert float(filled[0, 0].sum()) == float(filled[1, 1].sum()) == 27.0
    with pytest.raises(InvalidArgument, match="contrast_present"):
        fill_absent_contrasts(x, torch.ones(2, 3))
