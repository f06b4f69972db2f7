"""SCADDA (Moews & Gieschen, arXiv 2311.04290): ST-DBSCAN with KDE-adaptive distance rescaling.

One stage: (1) KDE density k_i at each point; (2) spatial neighbour pairs with
great_circle(i, j) * logistic((k_i + k_j) / 2) < s_limit, the logistic having maximum 2,
midpoint mean(k) and the given steepness (plain ST-DBSCAN: weight 1); (3) DTW between the two
points' series for those pairs only, kept when < t_limit; (4) cluster expansion with the
reference's rules. If more than ``outlier_perc`` % of the points are noise, the noise points are
clustered again, with a KDE of their own and both limits doubled, into second-stage clusters.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from tessera.core.errors import InvalidArgument

from .dtw import SeriesSet, band_half_width, pair_distances, prepare_series
from .expansion import NOISE, Adjacency, expand_clusters
from .kde import default_steepness, logistic_weight, point_densities
from .neighbours import spatial_pairs
from .params import ScaddaParams

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Progress = Callable[[str, float], None]

PHASES: tuple[str, ...] = ("kde", "neighbours", "dtw", "expansion")
MAX_STAGES = 64  # doubling both limits 63 times covers any distance; stops a stage loop that cannot shrink

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StageStats:
    """Work done by one stage: points, spatial candidates measured, spatial pairs (DTW computed),
    neighbour pairs kept, clusters found, and the steepness and KDE midpoint used."""

    points: int
    candidates: int
    spatial_pairs: int
    neighbour_pairs: int
    clusters: int
    steepness: float | None
    midpoint: float | None
    s_limit: float
    t_limit: float


@dataclass(frozen=True)
class ScaddaResult:
    """``labels`` (N,): -1 noise, clusters 0..K-1 (first-stage clusters first); ``core`` (N,):
    core point in the stage that clustered it; ``stage`` (N,): 1 for first-stage members, 2.. for
    second-stage clusters, 0 for noise; ``densities`` (N,): first-stage KDE values."""

    labels: IntArray
    core: npt.NDArray[np.bool_]
    stage: IntArray
    densities: FloatArray | None
    stages: list[StageStats] = field(default_factory=list)

    @property
    def n_clusters(self) -> int:
        return int(self.labels.max()) + 1 if self.labels.size else 0

    @property
    def border(self) -> npt.NDArray[np.bool_]:
        return (self.labels != NOISE) & ~self.core

    @property
    def noise(self) -> npt.NDArray[np.bool_]:
        return self.labels == NOISE


def validate_coordinates(coords: FloatArray, metric: str) -> None:
    """Raise ``InvalidArgument`` naming the first row with a non-finite or out-of-range coordinate.

    ``coords`` (N, 2) is [lat, lon] in degrees for ``greatcircle``.
    """
    finite = np.all(np.isfinite(coords), axis=1)
    if not finite.all():
        row = int(np.flatnonzero(~finite)[0])
        raise InvalidArgument.field("s_data", f"row {row}: NaN or infinite coordinate")
    if metric != "greatcircle":
        return
    bad_lat = np.flatnonzero(np.abs(coords[:, 0]) > 90.0)
    if bad_lat.size:
        row = int(bad_lat[0])
        raise InvalidArgument.field("lat", f"row {row}: latitude {coords[row, 0]} outside [-90, 90]")
    bad_lon = np.flatnonzero(np.abs(coords[:, 1]) > 180.0)
    if bad_lon.size:
        row = int(bad_lon[0])
        raise InvalidArgument.field("lon", f"row {row}: longitude {coords[row, 1]} outside [-180, 180]")


def scadda(
    coords: FloatArray,
    series: FloatArray | Sequence[FloatArray],
    params: ScaddaParams,
    *,
    weights: FloatArray | None = None,
    progress: Progress | None = None,
) -> ScaddaResult:
    """Cluster N points with coordinates ``coords`` (N, 2) = [lat, lon] in degrees (or [x, y]
    for the euclidean metric) and one series per point (see :func:`prepare_series` for shapes).

    ``weights`` (N,), optional, e.g. population: they weight the KDE and count toward
    ``minimum_neighbors``. ``progress(phase, fraction)`` is called per phase ("kde",
    "neighbours", "dtw", "expansion") of each stage. Memory grows with the number of candidate
    pairs, not N^2.
    """
    params.validate()
    coords = np.ascontiguousarray(coords, dtype=np.float64)
    if coords.ndim != 2 or coords.shape[1] != 2:
        raise InvalidArgument.field("s_data", f"must have shape (N, 2), got {coords.shape}")
    validate_coordinates(coords, params.metric)
    prepared = prepare_series(series, params.z_normalization)
    n = coords.shape[0]
    if len(prepared.series) != n:
        raise InvalidArgument.field("t_data", f"{len(prepared.series)} series for {n} points")
    if n < params.minimum_neighbors + 1:
        raise InvalidArgument.field(
            "minimum_neighbors", f"{n} points cannot give any point {params.minimum_neighbors} neighbours"
        )
    if weights is not None:
        weights = np.asarray(weights, dtype=np.float64)
        if weights.shape != (n,) or not np.all(np.isfinite(weights)) or np.any(weights < 0):
            if weights.shape != (n,):
                raise InvalidArgument.field("weights", f"must have shape ({n},), got {weights.shape}")
            row = int(np.flatnonzero(~np.isfinite(weights) | (weights < 0))[0])
            raise InvalidArgument.field("weights", f"row {row}: weight must be finite and >= 0, got {weights[row]}")
    half_width = band_half_width(params.window, prepared.lengths)

    labels = np.full(n, NOISE, dtype=np.int64)
    core = np.zeros(n, dtype=bool)
    stage = np.zeros(n, dtype=np.int64)
    stats: list[StageStats] = []
    first_densities: FloatArray | None = None
    members = np.arange(n)
    s_limit, t_limit = float(params.s_limit), float(params.t_limit)
    next_label = 0
    for stage_number in range(1, MAX_STAGES + 1):
        sub_weights = None if weights is None else weights[members]
        outcome = _one_stage(coords[members], _subset(prepared, members), params, s_limit, t_limit, half_width,
                             sub_weights, progress)
        sub_labels, sub_core, densities, stage_stats = outcome
        if first_densities is None:
            first_densities = densities
        stats.append(stage_stats)
        clustered = sub_labels != NOISE
        labels[members[clustered]] = sub_labels[clustered] + next_label
        core[members[clustered]] = sub_core[clustered]
        stage[members[clustered]] = stage_number
        next_label += stage_stats.clusters
        members = np.flatnonzero(labels == NOISE)
        noise_percent = 100.0 * members.size / n
        # Another stage needs too much noise and enough noise points to form any cluster at all.
        if noise_percent <= params.outlier_perc or members.size < params.minimum_neighbors + 1:
            break
        s_limit, t_limit = 2.0 * s_limit, 2.0 * t_limit
    return ScaddaResult(labels, core, stage, first_densities, stats)


def _subset(prepared: SeriesSet, members: IntArray) -> SeriesSet:
    if members.size == len(prepared.series):
        return prepared
    return SeriesSet(
        [prepared.series[k] for k in members.tolist()], prepared.lengths[members], prepared.channels,
        prepared.usable[members],
    )


def _one_stage(
    coords: FloatArray,
    prepared: SeriesSet,
    params: ScaddaParams,
    s_limit: float,
    t_limit: float,
    half_width: int,
    weights: FloatArray | None,
    progress: Progress | None,
) -> tuple[IntArray, npt.NDArray[np.bool_], FloatArray | None, StageStats]:
    n = coords.shape[0]

    def phase(name: str) -> Callable[[float], None] | None:
        return None if progress is None else (lambda fraction: progress(name, fraction))

    report = phase("kde")
    if report is not None:
        report(0.0)
    densities: FloatArray | None = None
    steepness: float | None = None
    midpoint: float | None = None
    weight_of: Callable[[FloatArray], FloatArray] | None = None
    if params.algorithm == "scadda":
        densities = point_densities(
            coords, metric=params.metric, bandwidth=params.bandwidth, bandwidth_km=params.bandwidth_km,
            weights=weights, exact_max_n=params.kde_exact_max_n, rtol=params.kde_rtol,
        )
        midpoint = float(np.mean(densities))
        steepness = float(params.steepness) if params.steepness is not None else default_steepness(densities)
        if not math.isfinite(steepness * midpoint):
            raise InvalidArgument.field("steepness", f"steepness {steepness} overflows with mean density {midpoint}")
        weight_of = functools.partial(logistic_weight, midpoint=midpoint, steepness=steepness)

    if report is not None:
        report(1.0)
    pairs = spatial_pairs(
        coords, s_limit=s_limit, metric=params.metric, weight_of=weight_of, densities=densities,
        progress=phase("neighbours"),
    )
    temporal = pair_distances(
        prepared, pairs.i, pairs.j, half_width=half_width, t_limit=t_limit, progress=phase("dtw")
    )
    keep = temporal < t_limit  # NaN (unusable series) and inf (abandoned) both fail, as in the reference
    adjacency = Adjacency.from_pairs(n, pairs.i[keep], pairs.j[keep])
    expansion = expand_clusters(adjacency, params.minimum_neighbors, weights, progress=phase("expansion"))
    stats = StageStats(
        points=n, candidates=pairs.candidates, spatial_pairs=int(pairs.i.size), neighbour_pairs=int(keep.sum()),
        clusters=expansion.n_clusters, steepness=steepness, midpoint=midpoint, s_limit=s_limit, t_limit=t_limit,
    )
    logger.debug("scadda stage: %s", stats)
    return expansion.labels, expansion.core, densities, stats
