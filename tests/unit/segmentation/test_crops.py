"""Class-balanced crops (tessera.segmentation.data.crops) on a volume with one tiny class at a known place."""

from __future__ import annotations

import pytest
import torch

from tessera.core.errors import InvalidArgument
from tessera.segmentation.data.crops import ClassBalancedCrops, focus_ratios
from tessera.segmentation.trainer import CascadeTrainSpec

SHAPE = (48, 40, 36)
ROI = (16, 16, 16)


def _volume() -> dict[str, torch.Tensor]:
    label = torch.zeros(1, *SHAPE, dtype=torch.long)
    label[0, 8:40, 8:32, 8:28] = 1  # the "brain"
    label[0, 36:38, 9:11, 25:27] = 2  # one tiny lesion (8 voxels) near a corner of the brain
    image = torch.randn(3, *SHAPE, generator=torch.Generator().manual_seed(0))
    return {"image": image, "label": label}


def _share_with_lesion(ratios: tuple[float, ...], n: int = 60) -> float:
    crops = ClassBalancedCrops([_volume()], ROI, ratios, seed=3)
    return sum(bool((crops[0]["label"] == 2).any()) for _ in range(n)) / n


def test_crops_have_the_window_shape_and_keep_image_and_label_aligned() -> None:
    volume = _volume()
    crops = ClassBalancedCrops([volume], ROI, (0, 0, 1), seed=0)
    item = crops[0]
    assert item["image"].shape == (3, *ROI) and item["label"].shape == (1, *ROI)
    assert item["label"].dtype == torch.long and len(crops) == 1
    # Locate the crop by its lesion and check the image came from the same place.
    full = volume["image"]
    hits = [(x, y, z) for x in range(SHAPE[0] - ROI[0] + 1) for y in range(SHAPE[1] - ROI[1] + 1)
            for z in range(SHAPE[2] - ROI[2] + 1)
            if torch.equal(full[:, x:x + 16, y:y + 16, z:z + 16], item["image"])]
    assert len(hits) == 1
    x, y, z = hits[0]
    assert torch.equal(volume["label"][:, x:x + 16, y:y + 16, z:z + 16], item["label"])


def test_ratios_steer_the_crop_centres_towards_the_small_class() -> None:
    focused = _share_with_lesion((0, 0, 1))
    uniform = _share_with_lesion((1, 1, 0))
    assert focused == 1.0
    assert uniform < 0.5


def test_same_seed_same_crops() -> None:
    a = ClassBalancedCrops([_volume()], ROI, (1, 1, 1), seed=7)
    b = ClassBalancedCrops([_volume()], ROI, (1, 1, 1), seed=7)
    assert all(torch.equal(a[0]["image"], b[0]["image"]) for _ in range(5))


def test_a_sample_without_the_favoured_class_still_yields_a_crop() -> None:
    volume = _volume()
    volume["label"][volume["label"] == 2] = 1
    item = ClassBalancedCrops([volume], ROI, (0, 0, 1), seed=0)[0]
    assert item["label"].shape == (1, *ROI)


def test_volumes_smaller_than_the_window_are_padded_with_background() -> None:
    item = ClassBalancedCrops([_volume()], (64, 16, 16), (0, 0, 1), seed=0)[0]
    assert item["image"].shape == (3, 64, 16, 16)
    assert int((item["label"] == 2).sum()) == 8  # the whole lesion, the volume's 48 x-voxels centred in 64


def test_bad_settings_are_refused() -> None:
    with pytest.raises(InvalidArgument, match="roi"):
        ClassBalancedCrops([_volume()], (16, 16), (1, 1))
    with pytest.raises(InvalidArgument, match="ratios"):
        ClassBalancedCrops([_volume()], ROI, (0, 0))


def test_focus_ratios_split_the_share_between_focus_and_the_rest() -> None:
    assert focus_ratios(5, [4], 0.5) == pytest.approx((0.125, 0.125, 0.125, 0.125, 0.5))
    ratios = focus_ratios(7, range(1, 7), 0.6)
    assert ratios[0] == pytest.approx(0.4) and ratios[1:] == pytest.approx((0.1,) * 6)
    assert sum(focus_ratios(3, [1, 2], 0.9)) == pytest.approx(1.0)
    with pytest.raises(InvalidArgument, match="focus"):
        focus_ratios(3, [3], 0.5)
    with pytest.raises(InvalidArgument, match="share"):
        focus_ratios(3, [1], 1.5)


def test_cascade_train_spec_names_a_bad_stage2_setting() -> None:
    with pytest.raises(InvalidArgument, match="stage2_focus"):
        CascadeTrainSpec(stage2_focus=1.5)
    with pytest.raises(InvalidArgument, match="stage2_steps_factor"):
        CascadeTrainSpec(stage2_steps_factor=0)
    assert CascadeTrainSpec().stage2_steps_factor == 3
