"""Uniform per-channel symmetric weight quantisation: post-training and quantisation-aware.

In torch (any Conv/Linear model, int2..int8): the weight of every Conv/Linear is replaced by its
fake-quantised value on a per-output-channel symmetric grid (scale from torch.ao's
PerChannelMinMaxObserver, rounding by ``torch.fake_quantize_per_channel_affine``, whose gradient is
the straight-through estimator, so QAT is ordinary training through a parametrisation). Weights stay
float32 on the grid: at most 2^bits distinct values per channel. With ``keep_zeros`` a pruned weight
stays exactly zero (prune-then-quantise).

Real int8 (weights and activations): ``quantize_onnx_int8`` hands the exported model to ONNX Runtime's
static quantiser (QDQ format, per-channel int8 weights, calibrated activations); ORT's int8 kernels run
it. int4 is fake-quant only.
"""

from __future__ import annotations

import copy
import logging
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
from pydantic import Field
from torch import nn
from torch.ao.quantization.observer import PerChannelMinMaxObserver
from torch.nn.utils import parametrize

from tessera.compression.pruning.config import FinetuneConfig
from tessera.compression.pruning.finetune import TrainData, require_data, train
from tessera.compression.pruning.layers import (
    check_supported,
    compressible_layers,
    layer_sparsity,
    sparsity,
    weight_tensor,
)
from tessera.compression.pruning.results import EvalFn, MethodResult, ProgressFn, StepInfo, evaluate_model, report_step
from tessera.core.errors import InvalidArgument


class QuantConfig(FinetuneConfig):
    """Per-channel symmetric weight quantisation to ``bits`` (8 = int8, 4 = int4)."""

    bits: int = Field(8, ge=2, le=8, description="bits per weight; grid [-2^(b-1), 2^(b-1) - 1]")
    mode: Literal["ptq", "qat"] = Field("ptq", description="post-training, or quantisation-aware fine-tuning")
    keep_zeros: bool = Field(True, description="zero weights (a pruned model's) stay zero during QAT")
    finetune_epochs: int = Field(1, ge=0, le=1000)
    lr: float = Field(0.001, gt=0.0, le=10.0)


class WeightFakeQuant(nn.Module):
    """Parametrisation W -> fake_quant(W * mask) on a per-output-channel symmetric int grid."""

    def __init__(self, bits: int, mask: torch.Tensor | None = None):
        super().__init__()
        self.quant_min = -(2 ** (bits - 1))
        self.quant_max = 2 ** (bits - 1) - 1
        self.observer = PerChannelMinMaxObserver(
            ch_axis=0, dtype=torch.qint8, qscheme=torch.per_channel_symmetric,
            quant_min=self.quant_min, quant_max=self.quant_max,
        )
        self.mask: torch.Tensor | None
        self.register_buffer("mask", mask)

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        if self.mask is not None:
            weight = weight * self.mask
        # Scales follow the current weights (not a running range): reset, observe, compute.
        self.observer.reset_min_max_vals()
        self.observer(weight.detach())
        scale, zero_point = self.observer.calculate_qparams()
        return torch.fake_quantize_per_channel_affine(
            weight, scale.to(weight.dtype), zero_point.to(torch.int32), 0, self.quant_min, self.quant_max
        )


def quantize_weights(
    model: nn.Module,
    config: QuantConfig,
    data: TrainData | None = None,
    evaluate: EvalFn | None = None,
    progress: ProgressFn | None = None,
) -> MethodResult:
    """Quantise every Conv/Linear weight of a copy of ``model``; QAT fine-tunes through the fake-quant first."""
    check_supported(model)
    epochs = config.finetune_epochs if config.mode == "qat" else 0
    require_data(data, epochs)
    quantised = copy.deepcopy(model)
    layers = compressible_layers(quantised, config.skip_layers)
    steps: list[StepInfo] = []
    for _, module in layers:
        weight = weight_tensor(module)
        mask = (weight != 0).to(weight.dtype) if config.keep_zeros else None
        if mask is not None and bool(mask.all()):
            mask = None
        parametrize.register_parametrization(module, "weight", WeightFakeQuant(config.bits, mask))
    if data is not None and epochs > 0:
        before = evaluate_model(quantised, evaluate)
        report_step(steps, progress, StepInfo(1, 2, sparsity(layers), before, "fake-quant"))
        train(quantised, data, config, epochs=epochs)
    for _, module in layers:
        parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)
    total = len(steps) + 1
    report_step(steps, progress, StepInfo(total, total, sparsity(layers), evaluate_model(quantised, evaluate),
                                          f"int{config.bits} {config.mode}"))
    return MethodResult(quantised, f"int{config.bits}-{config.mode}", steps, sparsity(layers), layer_sparsity(layers),
                        structure="quantised", info={"bits": config.bits, "per_channel": True, "symmetric": True})


class _RootLoggerLevel:
    """Raise the root logger's level for a block (ORT's quantiser logs through the root logger)."""

    def __init__(self, level: int):
        self.level = level
        self.saved = logging.getLogger().level

    def __enter__(self) -> None:
        self.saved = logging.getLogger().level
        logging.getLogger().setLevel(self.level)

    def __exit__(self, *_exc: object) -> None:
        logging.getLogger().setLevel(self.saved)


class _Calibration(CalibrationDataReader):
    """Feeds ORT's calibrator with float32 batches under the model's input name (plus constant ``extra`` inputs)."""

    def __init__(self, input_name: str, batches: Iterable[np.ndarray], extra: Mapping[str, np.ndarray] | None = None):
        self._feeds: Iterator[dict[str, np.ndarray]] = (
            {input_name: np.asarray(b, dtype=np.float32), **(extra or {})} for b in batches
        )

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._feeds, None)


def quantize_onnx_int8(
    onnx_model: bytes,
    calibration: Iterable[np.ndarray],
    input_name: str = "input",
    per_channel: bool = True,
    extra_inputs: Mapping[str, np.ndarray] | None = None,
) -> bytes:
    """Static int8 quantisation of an ONNX model with ONNX Runtime (QDQ, int8 weights and activations).

    ``calibration``: input batches shaped like the model's input (a few hundred samples is plenty);
    ``extra_inputs``: values of the model's other inputs, the same for every batch.
    """
    batches = list(calibration)
    if not batches:
        raise InvalidArgument.field("calibration", "int8 quantisation needs at least one calibration batch")
    quiet = _RootLoggerLevel(logging.ERROR)  # ORT warns on root to run its pre-processing; export already folded BN
    with tempfile.TemporaryDirectory() as tmp, quiet:
        source, target = Path(tmp) / "model.onnx", Path(tmp) / "model.int8.onnx"
        source.write_bytes(onnx_model)
        quantize_static(
            source, target, _Calibration(input_name, batches, extra_inputs), quant_format=QuantFormat.QDQ,
            per_channel=per_channel, activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
            extra_options={"ActivationSymmetric": False, "WeightSymmetric": True},
        )
        return target.read_bytes()
