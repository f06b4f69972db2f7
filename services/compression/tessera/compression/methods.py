"""The dispatch table of Compress: one :class:`~tessera.compression.worker.CompressionMethod` per method.

Every adapter does the same around its method: rebuild the registered torch model, load the
dataset ref (train split for fine-tuning / calibration, test split for the report), measure the
source, run the method with per-round progress, export ONNX, measure the result *as served* (ONNX
Runtime accuracy on the evaluation images) and draw the plot. The methods themselves live in
:mod:`tessera.compression.pwf`, :mod:`~tessera.compression.kmeans`, :mod:`~tessera.compression.pruning`
and :mod:`~tessera.compression.quantize`.

Keys of ``config_json`` that belong to the job, not the method (:class:`JobOptions`):
``train_samples``, ``eval_samples``, ``batch_size``, ``calibration_samples``, ``latency_repeats``.
Pruning methods also take ``then_quantize`` (a ``QuantConfig`` mapping, e.g. ``{"bits": 8}``): prune,
then quantise the survivors. Every other key goes to the method's config; unknown keys and values
out of range fail as ``config.<key>``.
"""

from __future__ import annotations

import copy
import logging
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from pydantic import Field
from torch import nn

from tessera.compression.datasets import ImageDataset
from tessera.compression.datasets_ref import ResolvedData, check_dataset_ref, load_dataset_ref
from tessera.compression.registry import InputSpec, ModelRegistry, TorchManifest, build_architecture
from tessera.compression.training import StrictConfig, evaluate_accuracy
from tessera.compression.worker import (
    CompressionMethod,
    CompressionOutcome,
    CompressionTask,
    MethodInputs,
    RoundCallback,
    TorchOutput,
)
from tessera.core.errors import FieldViolation, InvalidArgument
from tessera.v1 import compression_pb2

log = logging.getLogger(__name__)


class JobOptions(StrictConfig):
    """How much data a job uses and how it measures; the rest of ``config_json`` configures the method."""

    train_samples: int = Field(2048, ge=1, le=10_000_000, description="images for fine-tuning/calibration")
    eval_samples: int = Field(1000, ge=1, le=10_000_000, description="images the report's accuracy is measured on")
    batch_size: int = Field(64, ge=1, le=65_536)
    calibration_samples: int = Field(256, ge=1, le=100_000, description="int8: images ONNX Runtime calibrates on")
    latency_repeats: int = Field(10, ge=1, le=1000, description="ONNX Runtime runs timed for the latency figure")


def split_config(config: Mapping[str, Any], extra_keys: tuple[str, ...] = ()) -> tuple[JobOptions, dict[str, Any],
                                                                                         dict[str, Any]]:
    """(job options, the method's own keys, ``extra_keys`` found) from one request config."""
    names = set(JobOptions.model_fields)
    options = JobOptions(**{k: v for k, v in config.items() if k in names})
    extras = {k: config[k] for k in extra_keys if k in config}
    own = {k: v for k, v in config.items() if k not in names and k not in extra_keys}
    return options, own, extras


def renamed(error: InvalidArgument, prefix: str) -> InvalidArgument:
    """``config.<f>`` violations of a nested config re-addressed as ``<prefix>.<f>``."""
    return InvalidArgument([FieldViolation(v.field.replace("config", prefix, 1), v.description)
                            for v in error.violations])


# ------------------------------------------------------------------ measuring


def onnx_accuracy(onnx_bytes: bytes, dataset: ImageDataset, batch_size: int) -> float:
    """Top-1 accuracy of the ONNX model (what Triton serves) under ONNX Runtime, in [0, 1]."""
    from tessera.compression.reports import ort_session

    session = ort_session(onnx_bytes)
    name = session.get_inputs()[0].name
    correct = 0
    for start in range(0, len(dataset), batch_size):
        images = dataset.images[start:start + batch_size].numpy()
        logits = np.asarray(session.run(None, {name: images})[0])
        correct += int((logits.argmax(axis=1) == dataset.labels[start:start + batch_size].numpy()).sum())
    return correct / len(dataset)


def to_round(step: int, total: int, fraction: float, unique: int, accuracy: float | None,
             loss: float | None = None) -> compression_pb2.RoundProgress:
    return compression_pb2.RoundProgress(round=step, rounds=total, fixed_fraction=float(fraction),
                                         unique_values=int(unique), accuracy=float(accuracy or 0.0),
                                         loss=float(loss) if loss is not None and np.isfinite(loss) else 0.0)


def plot_png(reports: list[Any], title: str, metric: str = "accuracy") -> bytes:
    from tessera.compression.plots import plot_tradeoffs

    with tempfile.TemporaryDirectory() as tmp:
        return plot_tradeoffs(reports, Path(tmp) / "plot.png", title, metric).read_bytes()


