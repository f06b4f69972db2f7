"""Compress jobs (``compression.compress``): the dispatch table of methods, the job, the event.

A method is registered under its CLI/proto name (``pwf``, ``kmeans``, ``int8``, ``magnitude``,
``gmp``, ``channel``, ``nm``, ``movement``, ``lth``) as an object with the
:class:`CompressionMethod` interface. ``Compress`` on a method with no registered implementation
fails at once with FAILED_PRECONDITION, before any job is created.

The job: the method produces an ONNX model, a report (JSON) and a plot (PNG); the worker stores
report and plot under ``<results prefix>/<job id>/``, the torch state (when the compressed model
still fits its architecture) beside the new version, then publishes the ONNX as that new version
in the Triton model repository and announces ``tessera.model.compressed``. A method that raises
leaves the repository as it was (the new version is written last, only on success).
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from torch import nn

from tessera.compression.registry import ModelRegistry, TorchManifest
from tessera.core.errors import FailedPrecondition, FieldViolation, InvalidArgument, NotFound
from tessera.core.events import Event, artifact_ref_json, topic_name
from tessera.core.inference import ModelRepository
from tessera.core.inference.repository import validate_model_name
from tessera.core.jobs import JobContext
from tessera.core.runtime import ServiceRuntime
from tessera.v1 import common_pb2, compression_pb2

COMPRESS = "compression.compress"
MODEL_REGISTERED = topic_name("model", "registered")
MODEL_COMPRESSED = topic_name("model", "compressed")
MODEL_COMPRESSED_TYPE = "tessera.model.compressed"
SEGMENTATION = "segmentation"  # the task of a policy rule / model.registered event that a 3D segmenter has
METHOD_NAMES = ("pwf", "kmeans", "int8", "magnitude", "gmp", "channel", "nm", "movement", "lth")


def method_name(method: int) -> str:
    """``COMPRESSION_METHOD_PWF`` -> ``pwf``; raises naming ``method`` for UNSPECIFIED/unknown."""
    if method not in compression_pb2.CompressionMethod.values() or method == 0:
        raise InvalidArgument.field("method", f"must be one of {', '.join(METHOD_NAMES)}, got {method}")
    return compression_pb2.CompressionMethod.Name(method).removeprefix("COMPRESSION_METHOD_").lower()


def method_enum(name: str) -> compression_pb2.CompressionMethod:
    """``pwf`` -> ``COMPRESSION_METHOD_PWF``; raises naming ``method`` for an unknown name."""
    if name not in METHOD_NAMES:
        raise InvalidArgument.field("method", f"must be one of {', '.join(METHOD_NAMES)}, got {name!r}")
    value = compression_pb2.CompressionMethod.Value(f"COMPRESSION_METHOD_{name.upper()}")
    return cast(compression_pb2.CompressionMethod, value)


@dataclass(frozen=True)
class CompressionTask:
    """What a method gets: the source model (ONNX bytes of the repository version), the dataset
    reference, its parsed config, a seed, and where the runtime keeps models and artifacts."""

    model_name: str
    model_version: int
    onnx_bytes: bytes
    dataset: compression_pb2.DatasetRef
    config: dict[str, Any]
    seed: int
    runtime: ServiceRuntime


@dataclass(frozen=True)
class MethodInputs:
    """What a method checks before a job exists (cheaply: no training, no full data load)."""

    model_name: str
    model_version: int
    dataset: compression_pb2.DatasetRef
    config: dict[str, Any]
    runtime: ServiceRuntime


@dataclass(frozen=True)
class TorchOutput:
    """The compressed torch model, registered beside its ONNX when it still fits its architecture."""

    model: nn.Module
    manifest: TorchManifest


@dataclass
class CompressionOutcome:
    """What a method returns: the compressed model as ONNX, its report (JSON-ready, with at least
    ``accuracy``, ``baseline_accuracy``, ``unique_values``, ``sparsity``, ``compressed_bytes``,
    ``fp32_bytes``), the PNG plot, the per-round progress and (torch methods) the torch model."""

    onnx_bytes: bytes
    report: dict[str, Any]
    plot_png: bytes
    rounds: list[compression_pb2.RoundProgress] = field(default_factory=list)
    torch_output: TorchOutput | None = None


RoundCallback = Callable[[compression_pb2.RoundProgress], None]


class CompressionMethod(Protocol):
    """One entry of the dispatch table."""

    def validate_config(self, config: Mapping[str, Any]) -> None:
        """Raise :class:`InvalidArgument` with fields ``config.<key>`` for bad settings."""

    def validate_inputs(self, inputs: MethodInputs) -> None:
        """Raise :class:`InvalidArgument` naming ``model.name`` / ``dataset.*`` when the source model or the
        dataset cannot be used (wrong kind of model, unsupported layers, data not matching the input)."""

    def compress(self, task: CompressionTask, on_round: RoundCallback) -> CompressionOutcome:
        """Run the method; call ``on_round`` after every round."""


def parse_config(text: str) -> dict[str, Any]:
    if not text.strip():
        return {}
    try:
        config = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidArgument.field("config_json", f"is not JSON: {exc.msg} at position {exc.pos}") from None
    if not isinstance(config, dict):
        raise InvalidArgument.field("config_json", f"must be a JSON object, got {type(config).__name__}")
    return config


class CompressionWorker:
    def __init__(self, runtime: ServiceRuntime, methods: Mapping[str, CompressionMethod] | None = None):
        self.runtime = runtime
        self.methods: dict[str, CompressionMethod] = dict(methods or {})
        self.runtime.jobs.register(COMPRESS, self.compress)

    def register_method(self, name: str, method: CompressionMethod) -> None:
        method_enum(name)  # only the names of the API
        self.methods[name] = method

    def method(self, name: str) -> CompressionMethod:
        if name not in self.methods:
            wired = ", ".join(sorted(self.methods)) or "none"
            raise FailedPrecondition(f"compression method {name!r} is not available in this deployment yet "
                                     f"(available: {wired})")
        return self.methods[name]

    # submission ----------------------------------------------------------------------------
    def start(self, request: compression_pb2.CompressRequest, job_id: str | None = None) -> common_pb2.Job:
        """Validate a Compress request and submit its job (deterministic ``job_id`` for events)."""
        problems: list[FieldViolation] = []
        if not request.model.name:
            problems.append(FieldViolation("model.name", "must name a model in the repository"))
        name = ""
        try:
            name = method_name(request.method)
        except InvalidArgument as exc:
            problems.extend(exc.violations)
        try:
            config = parse_config(request.config_json)
        except InvalidArgument as exc:
            problems.extend(exc.violations)
            config = {}
        if problems:
            raise InvalidArgument(problems)
        method = self.method(name)
        method.validate_config(config)
        repo: ModelRepository = self.runtime.models
        version = repo.resolve_version(request.model.name, request.model.version)  # NotFound names the model
        output = validate_model_name(request.output_model or f"{request.model.name}-{name}", "output_model")
        method.validate_inputs(MethodInputs(request.model.name, version, request.dataset, config, self.runtime))
        labels = {"model": request.model.name, "version": str(version), "method": name,
                  "config_json": json.dumps(config, sort_keys=True), "output_model": output,
                  "seed": str(request.seed), "dataset": request.dataset.SerializeToString().hex()}
        return self.runtime.jobs.submit(COMPRESS, labels=labels, job_id=job_id)

    # the job -------------------------------------------------------------------------------
    def compress(self, ctx: JobContext) -> list[common_pb2.ArtifactRef]:
        labels = ctx.job.labels
        method = self.method(labels["method"])
        version, onnx_bytes = self.runtime.models.model_bytes(labels["model"], labels["version"])
        task = CompressionTask(model_name=labels["model"], model_version=version, onnx_bytes=onnx_bytes,
                               dataset=compression_pb2.DatasetRef.FromString(bytes.fromhex(labels["dataset"])),
                               config=json.loads(labels["config_json"]), seed=int(labels["seed"]),
                               runtime=self.runtime)

        seen_rounds: list[compression_pb2.RoundProgress] = []

        def on_round(progress: compression_pb2.RoundProgress) -> None:
            seen_rounds.append(progress)
            fraction = progress.round / progress.rounds if progress.rounds else 0.0
            ctx.progress(min(fraction, 1.0) * 0.95, json.dumps({
                "round": progress.round, "rounds": progress.rounds, "fixed_fraction": progress.fixed_fraction,
                "unique_values": progress.unique_values, "accuracy": progress.accuracy}))

        outcome = method.compress(task, on_round)
        outcome.rounds = outcome.rounds or seen_rounds
        ctx.progress(0.96, "publishing")
        prefix = f"{self.runtime.settings.compression_results_prefix}/{ctx.job_id}"  # type: ignore[attr-defined]
        store = self.runtime.store
        registry = ModelRegistry(self.runtime.models)
        output = labels["output_model"]
        out_version = registry.next_version(output)
        plot = store.put_bytes(f"{prefix}/plot.png", outcome.plot_png, media_type="image/png")
        report_data = {**outcome.report, "job_id": ctx.job_id, "method": labels["method"],
                       "source_model": {"name": labels["model"], "version": version},
                       "output_model": {"name": output, "version": out_version,
                                        "torch_registered": outcome.torch_output is not None},
                       "rounds": [{"round": r.round, "rounds": r.rounds, "accuracy": r.accuracy,
                                   "unique_values": r.unique_values, "fixed_fraction": r.fixed_fraction,
                                   "loss": r.loss} for r in outcome.rounds]}
        report = store.put_bytes(f"{prefix}/report.json", json.dumps(report_data, indent=2).encode(),
                                 media_type="application/json")
        if outcome.torch_output is not None:
            registry.stage_torch(output, out_version, outcome.torch_output.model, outcome.torch_output.manifest)
        # Last: the new version becomes visible (to Triton too) only now; any failure above leaves the
        # repository at its last good version.
        published = registry.publish_onnx(output, outcome.onnx_bytes, out_version)
        if self.runtime.publisher is not None:
            self.runtime.publisher.publish(MODEL_COMPRESSED, MODEL_COMPRESSED_TYPE, {
                "job_id": ctx.job_id, "method": labels["method"],
                "source_model": {"name": labels["model"], "version": str(version)},
                "output_model": {"name": published.name, "version": str(published.version)},
                "model": artifact_ref_json(published.model), "report": artifact_ref_json(report),
                "plot": artifact_ref_json(plot),
                **{k: outcome.report.get(k) for k in ("accuracy", "baseline_accuracy", "unique_values", "sparsity",
                                                       "compressed_bytes", "fp32_bytes")},
            }, key=ctx.job_id, event_id=f"{ctx.job_id}-compressed")
        return [published.model.to_proto(), report.to_proto(), plot.to_proto()]

    # policy-driven compression of newly registered models -------------------------------------
    def policy(self) -> list[dict[str, Any]]:
        raw = self.runtime.settings.compression_policy_json  # type: ignore[attr-defined]
        try:
            rules = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise InvalidArgument.field("compression_policy_json", f"is not JSON: {exc.msg}") from None
        if not isinstance(rules, list) or not all(
                isinstance(r, dict) and ("method" in r or r.get("task") == SEGMENTATION) for r in rules):
            raise InvalidArgument.field("compression_policy_json", "must be a list of {model_prefix, task, method, "
                                                               "config, dataset | dataset_uri} (method optional "
                                                               "only for task segmentation: int8)")
        return rules

    def model_task(self, data: Mapping[str, Any]) -> str:
        """``segmentation`` or ``classification``: the event's ``task`` if it names one, else read off the
        model (a plain ONNX graph with 5-D input and output is a 3D segmentation network)."""
        if data.get("task"):
            return str(data["task"])
        from tessera.compression.segmentation_job import segmentation_source

        try:
            version = self.runtime.models.resolve_version(str(data["name"]), str(data.get("version", "")))
            found = segmentation_source(self.runtime, str(data["name"]), version)
        except NotFound:
            return "classification"
        return SEGMENTATION if found is not None else "classification"

    def on_model_registered(self, event: Event) -> None:
        """``tessera.model.registered`` data ``{"name", "version", "task"?}``: submit a Compress job per matching
        rule (job ids from the event id, so a replayed event starts nothing twice). A rule with ``task`` matches
        only models of that task; a ``segmentation`` rule's method defaults to ``int8``."""
        data: Any = event.get_data()
        if not isinstance(data, dict) or not data.get("name"):
            raise InvalidArgument.field("data.name", "a model.registered event needs the model name")
        task: str | None = None
        for i, rule in enumerate(self.policy()):
            prefix = str(rule.get("model_prefix", ""))
            method = str(rule.get("method", "int8"))
            if not fnmatch.fnmatchcase(str(data["name"]), f"{prefix}*") or str(data["name"]).endswith(
                    f"-{method}"):  # never re-compress our own output
                continue
            if rule.get("task"):
                task = task or self.model_task(data)  # looked up once, only when a rule asks
                if task != rule["task"]:
                    continue
            dataset = compression_pb2.DatasetRef(name=str(rule.get("dataset", "")))
            if rule.get("dataset_uri"):
                dataset = compression_pb2.DatasetRef(uri=common_pb2.ArtifactRef(uri=str(rule["dataset_uri"])))
            request = compression_pb2.CompressRequest(
                model=compression_pb2.ModelRef(name=str(data["name"]), version=str(data.get("version", ""))),
                method=method_enum(method), config_json=json.dumps(rule.get("config", {})),
                dataset=dataset)
            job_id = "cmp-" + hashlib.sha256(f"{event.get_id()}:{i}".encode()).hexdigest()[:24]
            self.start(request, job_id=job_id)
