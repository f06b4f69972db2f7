"""Per-cluster summary: size, centroid on the sphere, bounding box, mean series, seasonality."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .expansion import NOISE

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class ClusterSummary:
    """One cluster. Centroid: normalised mean of the members' unit vectors (degrees); bounding
    box in degrees (min/max, not wrapped across the antimeridian); ``mean_series`` (L,) over the
    members (channel mean for multivariate series; series of unequal length are compared on
    their common first ``min length`` steps); ``dominant_period`` in time steps (largest
    periodogram peak of the mean series, 0 when flat) and ``peak_step`` the step of its maximum."""

    label: int
    size: int
    core: int
    centroid_lat: float
    centroid_lon: float
    lat_min: float
    lat_max: float
    lon_min: float
    lon_max: float
    mean_series: FloatArray
    dominant_period: float
    peak_step: int


def spherical_centroid(lat: FloatArray, lon: FloatArray) -> tuple[float, float]:
    """Mean direction of points on the unit sphere, as (lat, lon) in degrees."""
    phi, lam = np.radians(lat), np.radians(lon)
    vector = np.array([np.sum(np.cos(phi) * np.cos(lam)), np.sum(np.cos(phi) * np.sin(lam)), np.sum(np.sin(phi))])
    x, y, z = vector / max(float(np.linalg.norm(vector)), 1e-300)
    return float(np.degrees(np.arcsin(np.clip(z, -1.0, 1.0)))), float(np.degrees(np.arctan2(y, x)))


def dominant_period(series: FloatArray) -> float:
    """Period (time steps) of the largest non-constant Fourier component; 0 for a flat series."""
    centred = series - series.mean()
    power = np.abs(np.fft.rfft(centred)) ** 2
    if power.size < 2 or float(power[1:].max()) <= 1e-12 * max(float(np.sum(centred**2)), 1e-300):
        return 0.0
    frequency = int(np.argmax(power[1:])) + 1
    return float(series.size / frequency)


def summarise(
    coords: FloatArray, series: list[FloatArray], labels: IntArray, core: npt.NDArray[np.bool_]
) -> list[ClusterSummary]:
    """One :class:`ClusterSummary` per cluster label >= 0, in label order. ``coords`` (N, 2) [lat, lon]."""
    summaries = []
    common = min(row.shape[0] for row in series)
    for label in np.unique(labels[labels != NOISE]).tolist():
        members = np.flatnonzero(labels == label)
        lat, lon = coords[members, 0], coords[members, 1]
        stacked = np.stack([series[k][:common] for k in members.tolist()])
        mean = stacked.mean(axis=0)
        if mean.ndim == 2:
            mean = mean.mean(axis=1)
        c_lat, c_lon = spherical_centroid(lat, lon)
        summaries.append(
            ClusterSummary(
                label=int(label), size=int(members.size), core=int(core[members].sum()),
                centroid_lat=c_lat, centroid_lon=c_lon,
                lat_min=float(lat.min()), lat_max=float(lat.max()), lon_min=float(lon.min()), lon_max=float(lon.max()),
                mean_series=mean, dominant_period=dominant_period(mean), peak_step=int(np.argmax(mean)),
            )
        )
    return summaries
