"""SegmentationCascade on synthetic volumes with known blobs; stages are thresholding modules (no training)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from tessera.core.errors import InvalidArgument
from tessera.segmentation.cascade import CascadeConfig, SegmentationCascade, TorchStage, coarse_shape, dilate_mm
from tessera.segmentation.networks import MultiContrastUNet3D, UNetConfig


class Threshold(nn.Module):
    """Two-class logits: foreground where contrast 0 exceeds ``threshold`` (steepness ``gain``)."""

    def __init__(self, threshold: float, gain: float = 50.0):
        super().__init__()
        self.threshold = threshold
        self.gain = gain

    def forward(self, x: torch.Tensor, contrast_present: torch.Tensor | None = None) -> torch.Tensor:
        fg = self.gain * (x[:, :1] - self.threshold)
        return torch.cat([torch.zeros_like(fg), fg], dim=1)


def blob_volume(shape: tuple[int, int, int], centres: list[tuple[int, int, int]], radius: float,
                seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(1, D, H, W) intensities (1 in the balls, small noise elsewhere) and the (D, H, W) bool truth."""
    grid = np.indices(shape)
    truth = np.zeros(shape, dtype=bool)
    for c in centres:
        truth |= sum((g - ci) ** 2 for g, ci in zip(grid, c, strict=True)) <= radius**2
    noise = np.random.default_rng(seed).normal(0, 0.02, shape)
    return (truth + noise).astype(np.float32)[None], truth


CONFIG = CascadeConfig(coarse_spacing_mm=4.0, margin_mm=6.0, candidate_threshold=0.5, roi_size=(16, 16, 16))


def test_cascade_finds_a_small_blob_and_classifies_only_its_region() -> None:
    volume, truth = blob_volume((40, 40, 40), [(12, 26, 20)], radius=4)
    # Stage 1 on the 4 mm grid sees the blob averaged down: a low threshold catches it.
    cascade = SegmentationCascade(Threshold(0.2), Threshold(0.5), CONFIG)
    result = cascade(volume, (1.0, 1.0, 1.0))
    assert result.candidate_mask[truth].all()  # the candidate region covers the blob
    assert 0 < result.stage2_fraction < 0.1
    assert result.stage2_fraction <= result.stage2_box_fraction < 1
    assert len(result.boxes) == 1
    assert (result.labels[~result.candidate_mask] == 0).all()
    np.testing.assert_array_equal(result.probabilities[0][~result.candidate_mask], 1.0)
    np.testing.assert_array_equal(result.labels == 1, truth)  # stage 2 at full res recovers the ball exactly
    np.testing.assert_allclose(result.probabilities.sum(axis=0), 1.0, atol=1e-5)
    assert result.labels.shape == truth.shape and result.probabilities.shape == (2, *truth.shape)
    assert set(result.timings_s) == {"stage1", "candidate", "stage2", "total"}
    # Stage 1 alone is coarse: it does not reproduce the ball voxel for voxel.
    assert (result.stage1_labels.astype(bool) != truth).any()


def test_two_blobs_give_two_components_each_with_its_own_box() -> None:
    volume, truth = blob_volume((48, 40, 32), [(10, 10, 8), (36, 30, 24)], radius=3, seed=1)
    result = SegmentationCascade(Threshold(0.15), Threshold(0.5), CONFIG)(volume, (1.0, 1.0, 1.0))
    assert len(result.boxes) == 2
    assert result.candidate_mask[truth].all()
    np.testing.assert_array_equal(result.labels == 1, truth)
    assert result.stage2_fraction < 0.2


