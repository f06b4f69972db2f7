"""PWF's settings, defaulting to the paper's (README of the reference code: lr 0.001, 1 then 3 epochs
per round, regulariser weight 2^-11, b = 7, delta 1 widened by 2, zero fixing, sigma join std_mu)."""

from __future__ import annotations

from collections.abc import Mapping
from itertools import pairwise
from typing import Any, Literal, Self

from pydantic import Field, model_validator

from tessera.compression.training import StrictConfig
from tessera.core.errors import InvalidArgument

PAPER_SCHEDULE = (0.2, 0.4, 0.6, 0.7, 0.8, 0.9, 0.95, 0.975, 0.99, 1.0)
# The paper's schedule with the last 1% fixed in three steps: the weights still free at the end are those
# with the smallest sigmas, which the final widening (delta doubled until a centre fits) moves furthest;
# fixing them in smaller steps leaves retraining after each to make up for it.
FEW_VALUES_SCHEDULE = (0.2, 0.4, 0.6, 0.7, 0.8, 0.9, 0.95, 0.975, 0.99, 0.995, 0.998, 1.0)


class PWFConfig(StrictConfig):
    """Probabilistic weight fixing. Fractions are of all shared weights; epochs over the caller's batches."""

    schedule: tuple[float, ...] = Field(PAPER_SCHEDULE, description="cumulative fraction fixed after each round")
    first_epochs: float = Field(
        0.05, ge=0.0, le=1000.0, description="training before round 1 (reference: 5% of one epoch's batches)"
    )
    epochs_per_round: float = Field(3.0, ge=0.0, le=1000.0, description="training before each later round")
    optimizer: Literal["sgd", "adam"] = Field(
        "sgd", description="retraining optimiser: SGD with momentum, or Adam (for models trained with Adam)"
    )
    lr: float = Field(0.001, gt=0.0, le=10.0)
    momentum: float = Field(0.9, ge=0.0, lt=1.0)
    weight_decay: float = Field(1e-4, ge=0.0, le=1.0)
    grad_clip: float | None = Field(1.0, gt=0.0)
    reg_weight: float = Field(2.0**-11, ge=0.0, le=1.0, description="lambda of the sigma regulariser")
    sigma_scale: float = Field(0.0025, gt=0.0, le=1.0, description="sigma of a weight at the 75th-percentile distance")
    sigma_ceiling: float = Field(0.05, gt=0.0, le=10.0, description="largest initial sigma; regulariser target")
    sigma_floor: float = Field(2.0**-30, gt=0.0, le=1e-3)
    delta: float = Field(1.0, gt=0.0, le=100.0, description="start of round 1: weights within delta sigmas fit")
    end_delta: float | None = Field(
        None, gt=0.0, le=100.0,
        description="start delta of the last round, linear in between (reference: start/end delta; None = delta)",
    )
    delta_growth: float = Field(2.0, gt=1.0, le=100.0, description="factor widening delta when nothing fits")
    max_terms: int = Field(4, ge=1, le=6, description="most powers of two summed into one centre")
    lowest_exponent: int = Field(7, ge=1, le=24, description="b: the smallest power of two is 2^-b")
    zero_fix: bool = Field(True, description="weights below 2^-b in magnitude always fit the centre 0")
    sigma_join: Literal["std_mu", "divide_by_10", "allow_retraining"] = Field(
        "std_mu", description="sigma of fixed weights: std of their means, sigma/10, or keep training it"
    )
    count_fixed: bool = Field(True, description="fixed weights count for their centre (reference re-clusters all)")
    include_bias: bool = True
    skip_layers: tuple[str, ...] = ()
    seed: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _schedule_increases(self) -> Self:
        schedule = self.schedule
        if not schedule:
            raise InvalidArgument.field("config.schedule", "needs at least one round")
        if any(not 0.0 < fraction <= 1.0 for fraction in schedule):
            raise InvalidArgument.field("config.schedule", f"fractions must lie in (0, 1], got {list(schedule)}")
        if any(later <= earlier for earlier, later in pairwise(schedule)):
            raise InvalidArgument.field("config.schedule", f"must be strictly increasing, got {list(schedule)}")
        if schedule[-1] != 1.0:
            raise InvalidArgument.field("config.schedule", f"must end at 1.0 (every weight fixed), got {schedule[-1]}")
        return self

    @classmethod
    def few_values(cls, **overrides: Any) -> Self:
        """The paper's settings with centres of at most two powers of two and :data:`FEW_VALUES_SCHEDULE`.

        With ``b = 7`` and weights below 1 in magnitude there are at most 57 such centres (0, and +-
        the 7 powers 2^-7..2^-1 and their 21 pairwise sums), so the whole network ends with <= 57
        unique values (the reference code's cap is 4 terms, giving a few hundred). On the Fashion-MNIST
        ResNetCNN (tools/bench/compression_sharing.py, full data, 2 seeds): 57 values, 0.09-point drop; k-means
        with one global codebook of 57 values ties with it (tools/bench/compression_results.md).
        """
        return cls(**{"max_terms": 2, "schedule": FEW_VALUES_SCHEDULE, **overrides})

    def round_delta(self, index: int) -> float:
        """Delta each round starts from: ``delta`` to ``end_delta`` linearly over the rounds (the reference's
        ``np.linspace(start_delta, end_delta, rounds)``; the paper keeps both at 1)."""
        end = self.delta if self.end_delta is None else self.end_delta
        rounds = len(self.schedule)
        return self.delta if rounds == 1 else self.delta + (end - self.delta) * index / (rounds - 1)

    @classmethod
    def parse(cls, data: Mapping[str, Any] | None) -> Self:
        """From a JSON-like mapping (a request's config); errors name ``config.<field>``."""
        return cls(**dict(data or {}))
