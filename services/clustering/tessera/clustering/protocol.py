"""Conversions between the clustering protos and the library: options -> ``ScaddaParams``, request
points -> ``PointTable``, results -> ``ClusterResponse``; bad values named in proto path form.

Field names: option problems are ``options.<field>``; point problems ``points[i].<field>`` with i
the point's index in the request. The library's own names (``s_data``, ``t_data``, ``window``
with a row) are translated by :func:`renamed`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import cast

import numpy as np

from tessera.core.errors import FieldViolation, InvalidArgument
from tessera.v1 import clustering_pb2

from .params import Algorithm, Metric, ScaddaParams
from .scadda import ScaddaResult
from .summary import ClusterSummary
from .tables import PointTable

MAX_VIOLATIONS = 20  # a request with thousands of bad points gets the first few named, not a huge error
_ROW = re.compile(r"^row (\d+):")


def window_of(message: clustering_pb2.ScaddaOptions | clustering_pb2.SuggestParametersRequest) -> int | float | None:
    """The oneof ``window``: steps (int), a fraction (float) or None for the default."""
    which = message.WhichOneof("window")
    if which == "window_steps":
        return int(message.window_steps)
    if which == "window_fraction":
        return float(message.window_fraction)
    return None


def params_from_options(options: clustering_pb2.ScaddaOptions) -> ScaddaParams:
    """``ScaddaParams`` from the proto (empty strings pick the defaults); raises ``InvalidArgument``
    naming ``options.<field>`` for every bad value."""
    bandwidth: str | float = options.bandwidth_rule or "scott"
    if options.HasField("bandwidth_factor"):
        bandwidth = float(options.bandwidth_factor)
    params = ScaddaParams(
        s_limit=float(options.s_limit),
        t_limit=float(options.t_limit),
        minimum_neighbors=int(options.minimum_neighbors),
        steepness=float(options.steepness) if options.HasField("steepness") else None,
        window=window_of(options),
        metric=cast(Metric, options.metric or "greatcircle"),
        algorithm=cast(Algorithm, options.algorithm or "scadda"),
        bandwidth=bandwidth,
        bandwidth_km=float(options.bandwidth_km) if options.HasField("bandwidth_km") else None,
        z_normalization=bool(options.z_normalization),
        outlier_perc=float(options.outlier_perc) if options.HasField("outlier_perc") else 100.0,
    )
    try:
        params.validate()
    except InvalidArgument as error:
        raise renamed(error, options_prefix="options", options=options) from None
    return params


Options = clustering_pb2.ScaddaOptions | clustering_pb2.SuggestParametersRequest


def option_field(name: str, options: Options | None, prefix: str) -> str:
    """The proto field a ``ScaddaParams`` field comes from (``window`` and ``bandwidth`` are set
    through one of two fields)."""
    if name == "window":
        which = options.WhichOneof("window") if options is not None else None
        name = which or "window_steps"
    elif name == "bandwidth":
        factor = isinstance(options, clustering_pb2.ScaddaOptions) and options.HasField("bandwidth_factor")
        name = "bandwidth_factor" if factor else "bandwidth_rule"
    return f"{prefix}.{name}" if prefix else name


def renamed(
    error: InvalidArgument,
    *,
    options_prefix: str = "options",
    options: Options | None = None,
    points_prefix: str | None = None,
) -> InvalidArgument:
    """``error`` with the library's field names turned into the request's.

    With ``points_prefix`` (``"points"``), per-row problems become ``points[row].<field>``;
    without, they keep the column's name (tables name their own rows).
    """
    point_fields = {"s_data": "lat", "lat": "lat", "lon": "lon", "t_data": "series", "window": "series",
                    "weights": "weight", "id": "id"}
    out = []
    for violation in error.violations:
        row = _ROW.match(violation.description)
        if points_prefix is not None and violation.field in point_fields and (row or violation.field != "window"):
            where = f"{points_prefix}[{row.group(1)}]" if row else points_prefix
            description = violation.description[row.end():].strip() if row else violation.description
            out.append(FieldViolation(f"{where}.{point_fields[violation.field]}", description))
        elif violation.field in point_fields and violation.field != "window":
            out.append(violation)
        else:
            out.append(FieldViolation(option_field(violation.field, options, options_prefix), violation.description))
    return InvalidArgument(out)


def points_from_request(points: Sequence[clustering_pb2.Point], channels: int, metric: str = "greatcircle",
                        limit: int | None = None) -> PointTable:
    """A ``PointTable`` from request points; every problem named as ``points[i].<field>``.

    ``channels`` D > 1 reads each series as row-major (L, D). Ids default to the point's index.
    """
    problems: list[FieldViolation] = []
    if channels < 0:
        raise InvalidArgument.field("channels", f"must be >= 0, got {channels}")
    if not points:
        raise InvalidArgument.field("points", "must hold at least one point")
    if limit is not None and len(points) > limit:
        raise InvalidArgument.field("points", f"{len(points)} points exceed this call's limit of {limit}; "
                                    "use ClusterJob with a table in the artifact store")
    width = max(channels, 1)
    weighted = sum(1 for p in points if p.HasField("weight"))
    ids: list[str] = []
    seen: dict[str, int] = {}
    coords = np.empty((len(points), 2), dtype=np.float64)
    series: list[np.ndarray] = []
    weights = np.ones(len(points), dtype=np.float64)
    for i, point in enumerate(points):
        where = f"points[{i}]"
        point_id = point.id or str(i)
        if point_id in seen:
            first = seen[point_id]
            problems.append(FieldViolation(f"{where}.id", f"duplicate id {point_id!r} (first at points[{first}])"))
        seen.setdefault(point_id, i)
        ids.append(point_id)
        for name, value, bound in (("lat", point.lat, 90.0), ("lon", point.lon, 180.0)):
            if not math.isfinite(value):
                problems.append(FieldViolation(f"{where}.{name}", "NaN or infinite coordinate"))
            elif metric == "greatcircle" and abs(value) > bound:
                problems.append(FieldViolation(f"{where}.{name}", f"{value} outside [-{bound:g}, {bound:g}]"))
        coords[i] = (point.lat, point.lon)
        values = np.asarray(point.series, dtype=np.float64)
        if values.size % width:
            problems.append(FieldViolation(f"{where}.series", f"{values.size} values are not a multiple of "
                                                              f"channels = {width}"))
            values = values[: values.size - values.size % width]
        if values.size // width < 2:
            problems.append(FieldViolation(f"{where}.series", f"needs >= 2 time steps, got {values.size // width}"))
        elif not np.all(np.isfinite(values)):
            step = int(np.flatnonzero(~np.isfinite(values))[0]) // width
            problems.append(FieldViolation(f"{where}.series", f"NaN or infinite value at time step {step}"))
        series.append(values.reshape(-1, width) if channels > 1 else values)
        if point.HasField("weight"):
            if not math.isfinite(point.weight) or point.weight < 0:
                problems.append(FieldViolation(f"{where}.weight", f"must be finite and >= 0, got {point.weight}"))
            weights[i] = point.weight
        elif weighted:
            problems.append(FieldViolation(f"{where}.weight", "set on some points but not on this one"))
        if len(problems) >= MAX_VIOLATIONS:
            break
    if problems:
        raise InvalidArgument(problems)
    return PointTable(ids, coords, series, weights if weighted else None)


def summary_message(summary: ClusterSummary) -> clustering_pb2.ClusterSummary:
    return clustering_pb2.ClusterSummary(
        label=summary.label, size=summary.size, core=summary.core,
        centroid_lat=summary.centroid_lat, centroid_lon=summary.centroid_lon,
        lat_min=summary.lat_min, lat_max=summary.lat_max, lon_min=summary.lon_min, lon_max=summary.lon_max,
        mean_series=summary.mean_series.astype(float).tolist(), dominant_period=summary.dominant_period,
        peak_step=summary.peak_step,
    )


def roles(result: ScaddaResult) -> list[int]:
    """Per point: core, border or noise (``PointRole`` values)."""
    out = np.full(result.labels.shape, clustering_pb2.POINT_ROLE_BORDER, dtype=np.int64)
    out[result.core] = clustering_pb2.POINT_ROLE_CORE
    out[result.noise] = clustering_pb2.POINT_ROLE_NOISE
    return cast(list[int], out.tolist())


def cluster_response(table: PointTable, result: ScaddaResult,
                     summaries: list[ClusterSummary]) -> clustering_pb2.ClusterResponse:
    return clustering_pb2.ClusterResponse(
        ids=table.ids,
        labels=result.labels.tolist(),
        roles=roles(result),  # type: ignore[arg-type]
        stages=result.stage.tolist(),
        densities=[] if result.densities is None else result.densities.astype(float).tolist(),
        clusters=[summary_message(s) for s in summaries],
        stage_stats=[
            clustering_pb2.StageStats(stage=k, points=s.points, spatial_pairs=s.spatial_pairs,
                                      neighbour_pairs=s.neighbour_pairs, clusters=s.clusters, s_limit=s.s_limit,
                                      t_limit=s.t_limit, steepness=s.steepness or 0.0)
            for k, s in enumerate(result.stages, 1)
        ],
        n_clusters=result.n_clusters,
        n_noise=int(result.noise.sum()),
    )
