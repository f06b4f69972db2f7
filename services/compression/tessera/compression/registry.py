"""The model registry: torch models stored beside their ONNX export in the Triton model repository.

A registered model is one version of the repository (``<models>/<name>/<version>/model.onnx``,
what Triton serves) plus, in the same version directory, what it takes to rebuild it in torch::

    <models>/<name>/<version>/torch/manifest.json    architecture name, constructor kwargs, input spec
    <models>/<name>/<version>/torch/state_dict.pt    torch.save(model.state_dict())

Triton and :class:`~tessera.core.inference.ModelRepository` only look at ``model.onnx`` and
``config.pbtxt``, so the extra files are invisible to serving. The torch files are written first
and the ONNX last: a version exists (for every reader) only once it is complete. Registration
announces ``tessera.model.registered`` (``{"name", "version", "architecture", "task", "model", "torch"}``;
``task`` is the input spec's, or ``segmentation`` for a plain ONNX graph with 5-D input and output).

Architectures are looked up by name in :data:`ARCHITECTURES` (the constructors of
:mod:`tessera.compression.models`); :func:`register_architecture` adds more in-process. A state
dict is loaded with ``weights_only=True``: registered artifacts never run code.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from tessera.compression.models import ResNetCNN, VisionTransformer, deit_tiny_sized
from tessera.core.artifacts.base import ArtifactInfo, ArtifactStore
from tessera.core.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from tessera.core.events import EventPublisher, artifact_ref_json, topic_name
from tessera.core.inference import ModelRepository
from tessera.core.inference.model_config import onnx_signature
from tessera.core.inference.repository import PublishedModel, validate_model_name

MODEL_REGISTERED = topic_name("model", "registered")
MODEL_REGISTERED_TYPE = "tessera.model.registered"
TORCH_DIR = "torch"
MANIFEST_FILE = "manifest.json"
STATE_FILE = "state_dict.pt"
INPUT_NAME = "input"  # the names every export of this service uses (reports.export_onnx)
OUTPUT_NAME = "output"

ModelFactory = Callable[..., nn.Module]
ARCHITECTURES: dict[str, ModelFactory] = {
    "resnet_cnn": ResNetCNN,
    "vit": VisionTransformer,
    "deit_tiny": deit_tiny_sized,
}


def register_architecture(name: str, factory: ModelFactory) -> None:
    """Make ``factory(**kwargs) -> nn.Module`` buildable from manifests naming ``name``."""
    ARCHITECTURES[name] = factory


@dataclass(frozen=True)
class InputSpec:
    """One input image: ``shape`` (C, H, W) without the batch axis (-1 = any size), float32; the
    model outputs ``(N, num_classes)`` logits (``num_classes`` -1 when unknown)."""

    shape: tuple[int, ...]
    num_classes: int = -1
    dtype: str = "float32"
    task: str = "classification"

    def example(self, batch: int = 1) -> torch.Tensor:
        """A zero batch ``(batch, *shape)``; dynamic axes get size 1."""
        return torch.zeros((batch, *[d if d > 0 else 1 for d in self.shape]), dtype=torch.float32)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> InputSpec:
        return cls(shape=tuple(int(d) for d in data["shape"]), num_classes=int(data.get("num_classes", -1)),
                   dtype=str(data.get("dtype", "float32")), task=str(data.get("task", "classification")))


@dataclass(frozen=True)
class TorchManifest:
    """How to rebuild a registered model: ``ARCHITECTURES[architecture](**kwargs)`` + its state dict."""

    architecture: str
    kwargs: dict[str, Any]
    input_spec: InputSpec
    metrics: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "input_spec": asdict(self.input_spec)}, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> TorchManifest:
        data = json.loads(text)
        return cls(architecture=str(data["architecture"]), kwargs=dict(data.get("kwargs", {})),
                   input_spec=InputSpec.from_json(data["input_spec"]), metrics=dict(data.get("metrics", {})))


@dataclass(frozen=True)
class RegisteredModel:
    """One registered version; ``torch`` is None for a plain ONNX model (no torch files)."""

    name: str
    version: int
    model: ArtifactInfo
    torch: TorchManifest | None
    state: ArtifactInfo | None = None
    task: str = "classification"  # of a plain ONNX model: "segmentation" for [N, C, D, H, W] -> [N, K, D, H, W]


def build_architecture(architecture: str, kwargs: Mapping[str, Any], field_name: str = "architecture") -> nn.Module:
    """A fresh model ``ARCHITECTURES[architecture](**kwargs)``; bad names/kwargs name ``field_name``."""
    factory = ARCHITECTURES.get(architecture)
    if factory is None:
        raise InvalidArgument.field(field_name, f"unknown architecture {architecture!r}; known: "
                                                f"{', '.join(sorted(ARCHITECTURES))}")
    try:
        return factory(**dict(kwargs))
    except TypeError as exc:  # an unexpected or missing constructor argument
        raise InvalidArgument.field(f"{field_name}.kwargs", f"{architecture}: {exc}") from None


def state_bytes(model: nn.Module) -> bytes:
    buffer = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, buffer)
    return buffer.getvalue()


def fits_architecture(model: nn.Module, architecture: str, kwargs: Mapping[str, Any]) -> bool:
    """Whether ``model``'s state dict loads into a fresh ``architecture(**kwargs)`` (same keys and shapes).

    Physically pruned models (channels removed) do not: they are registered as ONNX only.
    """
    fresh = build_architecture(architecture, kwargs).state_dict()
    state = model.state_dict()
    return fresh.keys() == state.keys() and all(fresh[k].shape == state[k].shape for k in fresh)


def onnx_input_spec(onnx_bytes: bytes) -> InputSpec:
    """The spec of a plain ONNX model: its first input's dims after the batch axis and its output width."""
    inputs, outputs = onnx_signature(onnx_bytes)
    shape = tuple(inputs[0].shape[1:])
    classes = outputs[0].shape[-1] if len(outputs[0].shape) == 2 else -1
    return InputSpec(shape=shape, num_classes=int(classes), dtype=inputs[0].datatype.lower().replace("fp", "float"))


