"""Inference: one ``InferenceBackend`` interface over Triton (gRPC) or onnxruntime (in-process),
both reading the Triton model repository layout kept in the artifact store."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tessera.core.inference.backend import InferenceBackend, ModelMetadata
from tessera.core.inference.model_config import TensorSpec, config_from_onnx, parse_config
from tessera.core.inference.repository import ModelRepository, PublishedModel

if TYPE_CHECKING:
    from tessera.core.artifacts.base import ArtifactStore
    from tessera.core.settings import TesseraSettings

__all__ = [
    "InferenceBackend",
    "ModelMetadata",
    "ModelRepository",
    "PublishedModel",
    "TensorSpec",
    "config_from_onnx",
    "open_backend",
    "parse_config",
]


def open_backend(settings: TesseraSettings, store: ArtifactStore) -> InferenceBackend:
    """``TritonBackend`` when ``TESSERA_TRITON_URL`` is set, else ``OnnxRuntimeBackend`` over ``store``."""
    if settings.triton_url:
        from tessera.core.inference.triton_backend import TritonBackend

        return TritonBackend(settings.triton_url)
    from tessera.core.inference.onnxruntime_backend import OnnxRuntimeBackend

    return OnnxRuntimeBackend(ModelRepository(store, settings.model_repository_prefix))