@dataclass
class Prepared:
    """A torch job's inputs: the source model (untouched), its manifest and the resolved data."""

    model: nn.Module
    manifest: TorchManifest
    data: ResolvedData
    options: JobOptions
    typed: Any

    def train_loader(self, seed: int) -> torch.utils.data.DataLoader[tuple[torch.Tensor, ...]]:
        return self.data.train.loader(self.options.batch_size, shuffle=True, seed=seed)

    def evaluate(self, model: nn.Module) -> float:
        return evaluate_accuracy(model, self.data.test.loader(self.options.batch_size))


# ------------------------------------------------------------------ the adapters


class TorchMethod:
    """Base of the methods that compress a registered torch model. Subclasses parse their config
    (:meth:`parse`), check layers (:meth:`check_model`) and run (:meth:`run`)."""

    name = ""
    extra_keys: tuple[str, ...] = ()

    def parse(self, own: dict[str, Any], extras: dict[str, Any]) -> Any:
        raise NotImplementedError

    def check_model(self, model: nn.Module) -> None:
        raise NotImplementedError

    def run(self, prepared: Prepared, typed: Any, seed: int, on_round: RoundCallback) -> tuple[nn.Module, str, dict]:
        """-> (compressed model, structure, info for the report)."""
        raise NotImplementedError

    # the CompressionMethod interface ---------------------------------------------------------
    def validate_config(self, config: Mapping[str, Any]) -> None:
        _, own, extras = split_config(config, self.extra_keys)
        self.parse(own, extras)

    def validate_inputs(self, inputs: MethodInputs) -> None:
        registry = ModelRegistry(inputs.runtime.models)
        manifest = registry.manifest(inputs.model_name, inputs.model_version)
        if manifest is None:
            raise InvalidArgument.field("model.name", f"{inputs.model_name!r} v{inputs.model_version} is a plain "
                                                      f"ONNX model; {self.name} needs a registered torch model "
                                                      "(only int8 quantises ONNX models)")
        self.check_model(build_architecture(manifest.architecture, manifest.kwargs, "model.architecture"))
        check_dataset_ref(inputs.dataset, manifest.input_spec, inputs.runtime.settings)

    def compress(self, task: CompressionTask, on_round: RoundCallback) -> CompressionOutcome:
        from tessera.compression.reports import build_report, export_onnx

        options, own, extras = split_config(task.config, self.extra_keys)
        typed = self.parse(own, extras)
        model, manifest = ModelRegistry(task.runtime.models).load(task.model_name, task.model_version)
        data = load_dataset_ref(task.dataset, manifest.input_spec, task.runtime.settings,
                                train_samples=options.train_samples, eval_samples=options.eval_samples, seed=task.seed)
        torch.manual_seed(task.seed)
        prepared = Prepared(model, manifest, data, options, typed)
        example = manifest.input_spec.example()
        baseline_accuracy = onnx_accuracy(task.onnx_bytes, data.test, options.batch_size)
        baseline = build_report(model, "fp32 source", accuracy=baseline_accuracy, example_input=example,
                                latency_repeats=options.latency_repeats)
        compressed, structure, info = self.run(prepared, typed, task.seed, on_round)
        make_plain(compressed)
        onnx_bytes, served_onnx = self.export(compressed, prepared, example, export_onnx)
        accuracy = onnx_accuracy(onnx_bytes, data.test, options.batch_size)
        report = build_report(compressed, self.name, accuracy=accuracy, baseline_accuracy=baseline_accuracy,
                              baseline_nonzero=baseline.nonzero_parameters, example_input=example,
                              onnx_model=onnx_bytes if served_onnx else None, structure=structure,
                              info={**info, "dataset": data.source, "train_samples": len(data.train),
                                    "eval_samples": len(data.test), "accuracy_measured_on": "onnxruntime"},
                              latency_repeats=options.latency_repeats)
        torch_output = None
        if not served_onnx and fits(compressed, manifest):
            torch_output = TorchOutput(compressed, TorchManifest(
                manifest.architecture, manifest.kwargs, manifest.input_spec,
                {"accuracy": accuracy, "compressed_from": f"{task.model_name}/{task.model_version}"}))
        return CompressionOutcome(
            onnx_bytes=onnx_bytes, report={**report.model_dump(mode="json"), "compressed_bytes": report.encoded_bytes,
                                           "baseline": baseline.model_dump(mode="json", exclude={"layers"})},
            plot_png=plot_png([baseline, report], f"{task.model_name} v{task.model_version}: {self.name}"),
            torch_output=torch_output)

    def export(self, model: nn.Module, prepared: Prepared, example: torch.Tensor,
               export_onnx: Callable[[nn.Module, torch.Tensor], bytes]) -> tuple[bytes, bool]:
        """(ONNX bytes, whether they are a runtime-quantised graph rather than a plain export)."""
        return export_onnx(model, example), False


def make_plain(model: nn.Module) -> None:
    """Bake prune masks and parametrisations into plain parameters (what export and state dicts need)."""
    from torch.nn.utils import parametrize

    from tessera.compression.pruning.layers import make_permanent

    make_permanent(model)
    for module in model.modules():
        if parametrize.is_parametrized(module):
            for name in list(module.parametrizations):  # type: ignore[union-attr,arg-type]
                parametrize.remove_parametrizations(module, name, leave_parametrized=True)
    model.eval()


