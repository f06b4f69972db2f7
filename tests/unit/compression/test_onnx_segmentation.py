"""ONNX 3D segmentation compression: Dice retained by int8 and k-means weight sharing, on known labels."""

from __future__ import annotations

import io
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from torch import nn

from tessera.compression.onnx_segmentation import (
    SegmentationVolumes,
    compress_segmentation,
    dice_per_class,
    mean_dice,
    share_onnx_weights,
    unique_weight_values,
)
from tessera.compression.reports import export_onnx
from tessera.core.errors import InvalidArgument
from tests.threshold_segmenter import threshold_segmenter, threshold_volumes


def _volumes(count: int = 4, shape: tuple[int, int, int] = (6, 8, 8)) -> SegmentationVolumes:
    x, y = threshold_volumes(count, shape)
    return SegmentationVolumes(list(x), list(y))


@pytest.fixture(scope="module")
def onnx_segmenter() -> bytes:
    return export_onnx(threshold_segmenter(), torch.zeros(1, 1, 6, 8, 8))


def test_dice_per_class_and_mean_over_volumes() -> None:
    predicted = np.array([[[0, 1, 1, 2]]])
    reference = np.array([[[0, 1, 2, 2]]])
    assert dice_per_class(predicted, reference, 4).tolist()[:3] == [1.0, 2 / 3, 2 / 3]
    assert np.isnan(dice_per_class(predicted, reference, 4)[3])  # class 3 in neither map
    both = mean_dice([predicted, reference], [reference, reference], 3)
    assert both.tolist() == pytest.approx([1.0, (2 / 3 + 1) / 2, (2 / 3 + 1) / 2])


def test_int8_and_kmeans_keep_the_dice_of_the_fp32_model(onnx_segmenter: bytes) -> None:
    volumes = _volumes()
    results = compress_segmentation(onnx_segmenter, volumes, clusters=8)
    fp32, int8, kmeans = results
    assert [r.method for r in results] == ["fp32", "int8", "kmeans"]
    assert fp32.dice.min() > 0.97  # the hand-built net segments the known labels
    assert int8.dice_vs_fp32.min() > 0.9 and int8.retained(fp32) > 0.9
    assert kmeans.unique_values is not None and kmeans.unique_values <= 8
    assert fp32.unique_values is not None and fp32.unique_values > 8
    assert kmeans.dice_vs_fp32.min() > 0.9 and kmeans.retained(fp32) > 0.9
    assert b"QuantizeLinear" in int8.model and b"QuantizeLinear" not in kmeans.model
    assert kmeans.encoded_bytes < fp32.encoded_bytes / 2  # 3-bit indices instead of fp32 weights


def test_two_clusters_cost_dice(onnx_segmenter: bytes) -> None:
    """A codebook too small to hold the net's weights must show up as lost Dice (the measure can fail)."""
    volumes = _volumes(2)
    fp32, shared = compress_segmentation(onnx_segmenter, volumes, methods=["kmeans"], clusters=2)
    assert unique_weight_values(shared.model) == 2
    assert shared.retained(fp32) < 0.9


def test_volumes_from_npz_and_nifti(tmp_path: Path) -> None:
    volumes = _volumes(2)
    buffer = io.BytesIO()
    np.savez(buffer, x=np.stack(volumes.images), y=np.stack(volumes.labels))
    loaded = SegmentationVolumes.from_npz(buffer.getvalue())
    assert np.array_equal(loaded.labels[1], volumes.labels[1]) and loaded.images[0].shape == (1, 6, 8, 8)
    pairs = []
    for index, (image, label) in enumerate(zip(volumes.images, volumes.labels, strict=True)):
        image_path, label_path = tmp_path / f"img{index}.nii.gz", tmp_path / f"lab{index}.nii.gz"
        nib.save(nib.Nifti1Image(image[0], np.eye(4)), image_path)
        nib.save(nib.Nifti1Image(label.astype(np.int16), np.eye(4)), label_path)
        pairs.append((image_path, label_path))
    from_nifti = SegmentationVolumes.from_nifti(pairs)
    assert np.allclose(from_nifti.images[0], volumes.images[0])
    assert np.array_equal(from_nifti.labels[0], volumes.labels[0])


def test_bad_input_names_the_field(onnx_segmenter: bytes) -> None:
    volumes = _volumes(1)
    flat = export_onnx(nn.Sequential(nn.Conv2d(1, 2, 1)), torch.zeros(1, 1, 4, 4))
    with pytest.raises(InvalidArgument, match="model"):
        compress_segmentation(flat, volumes)
    two_channels = SegmentationVolumes([np.zeros((2, 6, 8, 8), np.float32)], [np.zeros((6, 8, 8), np.int64)])
    with pytest.raises(InvalidArgument, match=r"dataset\.x"):
        compress_segmentation(onnx_segmenter, two_channels)
    too_many = SegmentationVolumes(volumes.images, [volumes.labels[0] + 3])
    with pytest.raises(InvalidArgument, match=r"dataset\.y"):
        compress_segmentation(onnx_segmenter, too_many)
    with pytest.raises(InvalidArgument, match="method"):
        compress_segmentation(onnx_segmenter, volumes, methods=["pruning"])
    with pytest.raises(InvalidArgument, match=r"config\.clusters"):
        share_onnx_weights(onnx_segmenter, 1)
    with pytest.raises(InvalidArgument, match="dataset"):
        SegmentationVolumes([np.zeros((1, 2, 2, 2), np.float32)], [np.zeros((3, 2, 2), np.int64)])


class _WithFlags(nn.Module):
    """A second input as in the segmentation service's networks: per-contrast presence flags (N, C)."""

    def __init__(self) -> None:
        super().__init__()
        self.net = threshold_segmenter()

    def forward(self, image: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        return self.net(image * present[:, :, None, None, None])


def test_other_inputs_take_constant_values() -> None:
    buffer = io.BytesIO()
    torch.onnx.export(_WithFlags().eval(), (torch.zeros(1, 1, 6, 8, 8), torch.ones(1, 1)), buffer, dynamo=False,
                      input_names=["image", "contrast_present"], output_names=["logits"])
    volumes = _volumes(2)
    with pytest.raises(InvalidArgument, match="contrast_present"):
        compress_segmentation(buffer.getvalue(), volumes)
    fp32, int8 = compress_segmentation(buffer.getvalue(), volumes, methods=["int8"],
                                       extra_inputs={"contrast_present": np.ones((1, 1), np.float32)})
    assert fp32.dice.min() > 0.97 and int8.retained(fp32) > 0.9
