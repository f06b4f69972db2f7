"""The weight-sharing adapters: PWF (:mod:`tessera.compression.pwf`) and k-means
(:mod:`tessera.compression.kmeans`), both reporting one ``RoundInfo`` per round."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from tessera.compression.methods.base import Prepared, TorchMethod, to_round
from tessera.compression.worker import RoundCallback


class WeightSharingMethod(TorchMethod):
    """PWF and k-means: a config with ``parse``, and a function ``(model, config, data, evaluate, progress) ->
    WeightSharingResult`` reporting a ``RoundInfo`` per round; subclasses name the two."""

    def config_type(self) -> Any:
        raise NotImplementedError

    def compress_fn(self) -> Callable[..., Any]:
        raise NotImplementedError

    def info(self, result: Any) -> dict[str, Any]:
        return {"codebook_size": len(result.codebook)}

    def parse(self, own: dict[str, Any], extras: dict[str, Any]) -> Any:
        return self.config_type().parse(own)

    def check_model(self, model: nn.Module) -> None:
        from tessera.compression.pwf import check_supported

        check_supported(model, "model.architecture")

    def run(self, prepared: Prepared, typed: Any, seed: int, on_round: RoundCallback) -> tuple[nn.Module, str, dict]:
        from tessera.compression.pwf import RoundInfo
        from tessera.compression.training import TrainData

        def progress(info: RoundInfo) -> None:
            on_round(to_round(info.round, info.rounds, info.fixed_fraction, info.unique_values, info.accuracy,
                              info.train_loss))

        result = self.compress_fn()(prepared.model, typed, TrainData(prepared.train_loader(seed)),
                                    prepared.evaluate, progress)
        return result.model, "weight-shared", self.info(result)


class PWFMethod(WeightSharingMethod):
    name = "pwf"

    def config_type(self) -> Any:
        from tessera.compression.pwf import PWFConfig

        return PWFConfig

    def compress_fn(self) -> Callable[..., Any]:
        from tessera.compression.pwf import probabilistic_weight_fixing

        return probabilistic_weight_fixing

    def info(self, result: Any) -> dict[str, Any]:
        return {**super().info(result), "pwf_unique_values": result.unique_values}


class KMeansMethod(WeightSharingMethod):
    name = "kmeans"

    def config_type(self) -> Any:
        from tessera.compression.kmeans import KMeansConfig

        return KMeansConfig

    def compress_fn(self) -> Callable[..., Any]:
        from tessera.compression.kmeans import kmeans_weight_sharing

        return kmeans_weight_sharing

