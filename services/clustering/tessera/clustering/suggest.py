"""Parameter helper: suggest ``s_limit`` and ``t_limit`` from k-distance curves.

As for DBSCAN's eps: sort every point's distance to its k-th nearest neighbour (k =
``minimum_neighbors``) and take the knee of that curve, the point farthest from the chord
between its ends. Spatially the neighbours are the k nearest by great-circle distance; in time,
the k-th smallest DTW distance among each point's 4k nearest spatial neighbours (the pairs
SCADDA would compare), on a seeded random sample of at most ``sample`` points.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from sklearn.neighbors import BallTree, KDTree

from .dtw import band_half_width, pair_distances, prepare_series
from .neighbours import EARTH_RADIUS_KM

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class SuggestedLimits:
    """Suggested limits and the sorted k-distance curves (ascending) they came from."""

    s_limit: float
    t_limit: float
    spatial_curve: FloatArray
    temporal_curve: FloatArray


def knee(curve: FloatArray) -> float:
    """Value at the knee of an ascending curve: the point farthest below the chord."""
    if curve.size < 3:
        return float(curve[-1]) if curve.size else 0.0
    x = np.linspace(0.0, 1.0, curve.size)
    span = float(curve[-1] - curve[0]) or 1.0
    y = (curve - curve[0]) / span
    return float(curve[int(np.argmax(x - y))])


def suggest_limits(
    coords: FloatArray,
    series: FloatArray,
    minimum_neighbors: int,
    *,
    metric: str = "greatcircle",
    window: int | float | None = None,
    z_normalization: bool = False,
    sample: int = 2000,
    seed: int = 0,
) -> SuggestedLimits:
    """Suggest (s_limit in km or coordinate units, t_limit) for ``coords`` (N, 2) [lat, lon] and
    ``series`` (N, L); the spatial limit is the raw distance knee (weights average about 1)."""
    n = coords.shape[0]
    k = min(minimum_neighbors, n - 1)
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(n, size=min(sample, n), replace=False))
    if metric == "greatcircle":
        tree: BallTree | KDTree = BallTree(np.radians(coords), metric="haversine")
        scale, points = EARTH_RADIUS_KM, np.radians(coords)
    else:
        tree, scale, points = KDTree(coords), 1.0, coords
    spatial_k = min(4 * k, n - 1)
    distances, indices = tree.query(points[chosen], k=spatial_k + 1)
    spatial_curve = np.sort(distances[:, k] * scale)
    prepared = prepare_series(series, z_normalization)
    half = band_half_width(window, prepared.lengths)
    first = np.repeat(chosen, spatial_k)
    second = indices[:, 1:].ravel()
    dtw = pair_distances(prepared, first, second, half_width=half, t_limit=np.inf).reshape(chosen.size, spatial_k)
    temporal_curve = np.sort(np.sort(dtw, axis=1)[:, k - 1])
    return SuggestedLimits(knee(spatial_curve), knee(temporal_curve), spatial_curve, temporal_curve)
