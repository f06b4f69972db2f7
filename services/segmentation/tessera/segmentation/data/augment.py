"""Augmentation that turns one brain into many plausible heads (MONAI dictionary transforms).

Keys: ``"image"`` float (C, X, Y, Z), one channel per contrast, and ``"label"`` (1, X, Y, Z). One spatial
transform (``Rand3DElasticd``: random rotation, scaling, translation and a smooth elastic field, in a single
resampling pass so the image is interpolated once) moves every contrast and the label identically: bilinear
for the image, nearest for the label. Then, on the image only: a smooth multiplicative bias field
(``RandBiasFieldd``), a coarser acquisition (``RandSimulateLowResolutiond``: downsample + upsample), per-contrast
z-scoring over non-zero (brain) voxels (``NormalizeIntensityd``), and Gaussian noise (``RandGaussianNoised``).
Sizes are in mm and converted to voxels for the grid's ``spacing_mm``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from monai.transforms import (
    Compose,
    NormalizeIntensityd,
    Rand3DElasticd,
    RandBiasFieldd,
    RandGaussianNoised,
    RandSimulateLowResolutiond,
)

from tessera.core.errors import InvalidArgument


@dataclass(frozen=True)
class AugmentConfig:
    """Augmentation strengths. Angles in degrees, lengths in mm, ``scale`` and ``noise_std`` relative."""

    rotate_deg: float = 10.0
    scale: float = 0.10
    translate_mm: float = 6.0
    elastic_sigma_mm: tuple[float, float] = (8.0, 12.0)
    elastic_displacement_mm: float = 2.5
    bias_coeff: float = 0.08
    bias_prob: float = 0.8
    coarsest_mm: float = 4.0
    lowres_prob: float = 0.4
    noise_std: float = 0.08

    def __post_init__(self) -> None:
        if self.elastic_sigma_mm[0] <= 0 or self.elastic_sigma_mm[0] > self.elastic_sigma_mm[1]:
            raise InvalidArgument.field("augment.elastic_sigma_mm", f"need 0 < min <= max, got {self.elastic_sigma_mm}")
        for name in ("rotate_deg", "scale", "translate_mm", "elastic_displacement_mm", "bias_coeff", "noise_std"):
            if getattr(self, name) < 0:
                raise InvalidArgument.field(f"augment.{name}", "must not be negative")


def _elastic_magnitude(displacement_vox: float, sigma_vox: float) -> float:
    """MONAI's elastic offset is Gaussian-smoothed U(-1, 1) noise times ``magnitude``; smoothing white noise
    of s.d. 1/sqrt(3) with a 3-D Gaussian of s.d. sigma leaves s.d. (1/sqrt(3)) * (2 sqrt(pi) sigma)^(-3/2).
    The magnitude that gives an r.m.s. displacement of ``displacement_vox`` per axis is its inverse."""
    smoothed_sd = (1 / math.sqrt(3)) * (2 * math.sqrt(math.pi) * sigma_vox) ** -1.5
    return displacement_vox / smoothed_sd


def spatial_transform(spacing_mm: float, config: AugmentConfig | None = None) -> Rand3DElasticd:
    """The random affine + elastic deformation, shared by ``image`` (bilinear) and ``label`` (nearest)."""
    config = config or AugmentConfig()
    sigma = tuple(s / spacing_mm for s in config.elastic_sigma_mm)
    displacement = config.elastic_displacement_mm / spacing_mm
    magnitude = (_elastic_magnitude(displacement, sigma[0]), _elastic_magnitude(displacement, sigma[1]))
    angle = math.radians(config.rotate_deg)
    return Rand3DElasticd(
        keys=("image", "label"),
        sigma_range=(sigma[0], sigma[1]),
        magnitude_range=(min(magnitude), max(magnitude)),
        prob=1.0,
        rotate_range=(angle, angle, angle),
        scale_range=(config.scale,) * 3,
        translate_range=(config.translate_mm / spacing_mm,) * 3,
        mode=("bilinear", "nearest"),
        padding_mode="zeros",
    )


def build_augmentation(spacing_mm: float, config: AugmentConfig | None = None) -> Compose:
    """The full pipeline for a grid of ``spacing_mm``; seed it per sample with ``set_random_state(seed=...)``."""
    if spacing_mm <= 0:
        raise InvalidArgument.field("spacing_mm", f"must be positive, got {spacing_mm}")
    config = config or AugmentConfig()
    zoom_low = min(1.0, spacing_mm / config.coarsest_mm)
    transforms: list[Any] = [
        spatial_transform(spacing_mm, config),
        RandBiasFieldd(
            keys="image", degree=3, coeff_range=(-config.bias_coeff, config.bias_coeff), prob=config.bias_prob
        ),
    ]
    if zoom_low < 1.0:  # no coarser acquisition to simulate when the grid is already at the coarsest spacing
        transforms.append(RandSimulateLowResolutiond(keys="image", prob=config.lowres_prob, zoom_range=(zoom_low, 1.0)))
    transforms += [
        NormalizeIntensityd(keys="image", nonzero=True, channel_wise=True),
        RandGaussianNoised(keys="image", prob=1.0, std=config.noise_std, sample_std=True),
    ]
    return Compose(transforms)


def normalise_only() -> Compose:
    """What un-augmented samples get: per-contrast z-scoring over brain voxels, as in :func:`build_augmentation`."""
    return Compose([NormalizeIntensityd(keys="image", nonzero=True, channel_wise=True)])
