"""Prune, then quantise: sparsity and a small weight grid together (Deep Compression's first two stages).

The pruning method runs first; its zeros are kept through quantisation (symmetric grids hold 0
exactly, and QAT trains under the zero mask), so the result is both sparse and on an int grid.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from tessera.compression.pruning.config import MethodConfig
from tessera.compression.pruning.finetune import TrainData
from tessera.compression.pruning.results import EvalFn, MethodResult, ProgressFn, StepInfo

PruneFn = Callable[..., MethodResult]


def prune_then_quantize(
    model: nn.Module,
    prune_fn: PruneFn,
    prune_config: MethodConfig,
    quant_config: Any,
    data: TrainData | None = None,
    evaluate: EvalFn | None = None,
    progress: ProgressFn | None = None,
) -> MethodResult:
    """``prune_fn(model, prune_config, ...)`` then :func:`tessera.compression.quantize.quantize_weights`.

    ``quant_config`` is a :class:`tessera.compression.quantize.QuantConfig` (``keep_zeros`` forced on).
    Steps of both stages are reported in order, numbered across the whole pipeline.
    """
    from tessera.compression.quantize import quantize_weights  # quantize imports pruning: break the cycle

    steps: list[StepInfo] = []

    def relay(stage: str) -> ProgressFn:
        def forward(info: StepInfo) -> None:
            tagged = StepInfo(len(steps) + 1, 0, info.sparsity, info.accuracy, f"{stage}: {info.message}", info.extra)
            steps.append(tagged)
            if progress is not None:
                progress(tagged)
        return forward

    pruned = prune_fn(model, prune_config, data, evaluate, relay("prune"))
    quant = quant_config.model_copy(update={"keep_zeros": True})
    quantised = quantize_weights(pruned.model, quant, data, evaluate, relay("quantise"))
    return MethodResult(
        quantised.model, f"{pruned.method}+{quantised.method}", steps, quantised.sparsity, quantised.layer_sparsity,
        structure=f"{pruned.structure}+quantised", info={"prune": pruned.info, "quantise": quantised.info},
    )
