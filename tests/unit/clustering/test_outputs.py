"""Summary, figures and the parameter helper."""

from __future__ import annotations

import numpy as np

from tessera.clustering import ScaddaParams, scadda
from tessera.clustering.dtw import prepare_series
from tessera.clustering.plots import cluster_map_png, mean_series_png
from tessera.clustering.suggest import suggest_limits
from tessera.clustering.summary import spherical_centroid, summarise
from tessera.clustering.synthetic import idealized_scenario


def test_centroid_on_the_sphere_across_the_antimeridian() -> None:
    lat, lon = spherical_centroid(np.array([10.0, 10.0]), np.array([179.0, -179.0]))
    assert abs(lat - 10.0) < 0.01 and abs(abs(lon) - 180.0) < 1e-6


def test_summary_and_pngs() -> None:
    data = idealized_scenario(0)
    result = scadda(data.coords, data.series, ScaddaParams(s_limit=30.0, t_limit=1.5, minimum_neighbors=5))
    summaries = summarise(data.coords, prepare_series(data.series).series, result.labels, result.core)
    assert [s.size for s in summaries] == np.bincount(result.labels[result.labels >= 0]).tolist()
    assert all(abs(s.dominant_period - 12.0) < 0.5 for s in summaries)
    peaks = sorted(s.peak_step % 12 for s in summaries)
    assert len(set(peaks)) >= 3  # cities share a season, town and countryside differ
    for png in (cluster_map_png(data.coords, result.labels), mean_series_png(summaries)):
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000


def test_suggested_limits_are_in_the_right_range() -> None:
    data = idealized_scenario(0)
    limits = suggest_limits(data.coords, data.series, 5)
    assert 2.0 < limits.s_limit < 200.0
    assert 0.3 < limits.t_limit < 5.0
    assert np.all(np.diff(limits.spatial_curve) >= 0)
