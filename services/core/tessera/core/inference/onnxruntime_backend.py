"""``OnnxRuntimeBackend``: models of the repository run in this process by onnxruntime.

The embedded default when no Triton is configured. Sessions use the CUDA execution provider
when onnxruntime has it and a GPU is present, else the CPU provider. ``load`` is optional here:
the first ``infer`` of a model loads its newest version (Triton, by contrast, needs ``load``).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence

import numpy as np
import onnxruntime as ort

from tessera.core.inference.backend import InferenceBackend, ModelMetadata, check_inputs
from tessera.core.inference.model_config import PLATFORM_ONNX, onnx_signature
from tessera.core.inference.repository import ModelRepository, parse_version, validate_model_name


def default_providers() -> list[str]:
    """CUDA first when onnxruntime was built with it, CPU always (onnxruntime falls back per node)."""
    available = ort.get_available_providers()
    return [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]


class _Loaded:
    def __init__(self, session: ort.InferenceSession, meta: ModelMetadata):
        self.session = session
        self.meta = meta
        self.output_names = [spec.name for spec in meta.outputs]


class OnnxRuntimeBackend(InferenceBackend):
    """In-process inference over ``repository``; thread-safe (onnxruntime sessions allow concurrent ``run``)."""

    def __init__(self, repository: ModelRepository, providers: Sequence[str] | None = None, intra_op_threads: int = 0):
        self.repository = repository
        self.providers = list(providers) if providers is not None else default_providers()
        self.intra_op_threads = intra_op_threads  # 0: onnxruntime's default (one per core)
        self._sessions: dict[tuple[str, int], _Loaded] = {}
        self._default: dict[str, int] = {}  # model -> version served for version=""
        self._lock = threading.Lock()

    def load(self, model: str, version: str = "") -> None:
        validate_model_name(model)
        number = self.repository.resolve_version(model, version)
        self._session(model, number)
        if not version:
            with self._lock:
                self._default[model] = number

    def _session(self, model: str, number: int) -> _Loaded:
        with self._lock:
            loaded = self._sessions.get((model, number))
        if loaded is not None:
            return loaded
        _, onnx_bytes = self.repository.model_bytes(model, number)
        options = ort.SessionOptions()
        if self.intra_op_threads:
            options.intra_op_num_threads = self.intra_op_threads
        session = ort.InferenceSession(onnx_bytes, sess_options=options, providers=self.providers)
        # Specs of this version's own graph (the config follows the newest version only).
        inputs, outputs = onnx_signature(onnx_bytes)
        meta = ModelMetadata(model, str(number), PLATFORM_ONNX, tuple(inputs), tuple(outputs))
        loaded = _Loaded(session, meta)
        with self._lock:
            return self._sessions.setdefault((model, number), loaded)

    def _resolve(self, model: str, version: str) -> int:
        validate_model_name(model)
        if version:
            return parse_version(version)
        with self._lock:
            number = self._default.get(model)
        if number is None:
            self.load(model)
            with self._lock:
                number = self._default[model]
        return number

    def unload(self, model: str) -> None:
        with self._lock:
            for key in [k for k in self._sessions if k[0] == model]:
                del self._sessions[key]
            self._default.pop(model, None)

    def ready(self, model: str, version: str = "") -> bool:
        with self._lock:
            if version:
                return (model, parse_version(version)) in self._sessions
            return model in self._default

    def metadata(self, model: str, version: str = "") -> ModelMetadata:
        return self._session(model, self._resolve(model, version)).meta

    def infer(self, model: str, inputs: Mapping[str, np.ndarray], version: str = "") -> dict[str, np.ndarray]:
        loaded = self._session(model, self._resolve(model, version))
        feeds = check_inputs(loaded.meta, inputs)
        results = loaded.session.run(loaded.output_names, feeds)
        return dict(zip(loaded.output_names, (np.asarray(r) for r in results), strict=True))

    def close(self) -> None:
        with self._lock:
            self._sessions.clear()
            self._default.clear()
