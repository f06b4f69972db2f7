"""``SyntheticBrainDataset``: endless, reproducible multi-contrast brain MRI samples with ground truth.

One sample = pick a real brain (``templates.py``) at ``spacing_mm`` -> place synthetic lesions (tissue task)
-> labels -> synthetic T1w/T2w/FLAIR (``contrasts.py``) -> augmentation (``augment.py``) -> centre crop/pad
to ``size``. Every random draw comes from one generator seeded by ``(seed, sample_seed)`` where
``sample_seed = SPLIT_SEED_BASE[split] + index``: the same (split, index, seed) always gives the same
sample, and the two splits never share a sample seed (train: [0, 2^30), test: [2^30, 2^31)).

Held out for the test split: its sample seeds (so its deformations, contrasts, bias, noise and lesion sizes),
and its lesion centres, which lie in the other colour of a 12 mm world-space checkerboard (``lesions.py``).
The brains themselves are shared (only two real ones install offline); augmentation makes each a different head.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from tessera.core.errors import InvalidArgument
from tessera.segmentation.data.augment import AugmentConfig, build_augmentation, normalise_only
from tessera.segmentation.data.contrasts import CONTRASTS, check_contrasts, synthesize
from tessera.segmentation.data.labels import LabelSet, label_set, tissue_labels
from tessera.segmentation.data.lesions import Lesion, LesionConfig, centre_region, check_split, place_lesions
from tessera.segmentation.data.templates import TEMPLATE_NAMES, load_template

SPLIT_SEED_BASE = {"train": 0, "test": 2**30}
MAX_SAMPLES = 2**30
DEFAULT_TEMPLATES = {"tissue": TEMPLATE_NAMES, "deep": ("colin27",)}  # only Colin27 carries its own AAL atlas


@dataclass(frozen=True)
class SyntheticSample:
    """One sample with its provenance. ``image`` float32 (C, X, Y, Z), z-scored per contrast over the brain;
    ``label`` int64 (1, X, Y, Z); ``affine`` voxel -> MNI mm of the (un-deformed) sample grid; ``lesions``
    placed before augmentation (centres in template voxels/mm)."""

    image: torch.Tensor
    label: torch.Tensor
    seed: int
    template: str
    affine: np.ndarray
    lesions: tuple[Lesion, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"image": self.image, "label": self.label, "seed": self.seed}


class SyntheticBrainDataset(Dataset[dict[str, Any]]):
    """``n`` samples of ``task`` (``"tissue"`` or ``"deep"``), items ``{"image", "label", "seed"}``.

    ``contrasts``: channel order of ``image``. ``spacing_mm``: isotropic grid (1 mm native; 2-3 mm for fast
    tests). ``size``: (X, Y, Z) voxels to centre crop/pad to, or None for the whole brain's box.
    ``lesions``: add synthetic lesions (default: tissue task yes, deep task no). ``augment``: False gives the
    clean synthetic image (still z-scored), e.g. for checking the intensity model.
    """

    def __init__(
        self,
        task: str = "tissue",
        contrasts: Sequence[str] = CONTRASTS,
        spacing_mm: float = 2.0,
        size: Sequence[int] | None = None,
        seed: int = 0,
        split: str = "train",
        n: int = 100,
        templates: Sequence[str] | None = None,
        lesions: bool | None = None,
        augment: bool = True,
        lesion_config: LesionConfig | None = None,
        augment_config: AugmentConfig | None = None,
    ) -> None:
        self.labels: LabelSet = label_set(task)
        self.task = task
        self.contrasts = check_contrasts(contrasts)
        self.split = check_split(split)
        if not 0 < n <= MAX_SAMPLES:
            raise InvalidArgument.field("n", f"must be within 1..{MAX_SAMPLES}, got {n}")
        if size is not None and (len(size) != 3 or min(size) < 1):
            raise InvalidArgument.field("size", f"need three positive voxel counts, got {size}")
        self.templates = tuple(templates) if templates is not None else DEFAULT_TEMPLATES[task]
        for name in self.templates:
            brain = load_template(name, spacing_mm)  # validates name/spacing and warms the cache
            if task == "deep" and brain.deep is None:
                raise InvalidArgument.field("templates", f"{name} has no deep-structure atlas; use colin27")
        self.spacing_mm = float(spacing_mm)
        self.size = None if size is None else tuple(int(s) for s in size)
        self.seed = int(seed)
        self.n = int(n)
        self.with_lesions = (task == "tissue") if lesions is None else bool(lesions)
        self.lesion_config = lesion_config or LesionConfig()
        self.augment = augment
        self._transform = build_augmentation(self.spacing_mm, augment_config) if augment else normalise_only()

    def __len__(self) -> int:
        return self.n

    def sample_seed(self, index: int) -> int:
        if not 0 <= index < self.n:
            raise IndexError(f"index {index} outside 0..{self.n - 1}")
        return SPLIT_SEED_BASE[self.split] + index

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.sample(index).as_dict()

    def sample(self, index: int) -> SyntheticSample:
        """Sample ``index`` with its provenance (template, affine, lesions)."""
        sample_seed = self.sample_seed(index)
        rng = np.random.default_rng([self.seed, sample_seed])
        name = self.templates[int(rng.integers(len(self.templates)))]
        brain = load_template(name, self.spacing_mm)
        placed: tuple[Lesion, ...] = ()
        lesion_weight = None
        lesion_mask = None
        if self.with_lesions:
            region = _centre_region(name, self.spacing_mm, self.split, self.lesion_config)
            lesion_set = place_lesions(brain, self.split, rng, self.lesion_config, region=region)
            placed, lesion_weight = lesion_set.lesions, lesion_set.weight
            lesion_mask = lesion_set.mask
        if self.task == "tissue":
            label = tissue_labels(brain.tissue, brain.mask, lesion_mask)
        else:
            assert brain.deep is not None  # checked in __init__
            label = brain.deep
        image = synthesize(brain.tissue, lesion_weight, self.contrasts, rng)
        data = {"image": torch.from_numpy(image), "label": torch.from_numpy(label[None].astype(np.float32))}
        self._transform.set_random_state(seed=int(rng.integers(2**31)))
        data = self._transform(data)
        image_t = torch.as_tensor(data["image"]).as_subclass(torch.Tensor).float()
        label_t = torch.as_tensor(data["label"]).as_subclass(torch.Tensor).round().long()
        affine = brain.affine
        if self.size is not None:
            image_t, offset = centre_crop_or_pad(image_t, self.size)
            label_t, _ = centre_crop_or_pad(label_t, self.size)
            affine = affine.copy()
            affine[:3, 3] = brain.affine[:3, :3] @ offset + brain.affine[:3, 3]
        return SyntheticSample(image_t.contiguous(), label_t.contiguous(), sample_seed, name, affine, placed)


@functools.lru_cache(maxsize=32)
def _centre_region(name: str, spacing_mm: float, split: str, config: LesionConfig) -> np.ndarray:
    return centre_region(load_template(name, spacing_mm), split, config)


def centre_crop_or_pad(volume: torch.Tensor, size: Sequence[int]) -> tuple[torch.Tensor, np.ndarray]:
    """Centre crop/zero-pad the spatial axes of (C, X, Y, Z) to ``size``; also returns the voxel offset of the
    new grid's origin in the old grid (negative where padded), for updating the affine."""
    offset = np.zeros(3)
    for axis, want in enumerate(size):
        have = volume.shape[axis + 1]
        start = (have - want) // 2
        offset[axis] = start
        if start >= 0:
            volume = volume.narrow(axis + 1, start, want)
        else:
            before = -start
            pad_shape = list(volume.shape)
            pad_shape[axis + 1] = want
            padded = volume.new_zeros(pad_shape)
            padded.narrow(axis + 1, before, have).copy_(volume)
            volume = padded
    return volume, offset
