"""Point densities and the logistic distance weight of SCADDA.

The reference fits ``scipy.stats.gaussian_kde`` to the raw coordinates (degrees, full covariance
scaled by Scott's or Silverman's factor) and evaluates it at both ends of every pair, N^2 times.
Here the KDE is evaluated once per point: exactly with scipy up to ``exact_max_n`` points (the
same numbers as the reference, O(N^2) time, O(N) memory), and above that as a binned estimate
(same kernel: linear binning on a grid of ``grid_spacing`` kernel widths, Gaussian blur,
bilinear read-back; relative error ~1e-3), which is O(N + grid cells). A bandwidth in km uses
scikit-learn's tree KDE with the haversine metric (tolerance ``rtol``).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from scipy import linalg, ndimage
from scipy.stats import gaussian_kde
from sklearn.neighbors import KernelDensity

from tessera.core.errors import InvalidArgument

from .neighbours import EARTH_RADIUS_KM

FloatArray = npt.NDArray[np.float64]

_MAX_GRID_CELLS = 16_000_000  # ~128 MB of float64; coarser spacing beyond it


def point_densities(
    coords: FloatArray,
    *,
    metric: str = "greatcircle",
    bandwidth: str | float = "scott",
    bandwidth_km: float | None = None,
    weights: FloatArray | None = None,
    exact_max_n: int = 20_000,
    rtol: float = 1e-6,
    grid_spacing: float = 0.05,
) -> FloatArray:
    """Gaussian KDE of the points evaluated at each point, shape (N,).

    ``coords`` is (N, 2): [lat, lon] in degrees for ``greatcircle`` (the column order the
    reference's geopy calls read), any two coordinates for ``euclidean``. Units are 1/deg^2 for
    the rule-based bandwidths (as the reference), 1/km^2-like for ``bandwidth_km``; only their
    ratio to the mean density matters to the weight.
    """
    n = coords.shape[0]
    if bandwidth_km is not None:
        return _isotropic_densities(coords, metric, bandwidth_km, weights, rtol)
    try:
        kde = gaussian_kde(coords.T, bw_method=bandwidth, weights=weights)
    except (linalg.LinAlgError, ValueError) as error:
        raise InvalidArgument.field(
            "s_data", f"coordinates are degenerate (identical or collinear points), KDE undefined: {error}"
        ) from error
    if n <= exact_max_n:
        return np.asarray(kde(coords.T), dtype=np.float64)
    return _binned_densities(coords, np.asarray(kde.covariance), weights, grid_spacing)


def _binned_densities(
    coords: FloatArray, covariance: FloatArray, weights: FloatArray | None, spacing: float
) -> FloatArray:
    # Whitening by the Cholesky factor L of the kernel covariance turns scipy's kernel into a
    # unit isotropic Gaussian (the density picks up the Jacobian 1/det L). There the KDE is a
    # Gaussian blur of the points' mass: spread each point linearly over its 4 grid corners,
    # blur the grid (separable, O(cells)) and read it back bilinearly at each point.
    chol = linalg.cholesky(covariance, lower=True)
    whitened = linalg.solve_triangular(chol, coords.T, lower=True).T
    mass = np.full(coords.shape[0], 1.0 / coords.shape[0]) if weights is None else weights / weights.sum()
    pad = 6.0  # kernel sds of margin, so the blur never reaches the grid edge
    low = whitened.min(axis=0) - pad
    span = whitened.max(axis=0) + pad - low
    spacing = max(spacing, float(np.sqrt(np.prod(span) / _MAX_GRID_CELLS)))
    shape = tuple(int(np.ceil(extent / spacing)) + 2 for extent in span)
    position = (whitened - low) / spacing
    base = np.floor(position).astype(np.int64)
    frac = position - base
    grid = np.zeros(shape[0] * shape[1])
    for dx in (0, 1):
        for dy in (0, 1):
            share = (frac[:, 0] if dx else 1 - frac[:, 0]) * (frac[:, 1] if dy else 1 - frac[:, 1])
            flat = (base[:, 0] + dx) * shape[1] + base[:, 1] + dy
            grid += np.bincount(flat, weights=mass * share, minlength=grid.size)
    blurred = ndimage.gaussian_filter(grid.reshape(shape), sigma=1.0 / spacing, mode="constant", truncate=5.0)
    at_points = ndimage.map_coordinates(blurred, position.T, order=1, mode="constant")
    # The blur keeps mass; a unit Gaussian's peak is 1/(2 pi), spread over one cell of area spacing^2.
    density = at_points / (spacing**2) / float(np.prod(np.diag(chol)))
    return np.asarray(density, dtype=np.float64)


def _isotropic_densities(
    coords: FloatArray, metric: str, bandwidth: float, weights: FloatArray | None, rtol: float
) -> FloatArray:
    if metric == "greatcircle":
        points = np.radians(coords)
        kde = KernelDensity(kernel="gaussian", metric="haversine", bandwidth=bandwidth / EARTH_RADIUS_KM, rtol=rtol)
    else:
        points = coords
        kde = KernelDensity(kernel="gaussian", bandwidth=bandwidth, rtol=rtol)
    kde.fit(points, sample_weight=weights)
    return np.asarray(np.exp(kde.score_samples(points)), dtype=np.float64)


def logistic_weight(x: FloatArray | float, midpoint: float, steepness: float) -> FloatArray:
    """The reference's modulated logistic, 2 / (1 + exp(-steepness (x - midpoint))), in (0, 2).

    ``x`` is the mean density of a pair; above the mean density distances grow (stricter),
    below it they shrink (more lenient).
    """
    with np.errstate(over="ignore"):
        return np.asarray(2.0 / (1.0 + np.exp(-steepness * (np.asarray(x) - midpoint))), dtype=np.float64)


def default_steepness(densities: FloatArray) -> float:
    """Rule of thumb for the steepness when none is given: clip(ln(N) / 3, 1, 4) / mean density.

    The reference asks for a value and documents only that its default depends on N. Scaling
    by the mean density makes the rule free of the density's units; the constant fixes the
    weight of an isolated point (density ~0) at 2 / (1 + e^c), from 0.54 (c = 1) to 0.036
    (c = 4), so no pair's distance shrinks by more than a factor of about 28 and the spatial
    search stays local, while larger data sets get a sharper dense/sparse split.
    """
    midpoint = float(np.mean(densities))
    if not math.isfinite(midpoint) or midpoint <= 0.0:
        return 1.0
    sharpness = min(4.0, max(1.0, math.log(max(densities.shape[0], 2)) / 3.0))
    return sharpness / midpoint
