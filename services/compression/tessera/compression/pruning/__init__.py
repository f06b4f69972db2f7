"""Pruning methods from the sparsity survey (Hoefler et al. 2021), on any model of Conv/Linear layers.

Every method: ``fn(model, config, data, evaluate=None, progress=None) -> MethodResult`` with a typed,
range-checked config; the input model is not modified. ``METHODS`` maps the service's method names
to (function, config class); ``run_method(name, model, config_dict, ...)`` runs any of them.
"""

from __future__ import annotations

from tessera.compression.pruning.channel import channel_prune
from tessera.compression.pruning.config import (
    ChannelConfig,
    FinetuneConfig,
    GradualConfig,
    LotteryConfig,
    MagnitudeConfig,
    MethodConfig,
    MovementConfig,
    NMConfig,
)
from tessera.compression.pruning.finetune import TrainData
from tessera.compression.pruning.layers import check_supported, unsupported_layers
from tessera.compression.pruning.lottery import lottery_ticket
from tessera.compression.pruning.magnitude import cubic_sparsity, gradual_magnitude_prune, magnitude_prune
from tessera.compression.pruning.movement import movement_prune
from tessera.compression.pruning.nm import is_nm_sparse, nm_mask, nm_prune
from tessera.compression.pruning.pipeline import prune_then_quantize
from tessera.compression.pruning.registry import METHODS, make_config, method_names, run_method
from tessera.compression.pruning.results import EvalFn, MethodResult, ProgressFn, StepInfo

__all__ = [
    "METHODS",
    "ChannelConfig",
    "EvalFn",
    "FinetuneConfig",
    "GradualConfig",
    "LotteryConfig",
    "MagnitudeConfig",
    "MethodConfig",
    "MethodResult",
    "MovementConfig",
    "NMConfig",
    "ProgressFn",
    "StepInfo",
    "TrainData",
    "channel_prune",
    "check_supported",
    "cubic_sparsity",
    "gradual_magnitude_prune",
    "is_nm_sparse",
    "lottery_ticket",
    "magnitude_prune",
    "make_config",
    "method_names",
    "movement_prune",
    "nm_mask",
    "nm_prune",
    "prune_then_quantize",
    "run_method",
    "unsupported_layers",
]