def fits(model: nn.Module, manifest: TorchManifest) -> bool:
    from tessera.compression.registry import fits_architecture

    return fits_architecture(model, manifest.architecture, manifest.kwargs)


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
                                                **{k: v for k, v in result.info.items() if _jsonable(v)}}


def _jsonable(value: Any) -> bool:
    return isinstance(value, str | int | float | bool | list | dict | type(None))


# ------------------------------------------------------------------ int8 / int4


def calibration_batches(dataset: ImageDataset, options: JobOptions) -> list[np.ndarray]:
    """The first ``calibration_samples`` images (already a seeded random subset) in batches."""
    images = dataset.images[:options.calibration_samples].numpy()
    return [images[i:i + options.batch_size] for i in range(0, len(images), options.batch_size)]


def onnx_report(onnx_bytes: bytes, method: str, parameters: int, accuracy: float | None,
                baseline_accuracy: float | None, example: np.ndarray, latency_repeats: int,
                extra_inputs: Mapping[str, np.ndarray] | None = None) -> Any:
    """The report of a model known only as ONNX: its (dequantised) weights, ``parameters`` fp32 values in all;
    ``extra_inputs``: constant values of inputs besides ``example``'s (for the latency run)."""
    from tessera.compression.reports import (
        CompressionReport,
        LayerStats,
        encoding_sizes,
        entropy_bits,
        grid_encoding_bytes,
        onnx_latency_ms,
        onnx_weights,
    )

    weights = onnx_weights(onnx_bytes)
    compressed = sum(w.size for w in weights.values())
    other = max(parameters - compressed, 0)
    flat = np.concatenate([w.ravel() for w in weights.values()]) if weights else np.zeros(0, np.float32)
    _, counts = np.unique(flat, return_counts=True)
    huffman, lzma_size = encoding_sizes(list(weights.values()), other)
    grid = grid_encoding_bytes(list(weights.values()), other)
    encoded = min(huffman, grid) if grid is not None else huffman
    layers = []
    for name, w in weights.items():
        layer_counts = np.unique(w, return_counts=True)[1]
        layers.append(LayerStats(name=name, parameters=int(w.size), nonzero=int(np.count_nonzero(w)),
                                 unique_values=len(layer_counts), entropy_bits=entropy_bits(layer_counts)))
    return CompressionReport(
        method=method, accuracy=accuracy, baseline_accuracy=baseline_accuracy,
        accuracy_drop=None if accuracy is None or baseline_accuracy is None else baseline_accuracy - accuracy,
        unique_values=len(counts), unique_values_per_layer={layer.name: layer.unique_values for layer in layers},
        entropy_bits_per_weight=entropy_bits(counts), sparsity=float((flat == 0).mean()) if flat.size else 0.0,
        parameters=parameters, compressed_parameters=int(compressed),
        nonzero_parameters=int(np.count_nonzero(flat)) + other, fp32_bytes=4 * parameters, encoded_bytes=encoded,
        encoding="per-channel-grid" if grid is not None and grid < huffman else "shared-codebook",
        encoded_bytes_lzma=lzma_size, compression_ratio=4 * parameters / encoded if encoded else float("inf"),
        latency_ms=onnx_latency_ms(onnx_bytes, example, repeats=latency_repeats, extra_inputs=extra_inputs),
        structure="onnx", layers=layers)


def float_parameters(onnx_bytes: bytes) -> int:
    """Values of the float initialisers of an ONNX graph (an fp32 model's parameter count)."""
    graph = onnx.load_from_string(onnx_bytes).graph
    return sum(int(np.prod(t.dims)) for t in graph.initializer if t.data_type == onnx.TensorProto.FLOAT)


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
        return result.model, structure, {"engine": engine, **{k: v for k, v in result.info.items() if _jsonable(v)}}

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


# ------------------------------------------------------------------ the table


def available_methods() -> dict[str, CompressionMethod]:
    """Every method whose code imports here: name -> adapter (a broken module only drops its methods)."""
    methods: dict[str, CompressionMethod] = {}
    candidates: list[tuple[str, Callable[[], CompressionMethod]]] = [
        ("pwf", PWFMethod), ("kmeans", KMeansMethod), ("int8", Int8Method),
        *[(name, lambda name=name: PruningMethod(name)) for name in ("magnitude", "gmp", "channel", "nm", "movement",
                                                                      "lth")],
    ]
    modules = {"pwf": "tessera.compression.pwf", "kmeans": "tessera.compression.kmeans",
               "int8": "tessera.compression.quantize"}
    import importlib

    from tessera.compression.segmentation_job import SegmentationAware

    for name, factory in candidates:
        try:
            importlib.import_module(modules.get(name, "tessera.compression.pruning"))
            if name not in ("pwf", "kmeans", "int8"):
                from tessera.compression.pruning import METHODS

                if name not in METHODS:
                    continue
            methods[name] = SegmentationAware(name, factory())
        except ImportError as exc:
            log.warning("compression method %s is unavailable: %s", name, exc)
    return methods
