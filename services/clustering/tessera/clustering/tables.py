"""Point tables in and result tables out (Parquet or CSV, via pandas/pyarrow).

Input, either layout:
- wide: one row per point, columns ``id, lat, lon`` (+ optional ``weight``) and the series in the
  remaining numeric columns, in column order;
- long: columns ``id, time, value`` (+ ``lat, lon`` repeated per row, or given per id in the same
  table), one row per point and time step; series may differ in length.
Bad rows raise ``InvalidArgument`` naming the column and the first offending row.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from tessera.core.errors import InvalidArgument

from .scadda import ScaddaResult, validate_coordinates
from .summary import ClusterSummary

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class PointTable:
    """``ids`` (N,) as strings; ``coords`` (N, 2) [lat, lon]; ``series``: N arrays; ``weights`` or None."""

    ids: list[str]
    coords: FloatArray
    series: list[FloatArray]
    weights: FloatArray | None


def read_table(data: bytes | Path, name: str) -> pd.DataFrame:
    """Parquet when ``name`` ends in .parquet/.pq, else CSV."""
    source = io.BytesIO(data) if isinstance(data, bytes) else data
    if name.lower().endswith((".parquet", ".pq")):
        return pd.read_parquet(source)
    return pd.read_csv(source)


def points_from_frame(frame: pd.DataFrame) -> PointTable:
    """Parse a wide or long point table (see the module docstring)."""
    columns = {str(c).lower(): c for c in frame.columns}
    for required in ("id", "lat", "lon"):
        if required not in columns:
            raise InvalidArgument.field(required, f"column {required!r} missing; columns are {list(frame.columns)}")
    if "time" in columns and "value" in columns:
        return _long(frame, columns)
    return _wide(frame, columns)


def _check_numbers(frame: pd.DataFrame, column: str) -> FloatArray:
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise InvalidArgument.field(str(column), f"row {int(bad[0])}: missing, non-numeric or infinite value")
    return values


def _wide(frame: pd.DataFrame, columns: dict[str, str]) -> PointTable:
    ids = frame[columns["id"]].astype(str)
    duplicated = np.flatnonzero(ids.duplicated().to_numpy())
    if duplicated.size:
        raise InvalidArgument.field("id", f"row {int(duplicated[0])}: duplicate id {ids.iloc[int(duplicated[0])]!r}")
    coords = np.column_stack([_check_numbers(frame, columns["lat"]), _check_numbers(frame, columns["lon"])])
    validate_coordinates(coords, "greatcircle")
    reserved = {columns[k] for k in ("id", "lat", "lon", "weight") if k in columns}
    value_columns = [c for c in frame.columns if c not in reserved]
    if len(value_columns) < 2:
        raise InvalidArgument.field("series", f"need >= 2 series columns besides id, lat, lon; got {value_columns}")
    series = np.column_stack([_check_numbers(frame, c) for c in value_columns])
    weights = _check_numbers(frame, columns["weight"]) if "weight" in columns else None
    return PointTable(ids.tolist(), coords, list(series), weights)


def _long(frame: pd.DataFrame, columns: dict[str, str]) -> PointTable:
    for key in ("value", "lat", "lon"):
        _check_numbers(frame, columns[key])
    ordered = frame.sort_values([columns["id"], columns["time"]], kind="stable")
    ids, coords, series, weights = [], [], [], []
    for point_id, rows in ordered.groupby(columns["id"], sort=False):
        times = rows[columns["time"]]
        if times.duplicated().any():
            first = int(np.flatnonzero(times.duplicated().to_numpy())[0])
            raise InvalidArgument.field("time", f"row {int(rows.index[first])}: id {point_id!r} repeats a time")
        lat, lon = rows[columns["lat"]].to_numpy(float), rows[columns["lon"]].to_numpy(float)
        if np.ptp(lat) > 0 or np.ptp(lon) > 0:
            raise InvalidArgument.field("lat", f"row {int(rows.index[0])}: id {point_id!r} has more than one position")
        ids.append(str(point_id))
        coords.append((lat[0], lon[0]))
        series.append(rows[columns["value"]].to_numpy(dtype=np.float64))
        if "weight" in columns:
            weights.append(float(rows[columns["weight"]].iloc[0]))
    coord_array = np.asarray(coords, dtype=np.float64)
    validate_coordinates(coord_array, "greatcircle")
    return PointTable(ids, coord_array, series, np.asarray(weights) if weights else None)


def labels_frame(table: PointTable, result: ScaddaResult) -> pd.DataFrame:
    """One row per point: id, lat, lon, label (-1 noise), core, border, noise, stage, density."""
    return pd.DataFrame({
        "id": table.ids, "lat": table.coords[:, 0], "lon": table.coords[:, 1], "label": result.labels,
        "core": result.core, "border": result.border, "noise": result.noise, "stage": result.stage,
        "density": result.densities if result.densities is not None else np.nan,
    })


def summary_frame(summaries: list[ClusterSummary]) -> pd.DataFrame:
    """One row per cluster; ``mean_series`` as a list column. No clusters: no rows, same columns."""
    columns = [f.name for f in fields(ClusterSummary)]
    return pd.DataFrame([{**{k: v for k, v in vars(s).items() if k != "mean_series"},
                          "mean_series": s.mean_series.tolist()} for s in summaries], columns=columns)


def to_parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()
