"""Drop-in replacement for ``scadda.clustering`` (scadda 1.0.0), same arguments, same labels.

Differences on purpose: bad input raises ``InvalidArgument`` instead of printing and calling
``sys.exit``; nothing is printed; and ``outlier_perc`` below the first stage's noise percentage
works (the reference's extra-iteration branch raises ``TypeError``: it passes a misspelt
keyword), re-clustering the noise with doubled limits until at most that percentage is noise.
"""

from __future__ import annotations

from typing import cast

import numpy as np
import numpy.typing as npt

from .params import Algorithm, Metric, ScaddaParams
from .scadda import scadda

IntArray = npt.NDArray[np.int64]


def clustering(
    s_data: npt.ArrayLike,
    t_data: npt.ArrayLike,
    s_limit: float,
    t_limit: float,
    minimum_neighbors: int,
    steepness: float | None,
    window_param: int | float | None = None,
    distance_measure: str | None = None,
    outlier_perc: float | None = None,
    z_normalization: bool | None = None,
    algorithm: str | None = None,
    bandwidth: str | float | None = None,
) -> IntArray:
    """Cluster assignments in the reference's convention: 0 = noise, clusters numbered from 1.

    ``s_data`` (N, 2): as the reference actually reads it for the great-circle metric (geopy
    points), column 0 is the latitude and column 1 the longitude, in degrees. ``t_data`` (N, M):
    one series of length M per point. ``steepness`` None picks the rule of thumb of
    :func:`tessera.clustering.kde.default_steepness`.
    """
    params = ScaddaParams(
        s_limit=s_limit,
        t_limit=t_limit,
        minimum_neighbors=minimum_neighbors,
        steepness=steepness,
        window=window_param,
        metric=cast(Metric, distance_measure or "greatcircle"),
        algorithm=cast(Algorithm, algorithm or "scadda"),
        bandwidth=bandwidth if bandwidth is not None else "scott",
        z_normalization=bool(z_normalization),
        outlier_perc=100.0 if outlier_perc is None else outlier_perc,
    )
    result = scadda(np.asarray(s_data, dtype=np.float64), np.asarray(t_data, dtype=np.float64), params)
    return result.labels + 1
