"""What every torch method adapter shares: the job options, the measuring helpers and :class:`TorchMethod`.

:class:`TorchMethod` is the Compress flow around one method: rebuild the registered torch model, load
the dataset ref (train split for fine-tuning / calibration, test split for the report), measure the
source, run the method with per-round progress, export ONNX, measure the result *as served* (ONNX
Runtime accuracy on the evaluation images) and draw the plot. Subclasses (:mod:`.sharing`,
:mod:`.prune`, :mod:`.int8`) parse their config, check the layers and run the method.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import Field
from torch import nn

from tessera.compression.datasets import ImageDataset
from tessera.compression.datasets_ref import ResolvedData, check_dataset_ref, load_dataset_ref
from tessera.compression.registry import ModelRegistry, TorchManifest, build_architecture
from tessera.compression.training import StrictConfig, evaluate_accuracy
from tessera.compression.worker import (
    CompressionOutcome,
    CompressionTask,
    MethodInputs,
    RoundCallback,
    TorchOutput,
)
from tessera.core.errors import FieldViolation, InvalidArgument
from tessera.v1 import compression_pb2


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


# ------------------------------------------------------------------ the adapter base


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


def jsonable(value: Any) -> bool:
    """Whether ``value`` can go into a report's ``info`` as it is (a method's info may hold other objects)."""
    return isinstance(value, str | int | float | bool | list | dict | type(None))
