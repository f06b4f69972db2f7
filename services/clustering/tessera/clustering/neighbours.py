"""Spatial neighbour candidates without an N x N matrix.

A pair (i, j) is a spatial neighbour when d(i, j) * w(i, j) < s_limit, where w is the logistic
weight of the pair's mean density (SCADDA) or 1 (ST-DBSCAN). Since the logistic increases with
density, w(i, j) >= logistic((k_i + k_min(B)) / 2) for every j in a group B of points whose
densities are at least k_min(B). Points are split into density groups, each with its own tree
(haversine BallTree on the sphere, KD-tree in the plane), and point i queries group B with the
largest radius the rescaling can admit there, s_limit / logistic((k_i + k_min(B)) / 2). Only the
pairs found are measured exactly (the reference's geopy formula) and kept when they pass.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from sklearn.neighbors import BallTree, KDTree

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

EARTH_RADIUS_KM = 6371.009  # geopy's mean great-circle radius, so distances match the reference
_RADIUS_SLACK = 1e-7  # relative; trees use their own haversine, the exact test is done after


def great_circle_km(lat1: FloatArray, lon1: FloatArray, lat2: FloatArray, lon2: FloatArray) -> FloatArray:
    """Great-circle distance in km between points in degrees, element-wise.

    The same atan2 formula and radius as ``geopy.distance.great_circle`` (the reference's metric),
    which stays accurate for antipodal and very close points.
    """
    phi1, phi2 = np.radians(lat1), np.radians(lat2)
    sin1, cos1, sin2, cos2 = np.sin(phi1), np.cos(phi1), np.sin(phi2), np.cos(phi2)
    delta = np.radians(lon2) - np.radians(lon1)
    cos_d, sin_d = np.cos(delta), np.sin(delta)
    numerator = np.sqrt((cos2 * sin_d) ** 2 + (cos1 * sin2 - sin1 * cos2 * cos_d) ** 2)
    return np.asarray(EARTH_RADIUS_KM * np.arctan2(numerator, sin1 * sin2 + cos1 * cos2 * cos_d), dtype=np.float64)


def euclidean(x1: FloatArray, y1: FloatArray, x2: FloatArray, y2: FloatArray) -> FloatArray:
    """Plane distance, element-wise."""
    return np.asarray(np.sqrt((x1 - x2) ** 2 + (y1 - y2) ** 2), dtype=np.float64)


@dataclass(frozen=True)
class SpatialPairs:
    """Spatial neighbour pairs, i < j, with their rescaled distances; ``candidates`` counts pairs
    measured exactly (the work done), which is what grows instead of N^2."""

    i: IntArray
    j: IntArray
    distance: FloatArray
    candidates: int


def spatial_pairs(
    coords: FloatArray,
    *,
    s_limit: float,
    metric: str,
    weight_of: Callable[[FloatArray], FloatArray] | None,
    densities: FloatArray | None,
    groups: int = 8,
    chunk: int = 4096,
    progress: Callable[[float], None] | None = None,
) -> SpatialPairs:
    """All pairs i < j with d(i, j) * w(i, j) < s_limit.

    ``coords`` (N, 2) is [lat, lon] in degrees (greatcircle) or [x, y]; ``weight_of`` maps a
    pair's mean density to its weight (None: ST-DBSCAN, weight 1); ``densities`` (N,) per point.
    """
    n = coords.shape[0]
    rescaled = weight_of is not None and densities is not None
    order = np.argsort(densities, kind="stable") if densities is not None and rescaled else np.arange(n)
    n_groups = max(1, min(groups if rescaled else 1, n))
    members = [np.sort(g) for g in np.array_split(order, n_groups) if len(g)]
    points = np.radians(coords) if metric == "greatcircle" else coords
    trees = [BallTree(points[g], metric="haversine") if metric == "greatcircle" else KDTree(points[g]) for g in members]
    far = _radius_cap(points, metric)
    out_i: list[IntArray] = []
    out_j: list[IntArray] = []
    out_d: list[FloatArray] = []
    candidates = 0
    starts = range(0, n, chunk)
    for step, start in enumerate(starts):
        query = np.arange(start, min(start + chunk, n))
        for group, tree in zip(members, trees, strict=True):
            radius = _query_radius(query, group, s_limit, metric, weight_of, densities)
            radius = np.minimum(radius, far)
            hits = tree.query_radius(points[query], r=radius)
            for qi, ci, di in _measure(query, group, hits, coords, metric, weight_of, densities, s_limit):
                candidates += int(qi.size)
                keep = di < s_limit
                out_i.append(qi[keep])
                out_j.append(ci[keep])
                out_d.append(di[keep])
        if progress is not None:
            progress((step + 1) / len(starts))
    if not out_i:
        empty = np.empty(0, dtype=np.int64)
        return SpatialPairs(empty, empty.copy(), np.empty(0), candidates)
    return SpatialPairs(np.concatenate(out_i), np.concatenate(out_j), np.concatenate(out_d), candidates)


def _query_radius(
    query: IntArray,
    group: IntArray,
    s_limit: float,
    metric: str,
    weight_of: Callable[[FloatArray], FloatArray] | None,
    densities: FloatArray | None,
) -> FloatArray:
    if weight_of is None or densities is None:
        radius = np.full(query.size, s_limit, dtype=np.float64)
    else:
        smallest = weight_of((densities[query] + densities[group].min()) / 2.0)
        with np.errstate(divide="ignore"):
            radius = s_limit / smallest
    radius = radius * (1.0 + _RADIUS_SLACK)
    return radius / EARTH_RADIUS_KM if metric == "greatcircle" else radius


def _radius_cap(points: FloatArray, metric: str) -> float:
    # A radius beyond the data's diameter finds everything; capping keeps infinities out of trees.
    if metric == "greatcircle":
        return float(np.pi) * 1.01
    span = points.max(axis=0) - points.min(axis=0)
    return float(np.hypot(*span)) * 1.01 + 1.0


def _measure(
    query: IntArray,
    group: IntArray,
    hits: npt.NDArray[np.object_],
    coords: FloatArray,
    metric: str,
    weight_of: Callable[[FloatArray], FloatArray] | None,
    densities: FloatArray | None,
    s_limit: float,
) -> Iterator[tuple[IntArray, IntArray, FloatArray]]:
    counts = np.fromiter((h.size for h in hits), dtype=np.int64, count=len(hits))
    if counts.sum() == 0:
        return
    first = np.repeat(query, counts)
    second = group[np.concatenate(hits)]
    # Each unordered pair is found from both ends; keep it once, as (smaller, larger) so the
    # distance is computed in the reference's argument order.
    keep = first < second
    first, second = first[keep], second[keep]
    if metric == "greatcircle":
        distance = great_circle_km(coords[first, 0], coords[first, 1], coords[second, 0], coords[second, 1])
    else:
        distance = euclidean(coords[first, 0], coords[first, 1], coords[second, 0], coords[second, 1])
    if weight_of is not None and densities is not None:
        distance = distance * weight_of((densities[first] + densities[second]) / 2.0)
    yield first, second, distance
