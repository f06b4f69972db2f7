"""PWF's pieces: sigma initialisation, candidate centres, the clustering step, wrapping and config errors."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from tessera.compression.pwf import (
    FixingState,
    PWFConfig,
    candidate_centres,
    check_supported,
    fix_round,
    initial_sigma,
    unwrap_model,
    wrap_model,
)
from tessera.compression.pwf.sigma import add_regulariser_gradient, relative_power_of_two_distance
from tessera.core.errors import InvalidArgument


def terms_of(value: float, lowest_exponent: int = 7) -> int:
    """Powers of two (down to 2^-b) needed to write |value| in binary."""
    scaled = abs(value) * 2**lowest_exponent
    assert scaled == int(scaled), value
    return bin(int(scaled)).count("1")


def test_relative_distance_is_zero_on_powers_of_two_and_zero() -> None:
    weights = torch.tensor([0.25, -0.5, 1.0, 0.0, 0.375, -0.375])
    relative = relative_power_of_two_distance(weights)
    assert relative[:4].tolist() == [0.0, 0.0, 0.0, 0.0]
    # 0.375 sits between 0.25 and 0.5: (0.5 - 0.375)/0.375 * (0.375 - 0.25)/0.375 = 1/9, either sign.
    assert relative[4].item() == pytest.approx(1 / 9)
    assert relative[5].item() == pytest.approx(1 / 9)


def test_initial_sigma_scales_by_the_75th_percentile_and_clamps() -> None:
    generator = torch.Generator().manual_seed(0)
    weights = torch.randn(4000, generator=generator) * 0.1
    sigma = initial_sigma(weights)
    relative = relative_power_of_two_distance(weights)
    level = torch.quantile(relative, 0.75)
    expected = torch.clamp(0.0025 * relative / level, 2**-30, 0.05).float()
    assert torch.allclose(sigma, expected)
    assert float(torch.quantile(sigma.double(), 0.75)) == pytest.approx(0.0025, rel=1e-3)
    assert float(sigma.max()) <= 0.05
    on_powers = initial_sigma(torch.tensor([0.5, 0.25, 0.3, 0.0]))
    assert on_powers[0].item() == on_powers[1].item() == on_powers[3].item() == pytest.approx(2**-30)


def test_regulariser_pushes_small_sigmas_up_and_leaves_frozen_ones() -> None:
    sigma = nn.Parameter(torch.tensor([0.01, 0.06, 0.01]))
    sigma.grad = torch.zeros(3)
    add_regulariser_gradient(sigma, torch.tensor([2.0, 1.0, 1.0]), torch.tensor([False, False, True]), weight=0.5)
    # -lambda * relu(0.05 - sigma) * |eps|: descent raises sigma below the ceiling only.
    assert sigma.grad.tolist() == pytest.approx([-0.5 * 0.04 * 2.0, 0.0, 0.0])


def test_candidate_centres_are_signed_sums_of_few_powers_of_two() -> None:
    one = candidate_centres(1, 1.0)
    positive = [2.0**-e for e in range(7, 0, -1)]
    assert one.tolist() == [-p for p in reversed(positive)] + [0.0] + positive
    three = candidate_centres(3, 0.9)
    assert 0.75 in three.tolist() and 0.875 in three.tolist() and -0.4375 in three.tolist()
    assert float(three.abs().max()) <= 0.9
    assert torch.equal(three, -three.flip(0))
    assert max(terms_of(value) for value in three.tolist()) == 3
    assert candidate_centres(2, 0.0).tolist() == [0.0]


def make_state(means: list[float], sigmas: list[float]) -> FixingState:
    return FixingState(
        torch.tensor(means, dtype=torch.float64),
        torch.tensor(sigmas, dtype=torch.float64),
        torch.zeros(len(means), dtype=torch.bool),
    )


def test_fix_round_takes_the_centre_capturing_most_weights_first() -> None:
    # Five weights within one sigma of 0.25, two of 0.5, one far from any one-term centre.
    state = make_state([0.24, 0.251, 0.26, 0.255, 0.245, 0.49, 0.51, 0.7], [0.02] * 7 + [0.001])
    outcome = fix_round(state, 5, zero_fix=False)
    assert outcome.centres == [(0.25, 5)]
    assert state.fixed.tolist() == [True] * 5 + [False] * 3
    assert state.means[:5].tolist() == [0.25] * 5
    # std_mu: the group's sigma is the spread of its means.
    spread = torch.tensor([0.24, 0.251, 0.26, 0.255, 0.245]).std(unbiased=False).item()
    assert state.sigmas[0].item() == pytest.approx(spread)
    outcome = fix_round(state, 7, zero_fix=False)
    assert outcome.centres == [(0.5, 2)]


def test_fix_round_caps_at_the_target_taking_the_nearest_in_sigmas() -> None:
    state = make_state([0.26, 0.2501, 0.24, 0.2499], [0.02, 0.02, 0.02, 0.02])
    fix_round(state, 2, zero_fix=False)
    assert state.fixed.tolist() == [False, True, False, True]


def test_fix_round_widens_terms_then_delta_until_everything_fits() -> None:
    # Centres stop at max|w| = 0.7, so the nearest two-term one is 0.625, 7.5 sigmas away: terms 1 -> 2,
    # then delta 1 -> 2 -> 4 -> 8.
    state = make_state([0.7, 0.25], [0.01, 0.01])
    outcome = fix_round(state, 2, zero_fix=False, max_terms=2)
    assert state.fixed.all()
    assert state.means.tolist() == [0.625, 0.25]
    assert outcome.terms == 2 and outcome.delta == 8.0


def test_fixed_weights_vote_for_their_centre_so_used_values_are_preferred() -> None:
    # Four weights already fixed at 0.5; free: three within one sigma of 0.25, two within one sigma of 0.5.
    means = [0.5] * 4 + [0.24, 0.25, 0.26, 0.49, 0.51]
    sigmas = [0.001] * 4 + [0.02] * 5
    counted = make_state(means, sigmas)
    counted.fixed[:4] = True
    outcome = fix_round(counted, 6, zero_fix=False)
    # 2 free + 4 fixed on 0.5 beat 3 free on 0.25: the used value takes the weights, no new value opens.
    assert outcome.centres == [(0.5, 2)]
    assert counted.means[7:].tolist() == [0.5, 0.5] and not counted.fixed[4:7].any()
    fresh = make_state(means, sigmas)
    fresh.fixed[:4] = True
    outcome = fix_round(fresh, 6, zero_fix=False, count_fixed=False)
    assert outcome.centres == [(0.25, 2)]  # free weights alone: 0.25 wins (capped at the 2 the round needs)


def test_votes_of_fixed_weights_are_spent_once_their_centre_is_chosen() -> None:
    # Ten weights fixed at 0.25. Free: 0.39 (sigma 0.036) first fits at delta 4, reaching both 0.5 (0.11 away)
    # and 0.25 (0.14); 0.503 and 0.505 (sigma 0.001) reach only 0.5, at delta 4 and 8. 0.25 is chosen at delta
    # 1 (its fixed weights' pass), so at delta 4 it no longer outvotes 0.5 (2 free weights to 1): 0.39 joins
    # its nearer centre, as in the reference's re-clustering. Votes that stayed would send it to 0.25.
    means = [0.25] * 10 + [0.39, 0.503, 0.505]
    state = make_state(means, [0.001] * 10 + [0.036, 0.001, 0.001])
    state.fixed[:10] = True
    outcome = fix_round(state, 13, zero_fix=False, max_terms=1)
    assert state.means[10:].tolist() == [0.5, 0.5, 0.5]
    assert outcome.delta == 8.0


def test_round_delta_runs_linearly_from_start_to_end() -> None:
    config = PWFConfig(delta=1.0, end_delta=4.0, schedule=(0.25, 0.5, 0.75, 1.0))
    assert [config.round_delta(index) for index in range(4)] == [1.0, 2.0, 3.0, 4.0]
    assert PWFConfig().round_delta(9) == 1.0


def test_few_values_preset_caps_the_codebook_at_two_term_centres() -> None:
    config = PWFConfig.few_values(seed=3)
    assert config.max_terms == 2 and config.seed == 3 and config.schedule[-4:] == (0.99, 0.995, 0.998, 1.0)
    # Every possible centre below 1 in magnitude: 0 and +- (7 powers + 21 pairwise sums) = 57.
    assert len(candidate_centres(2, 0.999)) == 57
    generator = torch.Generator().manual_seed(1)
    state = make_state((torch.randn(3000, generator=generator) * 0.2).clamp(-0.99, 0.99).tolist(), [1e-4] * 3000)
    fix_round(state, 3000, max_terms=config.max_terms)
    assert state.fixed.all() and len(torch.unique(state.means)) <= 57
    assert max(terms_of(value) for value in state.means.tolist()) <= 2


def test_zero_fix_sends_tiny_weights_to_zero() -> None:
    state = make_state([0.001, -0.003, 0.5], [1e-6, 1e-6, 0.01])
    fix_round(state, 2, zero_fix=True)
    assert state.means[:2].tolist() == [0.0, 0.0]
    assert not state.fixed[2]


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)
        self.norm = nn.BatchNorm2d(2)
        self.fc = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.norm(self.conv(x)).flatten(1))


def test_wrapping_samples_in_training_and_uses_the_mean_in_eval() -> None:
    torch.manual_seed(0)
    model = Tiny().eval()
    inputs = torch.randn(4, 1, 4, 4)
    reference = model(inputs).detach()
    before = {name: value.clone() for name, value in model.state_dict().items()}
    tensors = wrap_model(model)
    assert [t.name for t in tensors] == ["conv.weight", "conv.bias", "fc.weight", "fc.bias"]
    assert all(t.sigma.shape == t.mean.shape for t in tensors)
    assert torch.allclose(model(inputs), reference)
    model.fc.train()
    assert not torch.allclose(model(inputs), reference)
    assert tensors[2].gaussian.eps is not None
    unwrap_model(tensors)
    assert type(model.fc) is nn.Linear and not hasattr(model.fc, "parametrizations")
    assert all(torch.equal(before[name], value) for name, value in model.state_dict().items())


def test_unsupported_layers_are_named() -> None:
    model = nn.Sequential(nn.Embedding(10, 4), nn.Linear(4, 4))
    with pytest.raises(InvalidArgument) as caught:
        check_supported(model)
    assert caught.value.violations[0].field == "model"
    assert "0 (Embedding)" in str(caught.value)

    class WithAttention(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.attn = nn.MultiheadAttention(8, 2)
            self.cls_token = nn.Parameter(torch.zeros(1, 8))  # a free parameter is fine

    with pytest.raises(InvalidArgument, match=r"attn \(MultiheadAttention\)"):
        wrap_model(WithAttention())
    with pytest.raises(InvalidArgument, match="no Conv or Linear"):
        check_supported(nn.Sequential(nn.ReLU()))


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"schedule": (0.2, 0.6, 0.4, 1.0)}, "config.schedule"),
        ({"schedule": (0.5, 0.9)}, "config.schedule"),
        ({"schedule": (0.0, 1.0)}, "config.schedule"),
        ({"lr": -1.0}, "config.lr"),
        ({"delta_growth": 1.0}, "config.delta_growth"),
        ({"max_terms": 9}, "config.max_terms"),
        ({"sigma_join": "median"}, "config.sigma_join"),
        ({"colour": "red"}, "config.colour"),
    ],
)
def test_config_errors_name_the_field(fields: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        PWFConfig.parse(fields)
    assert caught.value.violations[0].field == field


def test_paper_defaults() -> None:
    config = PWFConfig()
    assert config.schedule == (0.2, 0.4, 0.6, 0.7, 0.8, 0.9, 0.95, 0.975, 0.99, 1.0)
    assert config.reg_weight == 2**-11 and config.lowest_exponent == 7 and config.max_terms == 4
    assert math.isclose(config.lr, 0.001) and config.epochs_per_round == 3
