"""Bad input names the field and the first bad row; options users need run."""

from __future__ import annotations

import numpy as np
import pytest

from tessera.clustering import ScaddaParams, scadda
from tessera.clustering.kde import point_densities
from tessera.clustering.synthetic import idealized_scenario, random_points
from tessera.core.errors import InvalidArgument

PARAMS = ScaddaParams(s_limit=300.0, t_limit=3.0, minimum_neighbors=3)


def violation(error: pytest.ExceptionInfo[InvalidArgument]) -> tuple[str, str]:
    return error.value.violations[0].field, error.value.violations[0].description


def test_out_of_range_and_non_finite_coordinates() -> None:
    data = random_points(0, 30)
    coords = data.coords.copy()
    coords[7, 0] = 91.0
    with pytest.raises(InvalidArgument) as error:
        scadda(coords, data.series, PARAMS)
    assert violation(error)[0] == "lat" and "row 7" in violation(error)[1]
    coords = data.coords.copy()
    coords[4, 1] = -181.0
    with pytest.raises(InvalidArgument) as error:
        scadda(coords, data.series, PARAMS)
    assert violation(error)[0] == "lon" and "row 4" in violation(error)[1]
    series = data.series.copy()
    series[9, 2] = np.nan
    with pytest.raises(InvalidArgument) as error:
        scadda(data.coords, series, PARAMS)
    assert violation(error)[0] == "t_data" and "row 9" in violation(error)[1]


def test_bad_parameters() -> None:
    data = random_points(0, 30)
    with pytest.raises(InvalidArgument) as error:
        scadda(data.coords, data.series, ScaddaParams(s_limit=-1.0, t_limit=-2.0, minimum_neighbors=3))
    assert {v.field for v in error.value.violations} == {"s_limit", "t_limit"}
    with pytest.raises(InvalidArgument) as error:
        scadda(data.coords, data.series, ScaddaParams(s_limit=1.0, t_limit=1.0, minimum_neighbors=30))
    assert violation(error)[0] == "minimum_neighbors"
    short = [row[:5] if k == 3 else row for k, row in enumerate(data.series)]
    with pytest.raises(InvalidArgument) as error:
        scadda(data.coords, short, ScaddaParams(s_limit=1.0, t_limit=1.0, minimum_neighbors=3, window=6))
    assert violation(error)[0] == "window" and "row 3" in violation(error)[1]


def test_unequal_lengths_multivariate_weights_and_km_bandwidth_run() -> None:
    data = idealized_scenario(1, scale=0.3)
    uneven = [row[: 20 + (k % 5)] for k, row in enumerate(data.series)]
    result = scadda(data.coords, uneven, ScaddaParams(s_limit=30.0, t_limit=1.5, minimum_neighbors=5))
    assert result.n_clusters >= 2
    two_channels = np.stack([data.series, 0.5 * data.series], axis=2)
    multi = scadda(data.coords, two_channels, ScaddaParams(s_limit=30.0, t_limit=1.7, minimum_neighbors=5))
    assert multi.n_clusters >= 2
    weights = np.full(data.truth.size, 2.0)
    weighted = scadda(data.coords, data.series, ScaddaParams(s_limit=30.0, t_limit=1.5, minimum_neighbors=10),
                      weights=weights)
    plain = scadda(data.coords, data.series, ScaddaParams(s_limit=30.0, t_limit=1.5, minimum_neighbors=5))
    np.testing.assert_array_equal(weighted.core, plain.core)
    km_params = ScaddaParams(s_limit=30.0, t_limit=1.5, minimum_neighbors=5, bandwidth_km=20.0)
    km = scadda(data.coords, data.series, km_params)
    assert km.n_clusters >= 2


def test_binned_kde_matches_exact() -> None:
    data = idealized_scenario(0, scale=4)
    exact = point_densities(data.coords)
    binned = point_densities(data.coords, exact_max_n=0)
    assert np.max(np.abs(binned - exact) / exact) < 1e-2


def test_outlier_percentage_forms_second_stage_clusters() -> None:
    data = idealized_scenario(2, scale=0.5)
    params = ScaddaParams(s_limit=5.0, t_limit=1.0, minimum_neighbors=5)
    first = scadda(data.coords, data.series, params)
    staged = scadda(data.coords, data.series, ScaddaParams(s_limit=5.0, t_limit=1.0, minimum_neighbors=5,
                                                           outlier_perc=5.0))
    assert staged.noise.sum() < first.noise.sum()
    assert staged.stage.max() >= 2
    kept = first.labels >= 0
    np.testing.assert_array_equal(staged.labels[kept], first.labels[kept])