def test_real_network_as_stage2_leaves_everything_outside_the_candidate_background() -> None:
    torch.manual_seed(0)
    volume, truth = blob_volume((32, 32, 32), [(16, 16, 16)], radius=3)
    net = MultiContrastUNet3D(UNetConfig(in_contrasts=1, num_classes=3, depth=2, base_width=2))
    stage1 = TorchStage(Threshold(0.15))

    def three_classes(image: np.ndarray) -> np.ndarray:
        # Stage 1 must give the same 3 classes as stage 2: background, blob, a class it never predicts.
        two = stage1(image)
        return np.concatenate([two, np.full_like(two[:, :1], -100.0)], axis=1)

    result = SegmentationCascade(three_classes, net, CONFIG)(volume, (1.0, 1.0, 1.0))
    outside = ~result.candidate_mask
    assert result.candidate_mask[truth].all() and outside.any()
    assert (result.labels[outside] == 0).all()
    inside = result.probabilities[:, result.candidate_mask]
    assert (inside[1:] > 0).all()  # stage 2's softmax, not one-hot, inside the region


def test_nothing_found_means_all_background() -> None:
    volume = np.zeros((1, 24, 24, 24), dtype=np.float32)
    result = SegmentationCascade(Threshold(0.5), Threshold(0.5), CONFIG)(volume, (1.0, 1.0, 1.0))
    assert result.stage2_fraction == 0 and result.boxes == []
    assert (result.labels == 0).all()


def test_stage1_runs_on_the_coarse_grid_with_anisotropic_spacing() -> None:
    seen: list[tuple[int, ...]] = []

    def recording(image: np.ndarray) -> np.ndarray:
        seen.append(image.shape)
        return TorchStage(Threshold(0.2))(image)

    volume, _ = blob_volume((40, 40, 20), [(20, 20, 10)], radius=4)
    SegmentationCascade(recording, Threshold(0.5), CONFIG)(volume[0], (1.0, 1.0, 2.0))  # (D, H, W) input
    assert seen == [(1, 1, 10, 10, 10)]
    assert coarse_shape((181, 217, 181), (1.0, 1.0, 1.0), 4.0) == (45, 54, 45)


def test_dilation_is_in_millimetres() -> None:
    mask = np.zeros((21, 21, 21), dtype=bool)
    mask[10, 10, 10] = True
    grown = dilate_mm(mask, 4.0, (1.0, 2.0, 4.0))
    assert grown[6, 10, 10] and not grown[5, 10, 10]
    assert grown[10, 8, 10] and not grown[10, 7, 10]
    assert grown[10, 10, 9] and not grown[10, 10, 8]


def test_stage1_sliding_window_matches_whole_volume_for_a_local_stage() -> None:
    volume, _ = blob_volume((48, 48, 48), [(20, 24, 28)], radius=4)
    whole = SegmentationCascade(Threshold(0.2), Threshold(0.5), CONFIG)(volume, (1.0, 1.0, 1.0))
    windowed_config = CascadeConfig(coarse_spacing_mm=4.0, margin_mm=6.0, roi_size=(16, 16, 16),
                                    stage1_roi_size=(8, 8, 8))
    windowed = SegmentationCascade(Threshold(0.2), Threshold(0.5), windowed_config)(volume, (1.0, 1.0, 1.0))
    np.testing.assert_array_equal(whole.labels, windowed.labels)


def test_bad_input_raises_invalid_argument() -> None:
    cascade = SegmentationCascade(Threshold(0.5), Threshold(0.5), CONFIG)
    bad = np.zeros((1, 8, 8, 8), dtype=np.float32)
    bad[0, 1, 1, 1] = np.nan
    with pytest.raises(InvalidArgument, match="non-finite"):
        cascade(bad, (1.0, 1.0, 1.0))
    with pytest.raises(InvalidArgument, match="spacing_mm"):
        cascade(np.zeros((8, 8, 8), dtype=np.float32), (1.0, 0.0, 1.0))
    with pytest.raises(InvalidArgument, match="volume"):
        cascade(np.zeros((8, 8), dtype=np.float32), (1.0, 1.0, 1.0))
    with pytest.raises(InvalidArgument, match="overlap"):
        CascadeConfig(overlap=1.0)
