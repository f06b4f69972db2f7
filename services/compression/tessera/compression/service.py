"""The compression service's synchronous work, independent of gRPC: the capacity-planning estimate."""

from __future__ import annotations

import math
from dataclasses import dataclass

from tessera.compression.estimation import (
    estimate_training_accuracy,
    log_region_count,
    region_count,
    validate_arguments,
)
from tessera.compression.settings import CompressionSettings
from tessera.core.errors import InvalidArgument
from tessera.core.runtime import ServiceRuntime


@dataclass(frozen=True)
class TrainingAccuracyEstimate:
    """``training_accuracy`` (fraction, 0.5..1), ``regions`` R(d, L) (a float: may exceed 1e300,
    then ``inf``) and ``points_per_region`` = N / R."""

    training_accuracy: float
    regions: float
    points_per_region: float
    method: str = "space-partitioning"


def estimate(d: int, n: int, l_hidden: int, *, max_points: int | None = None) -> TrainingAccuracyEstimate:
    """The estimate with the sizes a capacity planner reads beside it; bad input names d, n or l."""
    validate_arguments(d, n, l_hidden)
    if max_points is not None and n > max_points:
        raise InvalidArgument.field("n", f"must be at most {max_points} in this deployment, got {n}")
    log_regions = log_region_count(d, l_hidden)
    if l_hidden <= 1000:  # exact (sum of at most 1001 binomials, < 2^1000 fits a float)
        regions = float(region_count(d, l_hidden))
    else:
        regions = math.exp(log_regions) if log_regions < 709 else math.inf
    return TrainingAccuracyEstimate(training_accuracy=estimate_training_accuracy(d, n, l_hidden), regions=regions,
                                    points_per_region=math.exp(math.log(n) - log_regions))


class CompressionService:
    def __init__(self, runtime: ServiceRuntime):
        self.runtime = runtime
        self.settings: CompressionSettings = runtime.settings  # type: ignore[assignment]

    def estimate(self, d: int, n: int, l_hidden: int) -> TrainingAccuracyEstimate:
        return estimate(d, n, l_hidden, max_points=self.settings.compression_max_estimate_points)
