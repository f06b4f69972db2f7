"""The service's method names -> (function, config class), and one call that runs any of them.

Names as in ``tessera compress MODEL --method ...``: magnitude, gmp, channel, nm, movement, lth
(this package) and int8 / int4 (per-channel weight quantisation, :mod:`tessera.compression.quantize`);
pwf and kmeans live in their own modules.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from torch import nn

from tessera.compression.pruning.channel import channel_prune
from tessera.compression.pruning.config import (
    ChannelConfig,
    GradualConfig,
    LotteryConfig,
    MagnitudeConfig,
    MethodConfig,
    MovementConfig,
    NMConfig,
)
from tessera.compression.pruning.finetune import TrainData
from tessera.compression.pruning.lottery import lottery_ticket
from tessera.compression.pruning.magnitude import gradual_magnitude_prune, magnitude_prune
from tessera.compression.pruning.movement import movement_prune
from tessera.compression.pruning.nm import nm_prune
from tessera.compression.pruning.results import EvalFn, MethodResult, ProgressFn
from tessera.core.errors import InvalidArgument

MethodFn = Callable[..., MethodResult]

METHODS: dict[str, tuple[MethodFn, type[MethodConfig]]] = {
    "magnitude": (magnitude_prune, MagnitudeConfig),
    "gmp": (gradual_magnitude_prune, GradualConfig),
    "channel": (channel_prune, ChannelConfig),
    "nm": (nm_prune, NMConfig),
    "movement": (movement_prune, MovementConfig),
    "lth": (lottery_ticket, LotteryConfig),
}
QUANTISERS = {"int8": 8, "int4": 4}
NEEDS_DATA = {"gmp", "movement", "lth"}


def method_names() -> list[str]:
    return [*METHODS, *QUANTISERS]


def make_config(method: str, config: Mapping[str, Any] | None) -> MethodConfig:
    """Validate a JSON-like config for ``method``; errors name ``method`` or ``config.<field>``."""
    if method in QUANTISERS:
        from tessera.compression.quantize import QuantConfig  # quantize imports this package

        return QuantConfig.parse({"bits": QUANTISERS[method], **dict(config or {})})
    if method not in METHODS:
        raise InvalidArgument.field("method", f"unknown method {method!r}; known: {', '.join(method_names())}")
    return METHODS[method][1].parse(config)


def run_method(
    method: str,
    model: nn.Module,
    config: Mapping[str, Any] | MethodConfig | None = None,
    data: TrainData | None = None,
    evaluate: EvalFn | None = None,
    progress: ProgressFn | None = None,
) -> MethodResult:
    """Run one named method on a copy of ``model`` and return its result."""
    typed = config if isinstance(config, MethodConfig) else make_config(method, config)
    if method in NEEDS_DATA and data is None:
        raise InvalidArgument.field("data", f"method {method!r} trains while pruning and needs training batches")
    if method in QUANTISERS:
        from tessera.compression.quantize import quantize_weights

        return quantize_weights(model, typed, data, evaluate, progress)  # type: ignore[arg-type]
    function, _ = METHODS[method]
    return function(model, typed, data, evaluate, progress)
