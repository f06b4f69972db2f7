"""Same labels as the reference package scadda 1.0.0 (labels 0 = noise), both algorithms and metrics."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest
import scadda as reference
from scipy.stats import gaussian_kde
from sklearn.metrics import adjusted_rand_score

from tessera.clustering import clustering
from tessera.clustering.synthetic import random_points

CASES = [  # seed, algorithm, metric, s_limit, t_limit, extra keywords
    (0, "scadda", "greatcircle", 300.0, 3.0, {}),
    (1, "stdbscan", "greatcircle", 300.0, 3.0, {}),
    (2, "scadda", "euclidean", 3.0, 3.0, {"z_normalization": True}),
    (3, "stdbscan", "euclidean", 3.0, 3.0, {"window_param": 2}),
    (4, "scadda", "greatcircle", 400.0, 2.5, {"bandwidth": "silverman", "window_param": 0.3}),
]


@pytest.mark.parametrize(("seed", "algorithm", "metric", "s_limit", "t_limit", "extra"), CASES)
def test_labels_match_reference(seed: int, algorithm: str, metric: str, s_limit: float, t_limit: float,
                                extra: dict[str, object]) -> None:
    data = random_points(seed, 45)
    densities = gaussian_kde(data.coords.T)(data.coords.T)
    steepness = float(2.0 / densities.mean())
    arguments = dict(distance_measure=metric, algorithm=algorithm, **extra)
    with contextlib.redirect_stdout(io.StringIO()):
        expected = reference.clustering(
            data.coords.copy(), data.series.copy(), s_limit, t_limit, 3, steepness, **arguments
        )
    ours = clustering(data.coords, data.series, s_limit, t_limit, 3, steepness, **arguments)
    assert expected.max() >= 2, "case should produce several clusters to be a meaningful check"
    assert adjusted_rand_score(expected, ours) == 1.0
    np.testing.assert_array_equal(ours == 0, expected == 0)
    np.testing.assert_array_equal(ours, expected)
