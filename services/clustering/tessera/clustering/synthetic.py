"""Synthetic spatio-temporal data with known clusters (no downloads).

- :func:`idealized_scenario`: the paper's idealised test: clusters of very different spatial
  density on the sphere, each with its own seasonal series, plus scattered noise points.
- :func:`fire_season_africa`: a gridded "fire season" over Sub-Saharan Africa's coordinates:
  the northern savanna burns around December-January, the southern around July-August, and a
  southern subgroup whose season is shifted by three months, which SCADDA should split off.
- :func:`random_points`: unstructured inputs for compatibility checks against the reference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Dataset:
    """``coords`` (N, 2) [lat, lon] degrees; ``series`` (N, L); ``truth`` (N,) with -1 = noise."""

    name: str
    coords: FloatArray
    series: FloatArray
    truth: IntArray

    def wide_frame(self, id_prefix: str = "p") -> pd.DataFrame:
        """The wide table ClusterJob reads: ``id`` (``<id_prefix><row>``), ``lat``, ``lon``, ``m00``.. one
        column per time step."""
        frame = pd.DataFrame({"id": [f"{id_prefix}{k}" for k in range(self.truth.size)], "lat": self.coords[:, 0],
                              "lon": self.coords[:, 1]})
        steps = pd.DataFrame(self.series, columns=[f"m{t:02d}" for t in range(self.series.shape[1])])
        return pd.concat([frame, steps], axis=1)


def _seasonal(
    months: int, peak: float, rng: np.random.Generator, n: int, noise: float, period: float = 12.0
) -> FloatArray:
    t = np.arange(months, dtype=np.float64)
    base = 1.0 + np.cos(2 * np.pi * (t - peak) / period)
    return base[None, :] + noise * rng.standard_normal((n, months))


def _scatter(rng: np.random.Generator, centre: tuple[float, float], spread_km: float, n: int) -> FloatArray:
    # Isotropic Gaussian in km around the centre, converted to degrees at the centre's latitude.
    lat0, lon0 = centre
    north = rng.normal(0.0, spread_km, n) / 111.2
    east = rng.normal(0.0, spread_km, n) / (111.2 * np.cos(np.radians(lat0)))
    return np.column_stack([np.clip(lat0 + north, -89.9, 89.9), (lon0 + east + 180.0) % 360.0 - 180.0])


def idealized_scenario(seed: int = 0, scale: float = 1.0, months: int = 24) -> Dataset:
    """Four clusters and 10% noise. Two dense "cities" 80 km apart share one seasonal series,
    a town and a sparse countryside cluster have their own; noise points are spread over the
    region with random-phase series. A radius wide enough for the countryside merges the two
    cities, one narrow enough to part them loses the countryside: the case for rescaling.
    ``scale`` multiplies the point counts (scale 1: 444 points)."""
    rng = np.random.default_rng(seed)
    specs = [  # centre (lat, lon), spread km, points, seasonal peak month
        ((52.0, 0.0), 6.0, 120, 0.0),
        ((52.0, 1.2), 6.0, 120, 0.0),
        ((53.5, -2.5), 25.0, 80, 4.0),
        ((55.0, -4.0), 80.0, 80, 8.0),
    ]
    coords, series, truth = [], [], []
    for label, (centre, spread, count, peak) in enumerate(specs):
        n = max(3, round(count * scale))
        coords.append(_scatter(rng, centre, spread, n))
        series.append(_seasonal(months, peak, rng, n, noise=0.15))
        truth.append(np.full(n, label))
    n_noise = max(2, round(44 * scale))
    coords.append(np.column_stack([rng.uniform(49.0, 58.0, n_noise), rng.uniform(-7.0, 2.0, n_noise)]))
    series.append(np.vstack([_seasonal(months, rng.uniform(0, 12), rng, 1, noise=0.6) for _ in range(n_noise)]))
    truth.append(np.full(n_noise, -1))
    return Dataset("idealized scenario (synthetic, 4 clusters of differing density + noise)",
                   np.vstack(coords), np.vstack(series), np.concatenate(truth).astype(np.int64))


def fire_season_africa(seed: int = 0, step_deg: float = 1.0, months: int = 24) -> Dataset:
    """Grid over 15N-30S, 15W-45E (cells every ``step_deg``) with monthly fire emissions.

    Truth: 0 = northern savanna (peak in January), 1 = southern savanna (peak in August),
    2 = subgroup in the south-east (28-36E, 8-16S) with the season shifted to November.
    Cells in the equatorial band 3N-3S (rainforest: little fire) are noise, -1.
    """
    rng = np.random.default_rng(seed)
    lats = np.arange(15.0, -30.0 - 1e-9, -step_deg)
    lons = np.arange(-15.0, 45.0 + 1e-9, step_deg)
    lat, lon = (g.ravel() for g in np.meshgrid(lats, lons, indexing="ij"))
    truth = np.where(lat > 3.0, 0, np.where(lat < -3.0, 1, -1))
    truth = np.where((lon >= 28) & (lon <= 36) & (lat <= -8) & (lat >= -16), 2, truth)
    peaks = np.array([0.0, 7.0, 10.0])
    t = np.arange(months, dtype=np.float64)
    series = np.empty((lat.size, months))
    for label, peak in enumerate(peaks):
        rows = truth == label
        season = np.maximum(np.cos(2 * np.pi * (t - peak) / 12.0), 0.0) ** 2
        series[rows] = 3.0 * season[None, :] + 0.2 * rng.standard_normal((int(rows.sum()), months))
    quiet = truth == -1
    series[quiet] = 0.3 * rng.standard_normal((int(quiet.sum()), months)) + rng.uniform(0, 2, (int(quiet.sum()), 1))
    return Dataset("fire season over Africa (synthetic grid, shifted subgroup)",
                   np.column_stack([lat, lon]), series, truth.astype(np.int64))


def random_points(seed: int, n: int, months: int = 12, blobs: int = 4) -> Dataset:
    """``n`` points in ``blobs`` Gaussian blobs of differing spread plus uniform points, with
    blob-specific series; ground truth is the blob (uniform points -1). For checks against the
    reference and for timing."""
    rng = np.random.default_rng(seed)
    centres = np.column_stack([rng.uniform(-40, 40, blobs), rng.uniform(-60, 60, blobs)])
    spreads_km = rng.uniform(20.0, 300.0, blobs)
    truth = rng.integers(-1, blobs, n)
    coords = np.empty((n, 2))
    series = np.empty((n, months))
    for label in range(-1, blobs):
        rows = np.flatnonzero(truth == label)
        if label < 0:
            coords[rows] = np.column_stack([rng.uniform(-50, 50, rows.size), rng.uniform(-70, 70, rows.size)])
            series[rows] = rng.standard_normal((rows.size, months))
        else:
            coords[rows] = _scatter(rng, (float(centres[label, 0]), float(centres[label, 1])), float(spreads_km[label]),
                                    rows.size)
            series[rows] = _seasonal(months, rng.uniform(0, 12), rng, rows.size, noise=0.3)
    return Dataset(f"random blobs (synthetic, seed {seed})", coords, series, truth.astype(np.int64))
