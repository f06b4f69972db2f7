"""``TritonBackend``: models served by a Triton Inference Server, over tritonclient gRPC.

Triton runs with ``--model-control-mode=explicit``: nothing is served until :meth:`load` asks
for it. The flow after :meth:`ModelRepository.publish` is ``backend.load(name)`` -> Triton
(re)reads ``<name>/`` from its repository and serves the versions its version policy selects
(the newest by default) -> :meth:`infer`. Only the standard gRPC API is used, so this talks to
a production ``tritonserver`` reading ``s3://`` just as to the local dev server.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping

import numpy as np
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

from tessera.core.errors import FailedPrecondition, InvalidArgument, NotFound, TesseraError, Unavailable
from tessera.core.inference.backend import InferenceBackend, ModelMetadata, check_inputs
from tessera.core.inference.model_config import TensorSpec
from tessera.core.inference.repository import parse_version, validate_model_name

POLL_S = 0.25  # between repository-index / readiness checks while loading


class TritonBackend(InferenceBackend):
    """A Triton server at ``url`` (``host:port`` of its gRPC endpoint).

    ``index_wait_s``: how long :meth:`load` waits for a model to appear in Triton's repository
    index (a repository synced with a delay, as the dev server's is) before :class:`NotFound`.
    ``load_timeout_s``: how long a load may take in all. ``timeout_s``: per inference call.
    """

    def __init__(self, url: str, *, timeout_s: float = 60.0, load_timeout_s: float = 120.0, index_wait_s: float = 5.0):
        self.url = url
        self.timeout_s = timeout_s
        self.load_timeout_s = load_timeout_s
        self.index_wait_s = index_wait_s
        self.client = grpcclient.InferenceServerClient(url)
        self._meta: dict[tuple[str, str], ModelMetadata] = {}
        self._lock = threading.Lock()

    # ----------------------------------------------------------------- errors

    def _error(self, exc: InferenceServerException, model: str = "", version: str = "") -> TesseraError:
        """Map a tritonclient error to the domain error, naming the model and the server."""
        status, message = str(exc.status() or ""), str(exc.message() or exc)
        what = f"model {model!r}" + (f" version {version}" if version else "") if model else "request"
        lowered = message.lower()
        if "failed to connect" in lowered or "connection refused" in lowered or "deadline" in status.lower() or (
            status.endswith("UNAVAILABLE") and "model" not in lowered
        ):
            return Unavailable(f"Triton at {self.url} unreachable for {what}: {message}")
        if "unknown model" in lowered or "not found" in lowered or status.endswith("NOT_FOUND"):
            return NotFound(f"{what} is not served by Triton at {self.url} (publish it, then load it): {message}")
        if status.endswith("UNAVAILABLE"):
            return FailedPrecondition(f"{what} is not ready on Triton at {self.url}: {message}")
        if status.endswith("INVALID_ARGUMENT"):
            return InvalidArgument.field("inputs", f"Triton rejected the request for {what}: {message}")
        return TesseraError(f"Triton at {self.url} failed for {what}: {status} {message}")

    # ----------------------------------------------------------------- server and model state

    def server_ready(self) -> bool:
        try:
            return bool(self.client.is_server_ready(client_timeout=5.0))
        except InferenceServerException:
            return False

    def _index(self) -> dict[str, dict[str, str]]:
        """Triton's repository index: model -> {version: state} (versions only once loaded)."""
        try:
            index = self.client.get_model_repository_index()
        except InferenceServerException as exc:
            raise self._error(exc) from None
        models: dict[str, dict[str, str]] = {}
        for entry in index.models:
            versions = models.setdefault(entry.name, {})
            if entry.version:
                versions[entry.version] = entry.state
        return models

    def ready(self, model: str, version: str = "") -> bool:
        validate_model_name(model)
        try:
            return bool(self.client.is_model_ready(model, version, client_timeout=5.0))
        except InferenceServerException as exc:
            error = self._error(exc, model, version)
            if isinstance(error, Unavailable):
                raise error from None
            return False

    def load(self, model: str, version: str = "") -> None:
        """Load ``model`` and block until ``version`` (default: whatever Triton serves) is ready.

        Raises :class:`NotFound` when the model never shows in Triton's repository index or the
        requested version never appears, :class:`FailedPrecondition` when the version exists but
        Triton's version policy does not serve it (an older version), or the load fails.
        """
        validate_model_name(model)
        wanted = str(parse_version(version)) if version else ""
        start = time.monotonic()
        while model not in self._index():
            if time.monotonic() - start > self.index_wait_s:
                raise NotFound(f"model {model!r} is not in the model repository of Triton at {self.url}")
            time.sleep(POLL_S)
        last_error = ""
        while True:
            with self._lock:
                self._meta = {k: v for k, v in self._meta.items() if k[0] != model}
            try:
                self.client.load_model(model, client_timeout=self.load_timeout_s)
                last_error = ""
            except InferenceServerException as exc:
                error = self._error(exc, model, wanted)
                if isinstance(error, Unavailable):
                    raise error from None
                last_error = str(error)  # e.g. a version directory still being written: retry
            if not last_error:
                served = [int(v) for v, state in self._index().get(model, {}).items() if state == "READY"]
                if not wanted and served:
                    return
                if wanted and int(wanted) in served:
                    return
                if wanted and served and int(wanted) < max(served):
                    raise FailedPrecondition(
                        f"model {model!r} version {wanted} is older than the versions Triton at {self.url} serves"
                        f" ({sorted(served)}); its version policy serves only the newest"
                    )
            if time.monotonic() - start > self.load_timeout_s:
                if last_error:
                    raise FailedPrecondition(f"loading model {model!r} on Triton at {self.url} failed: {last_error}")
                raise NotFound(f"model {model!r} version {wanted or '(newest)'} did not become ready on Triton at"
                               f" {self.url} within {self.load_timeout_s:.0f}s")
            time.sleep(POLL_S)

    def unload(self, model: str) -> None:
        validate_model_name(model)
        with self._lock:
            self._meta = {k: v for k, v in self._meta.items() if k[0] != model}
        try:
            self.client.unload_model(model, client_timeout=self.load_timeout_s)
        except InferenceServerException as exc:
            error = self._error(exc, model)
            if not isinstance(error, NotFound):
                raise error from None

    def metadata(self, model: str, version: str = "") -> ModelMetadata:
        validate_model_name(model)
        if version:
            version = str(parse_version(version))
        with self._lock:
            cached = self._meta.get((model, version))
        if cached is not None:
            return cached
        try:
            response = self.client.get_model_metadata(model, version, client_timeout=self.timeout_s)
        except InferenceServerException as exc:
            raise self._error(exc, model, version) from None

        def specs(tensors: object) -> tuple[TensorSpec, ...]:
            return tuple(TensorSpec(t.name, t.datatype, tuple(int(d) for d in t.shape)) for t in tensors)  # type: ignore[attr-defined]

        served = max(response.versions, key=int) if response.versions else version
        meta = ModelMetadata(response.name, version or served, response.platform,
                             specs(response.inputs), specs(response.outputs))
        with self._lock:
            self._meta[(model, version)] = meta
        return meta

    # ----------------------------------------------------------------- inference

    def infer(self, model: str, inputs: Mapping[str, np.ndarray], version: str = "") -> dict[str, np.ndarray]:
        meta = self.metadata(model, version)
        arrays = check_inputs(meta, inputs)
        request = []
        for spec in meta.inputs:
            tensor = grpcclient.InferInput(spec.name, list(arrays[spec.name].shape), spec.datatype)
            tensor.set_data_from_numpy(arrays[spec.name])
            request.append(tensor)
        outputs = [grpcclient.InferRequestedOutput(spec.name) for spec in meta.outputs]
        try:
            result = self.client.infer(
                model, request, model_version=meta.version if version else "", outputs=outputs,
                client_timeout=self.timeout_s,
            )
        except InferenceServerException as exc:
            with self._lock:
                self._meta.pop((model, version), None)  # the model may have been reloaded with new tensors
            raise self._error(exc, model, version) from None
        return {spec.name: np.asarray(result.as_numpy(spec.name)) for spec in meta.outputs}

    def close(self) -> None:
        self.client.close()
