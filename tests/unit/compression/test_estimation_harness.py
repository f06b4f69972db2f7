"""The validation harness trains real two-layer networks on random data (tiny grid, seconds)."""

from __future__ import annotations

import pytest
import torch

from tessera.compression.estimation_harness import (
    TrainingConfig,
    max_training_accuracy,
    product_grid,
    random_two_class,
    validate_grid,
)
from tessera.core.errors import InvalidArgument

QUICK = TrainingConfig(epochs=400, lr=0.05, seeds=2)


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def test_random_data_is_balanced_and_in_the_unit_cube() -> None:
    x, y = random_two_class(3, 21, seeds=4, seed=1)
    assert x.shape == (4, 21, 3) and y.shape == (4, 21)
    assert float(x.min()) >= 0 and float(x.max()) <= 1
    assert y.sum(dim=1).tolist() == [10.0] * 4
    assert not torch.equal(y[0], y[1])  # each seed its own labelling


def test_a_wide_network_memorises_and_a_narrow_one_cannot() -> None:
    x, y = random_two_class(8, 24, seeds=2, seed=3)
    wide = max_training_accuracy(x, y, hidden=64, config=QUICK)
    assert wide.tolist() == [1.0, 1.0]
    xs, ys = random_two_class(1, 60, seeds=2, seed=4)
    narrow = max_training_accuracy(xs, ys, hidden=1, config=QUICK)  # one threshold on a line: far from 1
    assert float(narrow.max()) < 0.9 and float(narrow.min()) >= 0.5


def test_grid_summary_reports_estimate_vs_measured() -> None:
    summary = validate_grid(product_grid([2], [40], [1, 16]), QUICK)
    assert [(c.d, c.n, c.l) for c in summary.cells] == [(2, 40, 1), (2, 40, 16)]
    narrow, wide = summary.cells
    assert narrow.measured_mean < wide.measured_mean and narrow.estimate < wide.estimate
    for cell in summary.cells:
        assert 0.5 <= cell.measured_min <= cell.measured_mean <= cell.measured_max <= 1.0
        assert cell.abs_error == pytest.approx(abs(cell.estimate - cell.measured_mean))
        assert cell.as_dict()["abs_error"] == cell.abs_error
    errors = [c.abs_error for c in summary.cells]
    assert summary.mean_abs_error == pytest.approx(sum(errors) / 2)
    assert summary.max_abs_error == max(errors)
    assert summary.mean_abs_error < 0.25  # the estimate is in the right region on this easy grid


@pytest.mark.parametrize(("config", "field"), [
    (TrainingConfig(epochs=0), "epochs"), (TrainingConfig(lr=0.0), "lr"), (TrainingConfig(seeds=0), "seeds"),
])
def test_bad_training_config_names_the_field(config: TrainingConfig, field: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        validate_grid([(2, 10, 2)], config)
    assert err.value.violations[0].field == field


def test_bad_grid_names_the_field() -> None:
    with pytest.raises(InvalidArgument) as err:
        validate_grid([(2, 0, 2)], QUICK)
    assert err.value.violations[0].field == "n"
    with pytest.raises(InvalidArgument) as err:
        validate_grid([], QUICK)
    assert err.value.violations[0].field == "grid"
