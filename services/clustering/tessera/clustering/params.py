"""SCADDA parameters and the checks that turn bad values into ``InvalidArgument``.

The names follow the reference package ``scadda`` 1.0.0 where it has one (``s_limit``, ``t_limit``,
``minimum_neighbors``, ``steepness``, ``outlier_perc``, ``z_normalization``, ``algorithm``,
``bandwidth``); ``window`` is the reference's ``window_param`` and ``metric`` its ``distance_measure``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from tessera.core.errors import FieldViolation, InvalidArgument

Metric = Literal["greatcircle", "euclidean"]
Algorithm = Literal["scadda", "stdbscan"]

METRICS: tuple[str, ...] = ("greatcircle", "euclidean")
ALGORITHMS: tuple[str, ...] = ("scadda", "stdbscan")
BANDWIDTH_RULES: tuple[str, ...] = ("scott", "silverman")


@dataclass(frozen=True)
class ScaddaParams:
    """Everything one SCADDA run needs besides the data.

    - ``s_limit``: largest rescaled spatial distance between neighbours; km for ``greatcircle``,
      coordinate units for ``euclidean``. Strict: neighbours have distance ``< s_limit``.
    - ``t_limit``: largest DTW distance between neighbours' series (dimensionless, strict ``<``).
    - ``minimum_neighbors``: a point with at least this many neighbours (itself excluded; with
      point weights, this much neighbour weight) is a core point.
    - ``steepness``: slope of the logistic density weight, in 1/density units; ``None`` picks
      :func:`tessera.clustering.kde.default_steepness`.
    - ``window``: Sakoe-Chiba half-width as in the reference: an int is the largest time shift
      in steps, a float in [0, 1] a fraction of (length - 1); ``None`` is ceil(length / 10).
    - ``bandwidth``: KDE rule over the coordinates in degrees (``"scott"``, ``"silverman"``) or
      a float factor (scipy's ``bw_method``), as the reference; ``bandwidth_km`` instead uses an
      isotropic Gaussian of that many km on the sphere (coordinate units for ``euclidean``).
    - ``outlier_perc``: when more than this percentage of points are noise, cluster the noise
      again with both limits doubled ("second-stage clusters"), until at most this many are left.
    - ``kde_exact_max_n``: up to this many points the KDE is exact (scipy); above it a tree
      estimate (scikit-learn) with relative tolerance ``kde_rtol``.
    """

    s_limit: float
    t_limit: float
    minimum_neighbors: int
    steepness: float | None = None
    window: int | float | None = None
    metric: Metric = "greatcircle"
    algorithm: Algorithm = "scadda"
    bandwidth: str | float = "scott"
    bandwidth_km: float | None = None
    z_normalization: bool = False
    outlier_perc: float = 100.0
    kde_exact_max_n: int = 20_000
    kde_rtol: float = 1e-6

    def validate(self) -> None:
        """Raise :class:`InvalidArgument` naming every bad field."""
        violations: list[FieldViolation] = []

        def positive(name: str, value: float | None, allow_none: bool = False) -> None:
            if value is None and allow_none:
                return
            if value is None or not _is_finite_number(value) or value <= 0:
                violations.append(FieldViolation(name, f"must be a finite number > 0, got {value!r}"))

        positive("s_limit", self.s_limit)
        positive("t_limit", self.t_limit)
        positive("steepness", self.steepness, allow_none=True)
        positive("bandwidth_km", self.bandwidth_km, allow_none=True)
        positive("kde_rtol", self.kde_rtol)
        if isinstance(self.minimum_neighbors, bool) or not isinstance(self.minimum_neighbors, int):
            violations.append(FieldViolation("minimum_neighbors", "must be an integer"))
        elif self.minimum_neighbors < 1:
            violations.append(FieldViolation("minimum_neighbors", f"must be >= 1, got {self.minimum_neighbors}"))
        if self.window is not None:
            if isinstance(self.window, bool) or not _is_finite_number(self.window):
                violations.append(FieldViolation("window", f"int >= 0 or float in [0, 1], got {self.window!r}"))
            elif isinstance(self.window, int) and self.window < 0:
                violations.append(FieldViolation("window", f"must be >= 0, got {self.window}"))
            elif isinstance(self.window, float) and not 0.0 <= self.window <= 1.0:
                violations.append(
                    FieldViolation("window", f"a float is a fraction of the length, in [0, 1], got {self.window}")
                )
        if self.metric not in METRICS:
            violations.append(FieldViolation("metric", f"must be one of {METRICS}, got {self.metric!r}"))
        if self.algorithm not in ALGORITHMS:
            violations.append(FieldViolation("algorithm", f"must be one of {ALGORITHMS}, got {self.algorithm!r}"))
        if isinstance(self.bandwidth, str):
            if self.bandwidth not in BANDWIDTH_RULES:
                violations.append(
                    FieldViolation("bandwidth", f"one of {BANDWIDTH_RULES} or > 0, got {self.bandwidth!r}")
                )
        elif not _is_finite_number(self.bandwidth) or self.bandwidth <= 0:
            violations.append(FieldViolation("bandwidth", f"'scott', 'silverman' or > 0, got {self.bandwidth!r}"))
        if not _is_finite_number(self.outlier_perc) or not 0 < self.outlier_perc <= 100:
            violations.append(FieldViolation("outlier_perc", f"must be in (0, 100], got {self.outlier_perc!r}"))
        if not isinstance(self.kde_exact_max_n, int) or self.kde_exact_max_n < 0:
            violations.append(FieldViolation("kde_exact_max_n", "must be an integer >= 0"))
        if violations:
            raise InvalidArgument(violations)


def _is_finite_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(float(value))
