"""Typed, range-checked configs for the pruning methods.

Every config is a frozen pydantic model; a value out of range raises
:class:`tessera.core.errors.InvalidArgument` naming the field (``config.<field>``), so the
servicer can hand it straight back as ``INVALID_ARGUMENT`` with field violations.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tessera.core.errors import FieldViolation, InvalidArgument


def violations_from(error: ValidationError, prefix: str = "config") -> InvalidArgument:
    """Turn a pydantic error into one field violation per bad field (dotted path under ``prefix``)."""
    found = []
    for item in error.errors():
        path = ".".join(str(part) for part in item["loc"])
        found.append(FieldViolation(f"{prefix}.{path}" if path else prefix, item["msg"]))
    return InvalidArgument(found)


class MethodConfig(BaseModel):
    """Base of every method config: unknown fields are errors, instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as error:
            raise violations_from(error) from None

    @classmethod
    def parse(cls, data: Mapping[str, Any] | None) -> Self:
        """Build from a JSON-like mapping (a gRPC request's config); errors as in ``__init__``."""
        try:
            return cls.model_validate(dict(data or {}))
        except ValidationError as error:
            raise violations_from(error) from None


class FinetuneConfig(MethodConfig):
    """Fine-tuning knobs shared by the methods that retrain (epochs over the caller's batches)."""

    finetune_epochs: int = Field(1, ge=0, le=1000, description="epochs of fine-tuning after/while pruning")
    lr: float = Field(0.01, gt=0.0, le=10.0, description="learning rate of the fine-tuning optimiser")
    optimizer: Literal["sgd", "adam"] = "sgd"
    momentum: float = Field(0.9, ge=0.0, lt=1.0)
    skip_layers: tuple[str, ...] = Field((), description="qualified module names never pruned")


class MagnitudeConfig(FinetuneConfig):
    """One-shot magnitude pruning to ``sparsity`` of the Conv/Linear weights, then fine-tuning."""

    sparsity: float = Field(0.5, ge=0.0, lt=1.0, description="fraction of prunable weights set to zero")
    scope: Literal["global", "layer"] = Field("global", description="one threshold for all layers, or per layer")


class GradualConfig(FinetuneConfig):
    """Zhu & Gupta (2017) gradual magnitude pruning: s_t = s_f + (s_i - s_f)(1 - (t - t0)/(n dt))^3."""

    initial_sparsity: float = Field(0.0, ge=0.0, lt=1.0)
    final_sparsity: float = Field(0.8, ge=0.0, lt=1.0)
    start_step: int = Field(0, ge=0, description="t0: optimiser step of the first pruning event")
    prune_every: int = Field(10, ge=1, le=1_000_000, description="dt: optimiser steps between pruning events")
    num_events: int = Field(10, ge=1, le=10_000, description="n: number of pruning events")
    finetune_epochs: int = Field(3, ge=1, le=1000)

    @model_validator(mode="after")
    def _increasing(self) -> GradualConfig:
        if self.final_sparsity < self.initial_sparsity:
            raise InvalidArgument.field(
                "config.final_sparsity", "must be >= initial_sparsity (the schedule only increases)"
            )
        return self


class ChannelConfig(FinetuneConfig):
    """Structured pruning of whole output channels/neurons ranked by their L1 or L2 norm."""

    amount: float = Field(0.5, ge=0.0, lt=1.0, description="fraction of output channels removed per layer")
    norm: Literal[1, 2] = 2
    physical: bool = Field(True, description="rebuild smaller layers where the graph allows; else keep masks")
    keep_last_layer: bool = Field(True, description="never prune the output layer's channels (its classes)")


class NMConfig(FinetuneConfig):
    """N:M semi-structured sparsity: in every group of M consecutive input weights keep the N largest."""

    n: int = Field(2, ge=1, le=64)
    m: int = Field(4, ge=2, le=64)

    @model_validator(mode="after")
    def _n_below_m(self) -> NMConfig:
        if self.n >= self.m:
            raise InvalidArgument.field("config.n", f"must be smaller than m ({self.m})")
        return self


class MovementConfig(FinetuneConfig):
    """Sanh et al. (2020) hard movement pruning: scores S -= dL/dW' * W, keep the top (1 - s) per layer."""

    final_sparsity: float = Field(0.8, ge=0.0, lt=1.0)
    warmup_fraction: float = Field(0.1, ge=0.0, lt=1.0, description="share of steps before the first pruning")
    cooldown_fraction: float = Field(0.2, ge=0.0, lt=1.0, description="share of steps at final sparsity")
    update_every: int = Field(5, ge=1, le=1_000_000, description="optimiser steps between mask updates")
    scope: Literal["layer", "global"] = Field("layer", description="top-k per layer (the paper's) or over all layers")
    finetune_epochs: int = Field(3, ge=1, le=1000)

    @model_validator(mode="after")
    def _fractions(self) -> MovementConfig:
        if self.warmup_fraction + self.cooldown_fraction >= 1.0:
            raise InvalidArgument.field(
                "config.cooldown_fraction", "warmup_fraction + cooldown_fraction must be below 1"
            )
        return self


class LotteryConfig(FinetuneConfig):
    """Iterative magnitude pruning with rewinding (Frankle et al. 2019/2020)."""

    rounds: int = Field(3, ge=1, le=30)
    prune_fraction: float = Field(0.2, gt=0.0, lt=1.0, description="share of the remaining weights pruned per round")
    rewind_step: int = Field(0, ge=0, description="optimiser step whose weights are restored (0 = the initialisation)")
    finetune_epochs: int = Field(2, ge=1, le=1000, description="training epochs of every round")

    @property
    def final_sparsity(self) -> float:
        return 1.0 - (1.0 - self.prune_fraction) ** self.rounds
