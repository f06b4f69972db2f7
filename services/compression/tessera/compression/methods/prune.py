"""The pruning adapter (:mod:`tessera.compression.pruning`): one instance per pruning method, optionally
followed by ``then_quantize`` (prune, then quantise the survivors)."""

from __future__ import annotations

from typing import Any

from torch import nn

from tessera.compression.methods.base import Prepared, TorchMethod, jsonable, renamed, to_round
from tessera.compression.worker import RoundCallback
from tessera.core.errors import InvalidArgument


class PruningMethod(TorchMethod):
    """magnitude, gmp, channel, nm, movement, lth; optionally followed by ``then_quantize``."""

    extra_keys = ("then_quantize",)

    def __init__(self, name: str):
        self.name = name

    def parse(self, own: dict[str, Any], extras: dict[str, Any]) -> Any:
        from tessera.compression.pruning import make_config

        typed = make_config(self.name, own)
        quant = None
        if "then_quantize" in extras:
            from tessera.compression.quantize import QuantConfig

            if not isinstance(extras["then_quantize"], dict):
                raise InvalidArgument.field("config.then_quantize", "must be an object such as {\"bits\": 8}")
            try:
                quant = QuantConfig.parse(extras["then_quantize"])
            except InvalidArgument as exc:
                raise renamed(exc, "config.then_quantize") from None
        return typed, quant

    def check_model(self, model: nn.Module) -> None:
        from tessera.compression.pruning import check_supported

        check_supported(model, "model.architecture")

    def run(self, prepared: Prepared, typed: Any, seed: int, on_round: RoundCallback) -> tuple[nn.Module, str, dict]:
        from tessera.compression.pruning import METHODS, StepInfo, TrainData, prune_then_quantize, run_method

        config, quant = typed

        def progress(info: StepInfo) -> None:
            on_round(to_round(info.step, info.total or info.step, info.sparsity, 0, info.accuracy))

        data = TrainData(prepared.train_loader(seed))
        if quant is None:
            result = run_method(self.name, prepared.model, config, data, prepared.evaluate, progress)
        else:
            result = prune_then_quantize(prepared.model, METHODS[self.name][0], config, quant, data,
                                         prepared.evaluate, progress)
        return result.model, result.structure, {"pruning": result.method, "layer_sparsity": result.layer_sparsity,
                                                **{k: v for k, v in result.info.items() if jsonable(v)}}