class ModelRegistry:
    """Register, find and rebuild torch models kept in the Triton model repository ``models``."""

    def __init__(self, models: ModelRepository, publisher: EventPublisher | None = None):
        self.models = models
        self.store: ArtifactStore = models.store
        self.publisher = publisher

    def _key(self, name: str, version: int, file: str) -> str:
        parts = [self.models.prefix, name, str(version), TORCH_DIR, file]
        return "/".join(p for p in parts if p)

    # writing --------------------------------------------------------------------------------
    def register(self, name: str, model: nn.Module, architecture: str, kwargs: Mapping[str, Any],
                 input_spec: InputSpec, *, metrics: Mapping[str, Any] | None = None,
                 onnx_bytes: bytes | None = None, announce: bool = True) -> RegisteredModel:
        """Store ``model`` as the next version of ``name``: torch files, then its ONNX export (default:
        exported here). Raises naming ``architecture`` when the state dict does not fit it."""
        validate_model_name(name, "name")
        model = model.cpu().eval()
        if not fits_architecture(model, architecture, kwargs):
            raise InvalidArgument.field("architecture", f"the model's parameters do not match {architecture}"
                                                        f"(**{dict(kwargs)})")
        if onnx_bytes is None:
            from tessera.compression.reports import export_onnx

            onnx_bytes = export_onnx(model, input_spec.example())
        manifest = TorchManifest(architecture, dict(kwargs), input_spec, dict(metrics or {}))
        version = self.next_version(name)
        state = self.stage_torch(name, version, model, manifest)
        published = self.publish_onnx(name, onnx_bytes, version)
        registered = RegisteredModel(name, published.version, published.model, manifest, state)
        if announce:
            self.announce(registered)
        return registered

    def register_onnx(self, name: str, onnx_bytes: bytes, *, announce: bool = True) -> RegisteredModel:
        """A plain ONNX model (no torch files): only ONNX-level methods (int8) can compress it."""
        published = self.models.publish(validate_model_name(name, "name"), onnx_bytes)
        from tessera.compression.onnx_segmentation import is_segmentation_onnx

        task = "segmentation" if is_segmentation_onnx(onnx_bytes) else "classification"
        registered = RegisteredModel(name, published.version, published.model, None, task=task)
        if announce:
            self.announce(registered)
        return registered

    def stage_torch(self, name: str, version: int, model: nn.Module, manifest: TorchManifest) -> ArtifactInfo:
        """Write a version's torch files ahead of its ONNX (not visible as a version until
        :meth:`publish_onnx`); returns the state dict's artifact."""
        state = self.store.put_bytes(self._key(name, version, STATE_FILE), state_bytes(model))
        self.store.put_bytes(self._key(name, version, MANIFEST_FILE), manifest.to_json().encode(),
                             media_type="application/json")
        return state

    def next_version(self, name: str) -> int:
        existing = self.models.versions(name)
        return existing[-1] + 1 if existing else 1

    def publish_onnx(self, name: str, onnx_bytes: bytes, version: int) -> PublishedModel:
        """The commit point: the version's ``model.onnx`` (:class:`AlreadyExists` if someone took ``version``)."""
        try:
            return self.models.publish(name, onnx_bytes, version)
        except AlreadyExists:
            raise FailedPrecondition(f"model {name!r} version {version} was published concurrently; retry") from None

    def announce(self, registered: RegisteredModel) -> None:
        if self.publisher is None:
            return
        self.publisher.publish(MODEL_REGISTERED, MODEL_REGISTERED_TYPE, {
            "name": registered.name, "version": str(registered.version),
            "architecture": registered.torch.architecture if registered.torch else "",
            "task": registered.torch.input_spec.task if registered.torch else registered.task,
            "model": artifact_ref_json(registered.model),
            "torch": artifact_ref_json(registered.state) if registered.state else None,
        }, key=registered.name, event_id=f"registered-{registered.name}-{registered.version}")

    # reading --------------------------------------------------------------------------------
    def manifest(self, name: str, version: str | int = "") -> TorchManifest | None:
        """The torch manifest of a version (default newest), None for a plain ONNX model."""
        number = self.models.resolve_version(name, version)
        try:
            return TorchManifest.from_json(self.store.get_bytes(self._key(name, number, MANIFEST_FILE)))
        except NotFound:
            return None

    def input_spec(self, name: str, version: str | int = "") -> InputSpec:
        """From the torch manifest, else read off the ONNX graph."""
        manifest = self.manifest(name, version)
        if manifest is not None:
            return manifest.input_spec
        return onnx_input_spec(self.models.model_bytes(name, version)[1])

    def load(self, name: str, version: str | int = "") -> tuple[nn.Module, TorchManifest]:
        """Rebuild a registered torch model (eval mode); :class:`FailedPrecondition` for ONNX-only versions."""
        number = self.models.resolve_version(name, version)
        manifest = self.manifest(name, number)
        if manifest is None:
            raise FailedPrecondition(f"model {name!r} version {number} is a plain ONNX model (no torch state in the "
                                     "registry): only int8 quantisation can compress it")
        model = build_architecture(manifest.architecture, manifest.kwargs)
        state = torch.load(io.BytesIO(self.store.get_bytes(self._key(name, number, STATE_FILE))), weights_only=True)
        model.load_state_dict(state)
        return model.eval(), manifest

    def versions_with_torch(self, name: str) -> Sequence[int]:
        return [v for v in self.models.versions(name) if self.store.exists(self._key(name, v, MANIFEST_FILE))]
