"""No N x N matrix: work and memory grow with the candidate pairs."""

from __future__ import annotations

import tracemalloc

import numpy as np

from tessera.clustering import ScaddaParams, scadda
from tessera.clustering.synthetic import fire_season_africa


def test_candidates_and_memory_far_below_n_squared() -> None:
    data = fire_season_africa(0, step_deg=0.8)  # 4,500 cells
    n = data.truth.size
    tracemalloc.start()
    result = scadda(data.coords, data.series, ScaddaParams(s_limit=3.2 * 0.8 * 111, t_limit=2.0, minimum_neighbors=5))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    stage = result.stages[0]
    assert n > 4000
    assert stage.candidates < n * n / 50
    assert stage.spatial_pairs <= stage.candidates
    # A dense float64 N x N matrix alone would be 8 N^2 bytes (~160 MB here).
    assert peak < 8 * n * n / 10
    assert result.n_clusters >= 3


def test_stage_counts_are_consistent() -> None:
    data = fire_season_africa(1, step_deg=2.0)
    result = scadda(data.coords, data.series, ScaddaParams(s_limit=700.0, t_limit=2.0, minimum_neighbors=5))
    stage = result.stages[0]
    assert stage.neighbour_pairs <= stage.spatial_pairs
    assert np.all(result.core <= (result.labels >= 0))
