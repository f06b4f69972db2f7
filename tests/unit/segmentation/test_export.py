"""ONNX export of the stages (dynamic N, D, H, W) against PyTorch; OnnxCascade against the PyTorch cascade."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from tessera.core.artifacts.local import LocalArtifactStore
from tessera.core.errors import InvalidArgument
from tessera.core.inference.onnxruntime_backend import OnnxRuntimeBackend
from tessera.core.inference.repository import ModelRepository
from tessera.segmentation.cascade import CascadeConfig, SegmentationCascade, TorchStage
from tessera.segmentation.export import (
    BackendStage,
    OnnxCascade,
    OnnxStage,
    check_export,
    export_cascade,
    export_stage,
)
from tessera.segmentation.networks import MultiContrastUNet3D, UNetConfig


class Threshold(nn.Module):
    """Two-class logits: foreground where contrast 0 (times its presence) exceeds ``threshold``."""

    def __init__(self, threshold: float):
        super().__init__()
        self.threshold = threshold

    def forward(self, x: torch.Tensor, contrast_present: torch.Tensor | None = None) -> torch.Tensor:
        t1 = x[:, :1] if contrast_present is None else x[:, :1] * contrast_present[:, :1, None, None, None]
        fg = 50.0 * (t1 - self.threshold)
        return torch.cat([torch.zeros_like(fg), fg], dim=1)


def _net(seed: int, contrasts: int = 2, classes: int = 2, norm: str = "instance") -> MultiContrastUNet3D:
    torch.manual_seed(seed)
    net = MultiContrastUNet3D(UNetConfig(in_contrasts=contrasts, num_classes=classes, depth=2, base_width=4,
                                         norm=norm))  # type: ignore[arg-type]
    net.train()
    with torch.no_grad():  # non-zero running means, so the "missing" fill is exercised
        net(torch.randn(2, contrasts, 12, 12, 12))
    return net.eval()


@pytest.mark.parametrize("norm", ["instance", "group", "batch"])
def test_onnx_matches_pytorch_at_two_sizes(norm: str) -> None:
    net = _net(0, contrasts=2, classes=3, norm=norm)
    data = export_stage(net)
    model = onnx.load_from_string(data)
    dims = [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", 2, "depth", "height", "width"]
    check = check_export(net, data, sizes=((16, 16, 16), (19, 24, 13)), batch=2)
    assert list(check.max_abs_diff) == [(2, 2, 16, 16, 16), (2, 2, 19, 24, 13)]
    assert check.worst < 1e-4
    assert net.training is False


def test_export_cascade_writes_both_stages(tmp_path: Path) -> None:
    report = export_cascade(_net(1), _net(2), tmp_path / "onnx")
    assert report.stage1_path.is_file() and report.stage2_path.is_file()
    assert report.stage1_check.worst < 1e-4 and report.stage2_check.worst < 1e-4
    with pytest.raises(InvalidArgument, match="contrasts"):
        export_cascade(_net(1, contrasts=1), _net(2), tmp_path / "bad")


def _volume() -> tuple[np.ndarray, np.ndarray]:
    grid = np.indices((32, 32, 32))
    truth = sum((g - c) ** 2 for g, c in zip(grid, (10, 18, 20), strict=True)) <= 16
    rng = np.random.default_rng(3)
    t1 = truth + rng.normal(0, 0.02, truth.shape)
    t2 = rng.normal(0, 1, truth.shape)
    return np.stack([t1, t2]).astype(np.float32), truth


CONFIG = CascadeConfig(coarse_spacing_mm=4.0, margin_mm=6.0, roi_size=(16, 16, 16))


def _assert_same(a: np.ndarray, b: np.ndarray, probs_a: np.ndarray, probs_b: np.ndarray) -> None:
    np.testing.assert_allclose(probs_a, probs_b, atol=1e-4)
    top2 = np.sort(probs_a, axis=0)[-2:]
    clear = (top2[1] - top2[0]) > 1e-3  # labels may differ only where two classes tie
    np.testing.assert_array_equal(a[clear], b[clear])


def test_onnx_cascade_equals_pytorch_cascade(tmp_path: Path) -> None:
    stage1, stage2 = Threshold(0.2), _net(4)
    stage1_bytes = export_stage(stage1, in_contrasts=2)
    stage2_path = tmp_path / "stage2.onnx"
    export_stage(stage2, stage2_path)
    volume, truth = _volume()
    for missing in ((), (1,)):
        torch_result = SegmentationCascade(TorchStage(stage1, missing), TorchStage(stage2, missing), CONFIG)(
            volume, (1.0, 1.0, 1.0))
        onnx_result = OnnxCascade(stage1_bytes, stage2_path, CONFIG, missing_contrasts=missing)(volume, (1.0, 1.0, 1.0))
        assert torch_result.candidate_mask[truth].all() and torch_result.stage2_fraction < 0.5
        np.testing.assert_array_equal(torch_result.candidate_mask, onnx_result.candidate_mask)
        assert torch_result.boxes == onnx_result.boxes
        assert torch_result.stage2_fraction == onnx_result.stage2_fraction
        _assert_same(torch_result.labels, onnx_result.labels, torch_result.probabilities, onnx_result.probabilities)
    # The missing contrast really changes stage 2's answer (its branch is filled, not read).
    full = OnnxStage(stage2_path)(volume[None])
    without_t2 = OnnxStage(stage2_path, missing_contrasts={1})(volume[None])
    assert np.abs(full - without_t2).max() > 1e-3


def test_backend_stage_serves_the_cascade_through_tessera_core(tmp_path: Path) -> None:
    stage1, stage2 = Threshold(0.2), _net(5)
    repository = ModelRepository(LocalArtifactStore(tmp_path / "store"), "models")
    repository.publish("seg_stage1", export_stage(stage1, in_contrasts=2))
    repository.publish("seg_stage2", export_stage(stage2))
    volume, _ = _volume()
    with OnnxRuntimeBackend(repository) as backend:
        served = OnnxCascade(BackendStage(backend, "seg_stage1"), BackendStage(backend, "seg_stage2"), CONFIG)
        result = served(volume, (1.0, 1.0, 1.0))
    reference = SegmentationCascade(stage1_torch := TorchStage(stage1), TorchStage(stage2), CONFIG)(
        volume, (1.0, 1.0, 1.0))
    assert stage1_torch.missing_contrasts == frozenset()
    _assert_same(reference.labels, result.labels, reference.probabilities, result.probabilities)


def test_onnx_stage_rejects_a_graph_without_the_stage_inputs_and_bad_contrasts(tmp_path: Path) -> None:
    path = tmp_path / "plain.onnx"
    torch.onnx.export(nn.Conv3d(1, 2, 1), (torch.zeros(1, 1, 4, 4, 4),), str(path), dynamo=False,
                      input_names=["x"], output_names=["y"])
    with pytest.raises(InvalidArgument, match="inputs"):
        OnnxStage(path)
    stage = OnnxStage(export_stage(_net(6)), missing_contrasts={3})
    with pytest.raises(InvalidArgument, match="missing_contrasts"):
        stage(np.zeros((1, 2, 8, 8, 8), dtype=np.float32))
    with pytest.raises(InvalidArgument, match="in_contrasts"):
        export_stage(Threshold(0.5))
