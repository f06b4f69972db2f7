"""Inference against the real Triton server of the dev stack (model repository in the S3 server).

One ONNX model gives the same outputs through ``OnnxRuntimeBackend`` (in-process) and
``TritonBackend`` (gRPC); a missing model is a ``NotFound`` naming it; a newly published version
is served after ``load``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import numpy as np
import pytest

from tessera.core.artifacts.factory import open_store
from tessera.core.errors import FailedPrecondition, InvalidArgument, NotFound, Unavailable
from tessera.core.inference import ModelRepository
from tessera.core.inference.onnxruntime_backend import OnnxRuntimeBackend
from tessera.core.inference.triton_backend import TritonBackend
from tessera.core.settings import TesseraSettings
from tessera.devstack.process import free_port
from tests.unit.test_model_config import torch_cnn_onnx


@pytest.fixture(scope="module")
def repository(stack_settings: TesseraSettings) -> ModelRepository:
    return ModelRepository(open_store(stack_settings), stack_settings.model_repository_prefix)


@pytest.fixture(scope="module")
def triton(stack_settings: TesseraSettings) -> Iterator[TritonBackend]:
    assert stack_settings.triton_url, "the dev stack sets TESSERA_TRITON_URL"
    backend = TritonBackend(stack_settings.triton_url, index_wait_s=10.0, load_timeout_s=60.0)
    yield backend
    backend.close()


@pytest.fixture(scope="module")
def cnn(repository: ModelRepository, triton: TritonBackend) -> str:
    name = f"cnn-{uuid.uuid4().hex[:8]}"
    repository.publish(name, torch_cnn_onnx())
    triton.load(name)
    return name


@pytest.mark.parametrize("batch", [1, 8])
def test_triton_matches_onnxruntime(repository: ModelRepository, triton: TritonBackend, cnn: str, batch: int) -> None:
    x = np.random.default_rng(batch).standard_normal((batch, 3, 8, 8)).astype(np.float32)
    local = OnnxRuntimeBackend(repository).infer(cnn, {"image": x})
    remote = triton.infer(cnn, {"image": x})
    assert set(remote) == {"logits"} and remote["logits"].shape == (batch, 5)
    np.testing.assert_allclose(remote["logits"], local["logits"], atol=1e-5, rtol=0)
    assert np.abs(local["logits"]).max() > 0  # a real computation, not zeros on both sides


def test_triton_reports_model_state_and_metadata(triton: TritonBackend, cnn: str) -> None:
    assert triton.server_ready() and triton.ready(cnn) and triton.ready(cnn, "1")
    meta = triton.metadata(cnn)
    assert [(t.name, t.datatype, t.shape) for t in meta.inputs] == [("image", "FP32", (-1, 3, 8, 8))]
    assert [(t.name, t.shape) for t in meta.outputs] == [("logits", (-1, 5))]


def test_missing_model_is_not_found_naming_it(triton: TritonBackend) -> None:
    x = np.zeros((1, 3, 8, 8), np.float32)
    with pytest.raises(NotFound, match="'no-such-model'"):
        triton.infer("no-such-model", {"image": x})
    quick = TritonBackend(triton.url, index_wait_s=1.0)
    with pytest.raises(NotFound, match="'no-such-model'"):
        quick.load("no-such-model")
    assert not triton.ready("no-such-model")


def test_bad_input_is_invalid_argument_naming_the_input(triton: TritonBackend, cnn: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        triton.infer(cnn, {"image": np.zeros((2, 3, 9, 9), np.float32)})
    assert info.value.violations[0].field == "inputs.image"


def test_new_version_is_served_after_load(repository: ModelRepository, triton: TritonBackend) -> None:
    name = f"versioned-{uuid.uuid4().hex[:8]}"
    repository.publish(name, torch_cnn_onnx())
    triton.load(name)
    assert triton.metadata(name).version == "1"
    published = repository.publish(name, torch_cnn_onnx())
    assert published.version == 2
    triton.load(name, "2")
    assert triton.ready(name, "2") and not triton.ready(name, "1")
    x = np.ones((2, 3, 8, 8), np.float32)
    assert triton.infer(name, {"image": x}, version="2")["logits"].shape == (2, 5)
    assert triton.metadata(name).version == "2"
    with pytest.raises(FailedPrecondition, match="older"):
        triton.load(name, "1")  # the default version policy serves only the newest


def test_unreachable_triton_is_unavailable() -> None:
    backend = TritonBackend(f"127.0.0.1:{free_port()}")
    assert not backend.server_ready()
    with pytest.raises(Unavailable, match="unreachable"):
        backend.infer("any", {"x": np.zeros(1, np.float32)})
