"""The space-partitioning training-accuracy estimate: closed-form pieces, limits, monotonicity, bad input."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from tessera.compression import estimate_training_accuracy
from tessera.compression.estimation import log_region_count, majority_fraction, region_count
from tessera.compression.service import estimate
from tessera.core.errors import InvalidArgument


@pytest.mark.parametrize(("d", "l_hidden", "regions"), [
    (1, 3, 4), (2, 3, 7), (2, 4, 11), (3, 4, 15), (3, 7, 64), (5, 3, 8), (10, 8, 256), (4, 4, 16),
])
def test_region_count_is_the_hyperplane_arrangement_count(d: int, l_hidden: int, regions: int) -> None:
    # Lines in the plane: L(L+1)/2 + 1; L <= d: 2^L; (3, 7): 1 + 7 + 21 + 35.
    assert region_count(d, l_hidden) == regions
    assert math.exp(log_region_count(d, l_hidden)) == pytest.approx(regions, rel=1e-9)


def test_majority_fraction_matches_the_binomial_expectation() -> None:
    n = np.arange(1, 60)
    exact = []
    for size in n:
        k = np.arange(size + 1)
        exact.append(float(np.dot(stats.binom.pmf(k, size, 0.5), np.maximum(k, size - k)) / size))
    assert majority_fraction(n) == pytest.approx(exact, rel=1e-10)
    assert majority_fraction(np.array([1, 2, 3, 4])) == pytest.approx([1.0, 0.75, 0.75, 0.6875])
    # Large regions tend to chance with the 1/sqrt(2 pi n) excess of the majority.
    assert majority_fraction(np.array([10**6]))[0] == pytest.approx(0.5 + 1 / math.sqrt(2 * math.pi * 10**6), rel=1e-4)


def test_matches_a_direct_sum_over_region_occupancy() -> None:
    d, n, l_hidden = 3, 50, 4
    p = 1 / region_count(d, l_hidden)
    m = np.arange(n)
    direct = float(np.dot(stats.binom.pmf(m, n - 1, p), majority_fraction(m + 1)))
    assert estimate_training_accuracy(d, n, l_hidden) == pytest.approx(direct, abs=1e-9)


def test_limits() -> None:
    assert estimate_training_accuracy(5, 1, 3) == 1.0  # one point is always fitted
    assert estimate_training_accuracy(20, 100, 60) == pytest.approx(1.0, abs=1e-9)  # 2^60 regions for 100 points
    few_regions = estimate_training_accuracy(2, 1_000_000, 1)  # 2 regions, a million random labels
    assert 0.5 < few_regions < 0.502
    two = estimate_training_accuracy(1, 2, 1)  # two points share one of two regions half the time
    assert two == pytest.approx(0.5 * 1.0 + 0.5 * 0.75)


def test_monotone_in_width_points_and_dimension() -> None:
    by_width = [estimate_training_accuracy(4, 300, h) for h in (1, 2, 4, 8, 16, 32)]
    assert all(a < b for a, b in itertools.pairwise(by_width))
    by_points = [estimate_training_accuracy(4, n, 8) for n in (10, 50, 100, 400, 2000)]
    assert all(a > b for a, b in itertools.pairwise(by_points))
    by_dim = [estimate_training_accuracy(d, 300, 8) for d in (1, 2, 4, 8)]
    assert all(a < b for a, b in itertools.pairwise(by_dim))
    # Once d >= L every sign pattern is a region: more dimensions add nothing.
    assert estimate_training_accuracy(8, 300, 8) == estimate_training_accuracy(50, 300, 8)


def test_huge_arguments_answer_without_overflow() -> None:
    assert estimate_training_accuracy(1_000_000, 1_000_000_000, 1_000_000) == 1.0
    big = estimate(3, 10**9, 2000)
    assert 0.5 < big.training_accuracy < 1.0
    assert big.regions == pytest.approx(region_count(3, 2000))
    assert estimate(1000, 10, 5000).regions == math.inf


@pytest.mark.parametrize(("args", "fields"), [
    ((0, 10, 3), ["d"]), ((2, -1, 3), ["n"]), ((2, 10, 0), ["l"]), ((2.5, 10, 3), ["d"]),
    ((True, 10, 3), ["d"]), ((0, 0, 0), ["d", "n", "l"]), ((2, 10**10, 3), ["n"]), ((2, 10, "8"), ["l"]),
])
def test_bad_input_names_the_field(args: tuple[object, object, object], fields: list[str]) -> None:
    with pytest.raises(InvalidArgument) as err:
        estimate_training_accuracy(*args)  # type: ignore[arg-type]
    assert [v.field for v in err.value.violations] == fields


def test_service_limit_on_points_names_n() -> None:
    with pytest.raises(InvalidArgument) as err:
        estimate(2, 1000, 3, max_points=999)
    assert err.value.violations[0].field == "n"
