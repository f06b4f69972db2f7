"""The int8 / int4 adapter (:mod:`tessera.compression.quantize`): a registered torch model (ONNX Runtime
static int8 or fake-quant, optional QAT) or a plain ONNX model (ONNX Runtime post-training int8 only)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from tessera.compression.datasets import ImageDataset
from tessera.compression.datasets_ref import check_dataset_ref, load_dataset_ref
from tessera.compression.methods.base import (
    JobOptions,
    Prepared,
    TorchMethod,
    jsonable,
    onnx_accuracy,
    plot_png,
    split_config,
    to_round,
)
from tessera.compression.methods.onnx_report import float_parameters, onnx_report
from tessera.compression.registry import InputSpec, ModelRegistry
from tessera.compression.worker import CompressionOutcome, CompressionTask, MethodInputs, RoundCallback
from tessera.core.errors import InvalidArgument


def calibration_batches(dataset: ImageDataset, options: JobOptions) -> list[np.ndarray]:
    """The first ``calibration_samples`` images (already a seeded random subset) in batches."""
    images = dataset.images[:options.calibration_samples].numpy()
    return [images[i:i + options.batch_size] for i in range(0, len(images), options.batch_size)]


class Int8Method(TorchMethod):
    """Per-channel symmetric quantisation. ``engine`` ``onnxruntime`` (default for 8 bits): ONNX Runtime's
    static int8 quantiser (QDQ, calibrated activations), after optional QAT in torch; ``fake-quant``
    (default below 8 bits): weights on the int grid in an fp32 graph. A plain ONNX model (no torch
    state) takes only ``onnxruntime`` post-training quantisation."""

    name = "int8"
    extra_keys = ("engine",)

    def parse(self, own: dict[str, Any], extras: dict[str, Any]) -> Any:
        from tessera.compression.quantize import QuantConfig

        typed = QuantConfig.parse(own)
        engine = extras.get("engine", "onnxruntime" if typed.bits == 8 else "fake-quant")
        if engine not in ("onnxruntime", "fake-quant"):
            raise InvalidArgument.field("config.engine", f"must be 'onnxruntime' or 'fake-quant', got {engine!r}")
        if engine == "onnxruntime" and typed.bits != 8:
            raise InvalidArgument.field("config.engine", f"ONNX Runtime's integer kernels are int8; use "
                                                         f"'fake-quant' for {typed.bits} bits")
        return typed, engine

    def check_model(self, model: nn.Module) -> None:
        from tessera.compression.pruning import check_supported

        check_supported(model, "model.architecture")

    def validate_inputs(self, inputs: MethodInputs) -> None:
        if ModelRegistry(inputs.runtime.models).manifest(inputs.model_name, inputs.model_version) is not None:
            super().validate_inputs(inputs)
            return
        _, own, extras = split_config(inputs.config, self.extra_keys)
        typed, engine = self.parse(own, extras)
        onnx_only = f"{inputs.model_name!r} is a plain ONNX model"
        if engine != "onnxruntime":
            raise InvalidArgument.field("config.engine", f"{onnx_only}: only the onnxruntime engine applies")
        if typed.mode != "ptq":
            raise InvalidArgument.field("config.mode", f"{onnx_only}: quantisation-aware training needs torch state")
        from tessera.compression.registry import onnx_input_spec

        spec = onnx_input_spec(inputs.runtime.models.model_bytes(inputs.model_name, inputs.model_version)[1])
        check_dataset_ref(inputs.dataset, spec, inputs.runtime.settings)

    def compress(self, task: CompressionTask, on_round: RoundCallback) -> CompressionOutcome:
        if ModelRegistry(task.runtime.models).manifest(task.model_name, task.model_version) is not None:
            return super().compress(task, on_round)
        return self.compress_onnx(task, on_round)

    def run(self, prepared: Prepared, typed: Any, seed: int, on_round: RoundCallback) -> tuple[nn.Module, str, dict]:
        from tessera.compression.pruning import StepInfo, TrainData
        from tessera.compression.quantize import quantize_weights

        config, engine = typed

        def progress(info: StepInfo) -> None:
            on_round(to_round(info.step, info.total or info.step, info.sparsity, 0, info.accuracy))

        if engine == "onnxruntime" and config.mode == "ptq":  # ONNX Runtime quantises the exported graph
            on_round(to_round(1, 1, 0.0, 0, prepared.evaluate(prepared.model)))
            return copy.deepcopy(prepared.model), "int8-qdq", {"engine": engine, "bits": 8}
        result = quantize_weights(prepared.model, config, TrainData(prepared.train_loader(seed)), prepared.evaluate,
                                  progress)
        structure = "int8-qdq" if engine == "onnxruntime" else result.structure
        return result.model, structure, {"engine": engine, **{k: v for k, v in result.info.items() if jsonable(v)}}

    def export(self, model: nn.Module, prepared: Prepared, example: torch.Tensor,
               export_onnx: Callable[[nn.Module, torch.Tensor], bytes]) -> tuple[bytes, bool]:
        from tessera.compression.quantize import quantize_onnx_int8
        from tessera.compression.registry import INPUT_NAME

        if prepared.typed[1] != "onnxruntime":
            return export_onnx(model, example), False
        calibration = calibration_batches(prepared.data.train, prepared.options)
        return quantize_onnx_int8(export_onnx(model, example), calibration, input_name=INPUT_NAME), True

    def compress_onnx(self, task: CompressionTask, on_round: RoundCallback) -> CompressionOutcome:
        from tessera.compression.quantize import quantize_onnx_int8
        from tessera.compression.registry import onnx_input_spec
        from tessera.core.inference.model_config import onnx_signature

        options, own, extras = split_config(task.config, self.extra_keys)
        self.parse(own, extras)
        spec: InputSpec = onnx_input_spec(task.onnx_bytes)
        data = load_dataset_ref(task.dataset, spec, task.runtime.settings, train_samples=options.train_samples,
                                eval_samples=options.eval_samples, seed=task.seed)
        input_name = onnx_signature(task.onnx_bytes)[0][0].name
        quantised = quantize_onnx_int8(task.onnx_bytes, calibration_batches(data.train, options), input_name)
        baseline_accuracy = onnx_accuracy(task.onnx_bytes, data.test, options.batch_size)
        accuracy = onnx_accuracy(quantised, data.test, options.batch_size)
        parameters = float_parameters(task.onnx_bytes)
        example = spec.example().numpy()
        baseline = onnx_report(task.onnx_bytes, "fp32 source", parameters, baseline_accuracy, None, example,
                               options.latency_repeats)
        report = onnx_report(quantised, "int8", parameters, accuracy, baseline_accuracy, example,
                             options.latency_repeats)
        on_round(to_round(1, 1, report.sparsity, report.unique_values, accuracy))
        report.info.update({"engine": "onnxruntime", "source": "onnx", "dataset": data.source,
                            "calibration_samples": min(options.calibration_samples, len(data.train)),
                            "eval_samples": len(data.test), "accuracy_measured_on": "onnxruntime"})
        return CompressionOutcome(
            onnx_bytes=quantised,
            report={**report.model_dump(mode="json"), "compressed_bytes": report.encoded_bytes,
                    "baseline": baseline.model_dump(mode="json", exclude={"layers"})},
            plot_png=plot_png([baseline, report], f"{task.model_name} v{task.model_version}: int8 (ONNX Runtime)"))


