"""The model registry: torch state + architecture beside the ONNX version, rebuilt exactly."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tessera.compression.models import ResNetCNN
from tessera.compression.registry import InputSpec, ModelRegistry, onnx_input_spec
from tessera.compression.reports import export_onnx
from tessera.core.artifacts.local import LocalArtifactStore
from tessera.core.errors import FailedPrecondition, InvalidArgument
from tessera.core.inference import ModelRepository
from tessera.core.inference.onnxruntime_backend import OnnxRuntimeBackend

KWARGS = {"widths": [4, 8], "num_classes": 3}


@pytest.fixture
def registry(tmp_path: Path) -> ModelRegistry:
    return ModelRegistry(ModelRepository(LocalArtifactStore(tmp_path), "models"))


def _model(seed: int = 0) -> ResNetCNN:
    torch.manual_seed(seed)
    return ResNetCNN(**KWARGS).eval()  # type: ignore[arg-type]


def test_register_then_load_rebuilds_the_model_and_its_onnx(registry: ModelRegistry) -> None:
    model = _model()
    first = registry.register("cnn", model, "resnet_cnn", KWARGS, InputSpec((1, 28, 28), 3), metrics={"accuracy": 0.5})
    second = registry.register("cnn", _model(1), "resnet_cnn", KWARGS, InputSpec((1, 28, 28), 3))
    assert (first.version, second.version) == (1, 2)
    assert registry.models.versions("cnn") == [1, 2]  # the torch files are not versions
    rebuilt, manifest = registry.load("cnn", 1)
    assert manifest.architecture == "resnet_cnn" and manifest.metrics == {"accuracy": 0.5}
    assert manifest.input_spec == InputSpec((1, 28, 28), 3)
    batch = torch.randn(4, 1, 28, 28)
    with torch.no_grad():
        expected = model(batch)
        torch.testing.assert_close(rebuilt(batch), expected)
    served = OnnxRuntimeBackend(registry.models).infer("cnn", {"input": batch.numpy()}, "1")["output"]
    torch.testing.assert_close(torch.from_numpy(served), expected, rtol=1e-4, atol=1e-5)
    assert registry.load("cnn")[0].state_dict()["fc.weight"].equal(_model(1).state_dict()["fc.weight"])


def test_plain_onnx_models_have_no_torch_state(registry: ModelRegistry) -> None:
    registry.register_onnx("plain", export_onnx(_model(), torch.zeros(1, 1, 28, 28)))
    assert registry.manifest("plain") is None
    assert registry.input_spec("plain") == InputSpec((1, 28, 28), 3)
    with pytest.raises(FailedPrecondition, match="plain ONNX model"):
        registry.load("plain")


def test_bad_registrations_name_the_field(registry: ModelRegistry) -> None:
    with pytest.raises(InvalidArgument) as err:
        registry.register("cnn", _model(), "resnet", KWARGS, InputSpec((1, 28, 28), 3))
    assert err.value.violations[0].field == "architecture" and "resnet_cnn" in err.value.violations[0].description
    with pytest.raises(InvalidArgument) as err:  # the state does not fit the declared kwargs
        registry.register("cnn", _model(), "resnet_cnn", {"widths": [4, 16], "num_classes": 3}, InputSpec((1, 28, 28)))
    assert err.value.violations[0].field == "architecture"
    with pytest.raises(InvalidArgument) as err:
        registry.register("cnn", _model(), "resnet_cnn", {"depth": 3}, InputSpec((1, 28, 28)))
    assert err.value.violations[0].field == "architecture.kwargs"
    with pytest.raises(InvalidArgument) as err:
        registry.register("bad/name", _model(), "resnet_cnn", KWARGS, InputSpec((1, 28, 28)))
    assert err.value.violations[0].field == "name"
    assert registry.models.names() == []


def test_onnx_input_spec_reads_the_graph() -> None:
    spec = onnx_input_spec(export_onnx(_model(), torch.zeros(1, 1, 28, 28)))
    assert spec.shape == (1, 28, 28) and spec.num_classes == 3 and spec.dtype == "float32"
