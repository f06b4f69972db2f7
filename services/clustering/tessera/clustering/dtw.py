"""Time series handling and windowed DTW for the spatial candidate pairs only.

DTW is computed by ``dtaidistance``'s C code: sqrt of the least sum of squared differences along
a warping path inside a Sakoe-Chiba band, the same number the reference gets from
``pyts.metrics.dtw(dist='square', method='sakoechiba')``. pyts' band admits |i - j| <= w, while
dtaidistance's ``window`` admits |i - j| < window, hence ``window = w + 1``. Each pair is given
``max_dist`` just above ``t_limit`` so hopeless paths are abandoned early.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from dtaidistance import dtw_cc
from scipy.stats import zscore

from tessera.core.errors import InvalidArgument

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_MAX_DIST_SLACK = 1e-9  # relative; pruning compares squares, the exact "< t_limit" test is ours


@dataclass(frozen=True)
class SeriesSet:
    """One time series per point: ``series[k]`` is (L_k,) or (L_k, D) float64, C-contiguous.

    ``usable[k]`` is False for a series that z-normalisation turned into NaN (a constant
    series): as in the reference, such a point is nobody's temporal neighbour.
    """

    series: list[FloatArray]
    lengths: IntArray
    channels: int
    usable: npt.NDArray[np.bool_]

    @property
    def equal_length(self) -> bool:
        return bool(np.all(self.lengths == self.lengths[0]))


def prepare_series(data: FloatArray | Sequence[FloatArray], z_normalization: bool = False) -> SeriesSet:
    """Check and normalise the per-point series.

    ``data`` is (N, L) (one channel), (N, L, D) (D channels) or a sequence of N arrays of shape
    (L_k,) or (L_k, D) with possibly different lengths. Raises ``InvalidArgument`` (field
    ``t_data``) naming the first bad row.
    """
    if isinstance(data, np.ndarray) and data.ndim == 2 and z_normalization:
        # Whole-matrix z-scores along time, exactly the reference's zscore(t_data, axis=1).
        if not np.all(np.isfinite(data)):
            bad = int(np.flatnonzero(~np.all(np.isfinite(data), axis=1))[0])
            raise InvalidArgument.field("t_data", f"row {bad}: NaN or infinite value")
        with np.errstate(invalid="ignore", divide="ignore"):
            data = np.asarray(zscore(np.asarray(data, dtype=np.float64), axis=1), dtype=np.float64)
        z_normalization = False
        prenormalised = True
    else:
        prenormalised = False
    rows = [np.asarray(row, dtype=np.float64) for row in data]
    if not rows:
        raise InvalidArgument.field("t_data", "no series given")
    dims = {row.ndim for row in rows}
    if len(dims) != 1 or dims.pop() not in (1, 2):
        raise InvalidArgument.field("t_data", "every series must be 1-D (L,) or 2-D (L, channels), all alike")
    channels = 1 if rows[0].ndim == 1 else rows[0].shape[1]
    for index, row in enumerate(rows):
        if row.ndim == 2 and row.shape[1] != channels:
            raise InvalidArgument.field("t_data", f"row {index}: {row.shape[1]} channels, expected {channels}")
        if row.shape[0] < 2:
            raise InvalidArgument.field("t_data", f"row {index}: needs >= 2 time steps, got {row.shape[0]}")
        if not prenormalised and not np.all(np.isfinite(row)):
            raise InvalidArgument.field("t_data", f"row {index}: NaN or infinite value")
    if z_normalization:
        with np.errstate(invalid="ignore", divide="ignore"):
            rows = [np.asarray(zscore(row, axis=0), dtype=np.float64) for row in rows]
    usable = np.array([bool(np.all(np.isfinite(row))) for row in rows])
    # dtaidistance's C code takes writable buffers only; pandas (copy-on-write) hands out read-only ones.
    rows = [np.ascontiguousarray(row) if row.flags.writeable else np.array(row, order="C") for row in rows]
    lengths = np.array([row.shape[0] for row in rows], dtype=np.int64)
    return SeriesSet(rows, lengths, channels, usable)


def band_half_width(window: int | float | None, lengths: IntArray) -> int:
    """The reference's window as a largest time shift w (pyts semantics), for series of ``lengths``.

    None: ceil(L / 10) with L the first series' length (the reference's default); int: itself;
    float f in [0, 1]: ceil(f (L_max - 1)). Raises ``InvalidArgument`` (field ``window``) naming
    the first row whose series is not longer than w, which the reference (pyts) rejects too.
    """
    length = int(lengths[0]) if window is None else int(lengths.max())
    if window is None:
        half = math.ceil(length / 10)
    elif isinstance(window, float):
        half = math.ceil(window * (length - 1))
    else:
        half = int(window)
    short = np.flatnonzero(lengths <= half)
    if short.size:
        row = int(short[0])
        raise InvalidArgument.field(
            "window", f"row {row}: band half-width {half} needs series longer than {half}, got {lengths[row]}"
        )
    return half


def pair_distances(
    series: SeriesSet,
    first: IntArray,
    second: IntArray,
    *,
    half_width: int,
    t_limit: float,
    progress: Callable[[float], None] | None = None,
    report_every: int = 200_000,
) -> FloatArray:
    """DTW distance for each pair (first[k], second[k]), shape (P,).

    Pairs whose distance exceeds ``t_limit`` may come back as ``inf`` (abandoned early); pairs
    with an unusable series come back as NaN. Cost: P calls into C, each O(L * (2w + 1)).
    """
    out = np.full(first.size, np.nan, dtype=np.float64)
    window = half_width + 1
    max_dist = t_limit * (1.0 + _MAX_DIST_SLACK)
    distance = dtw_cc.distance if series.channels == 1 and series.series[0].ndim == 1 else dtw_cc.distance_ndim
    rows = series.series
    usable = series.usable
    total = first.size
    for start in range(0, total, report_every):
        stop = min(start + report_every, total)
        for k, (a, b) in enumerate(zip(first[start:stop].tolist(), second[start:stop].tolist(), strict=True), start):
            if usable[a] and usable[b]:
                out[k] = distance(rows[a], rows[b], window=window, max_dist=max_dist)
        if progress is not None:
            progress(stop / total)
    return out
