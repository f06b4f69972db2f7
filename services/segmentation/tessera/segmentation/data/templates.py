"""The two real brains that install offline, resampled to any isotropic grid.

* ``mni152``: the ICBM MNI152 2009a (non-linear symmetric) T1 template with grey/white matter probability
  maps and brain mask from nilearn's package data (197 x 233 x 189 at 1 mm). CSF = mask - GM - WM (clipped).
  No deep-structure labels: AAL was drawn on Colin27, not on this brain.
* ``colin27``: the Colin27 single-subject T1 (``ch2.nii.gz``, skull-stripped ``ch2bet.nii.gz``) with the
  AAL atlas (``aal.nii.gz``, 116 labels, names in ``aal.nii.txt``) from Debian's ``mricron-data``
  (181 x 217 x 181 at 1 mm, ``/usr/share/mricron/templates/``). Its CSF/GM/WM probabilities come from a
  3-class Gaussian mixture fitted to the skull-stripped T1 intensities (the package ships no tissue maps).

Everything is cropped to the brain's bounding box (plus a margin) and resampled by area averaging
(probabilities, T1) or per-class majority (labels); results are cached per (brain, spacing).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import torch
import torch.nn.functional as F

from tessera.core.errors import FailedPrecondition, InvalidArgument
from tessera.segmentation.data.labels import DEEP_STRUCTURES, merge_aal_labels

MRICRON_DIR = Path("/usr/share/mricron/templates")
TEMPLATE_NAMES = ("mni152", "colin27")
TISSUES = ("CSF", "GM", "WM")
_MARGIN_MM = 6.0  # kept around the brain's bounding box so deformations do not run into the edge


@dataclass(frozen=True)
class BrainTemplate:
    """One real brain on an isotropic grid of ``spacing_mm``; arrays are (X, Y, Z) in RAS voxel order.

    ``tissue``: float32 (3, X, Y, Z) CSF/GM/WM probabilities, zero outside ``mask``, sums to 1 inside.
    ``mask``: bool brain mask. ``t1``: float32 real T1 scaled to [0, 1]. ``deep``: uint8 merged
    deep-structure labels (indices of :data:`DEEP_STRUCTURES` + 1, 0 = none) or None where the brain has no atlas.
    ``affine``: voxel -> world (mm, MNI space) for this grid.
    """

    name: str
    spacing_mm: float
    affine: np.ndarray
    t1: np.ndarray
    tissue: np.ndarray
    mask: np.ndarray
    deep: np.ndarray | None

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(n) for n in self.mask.shape)  # type: ignore[return-value]


def mricron_file(name: str) -> Path:
    """Path of a file of Debian's ``mricron-data``; :class:`FailedPrecondition` naming it when absent."""
    path = MRICRON_DIR / name
    if not path.is_file():
        raise FailedPrecondition(
            f"{path} is missing: the Colin27/AAL templates come from Debian's mricron-data package; "
            "install it with `apt-get install mricron-data` (or `make setup`)"
        )
    return path


def aal_label_names() -> dict[int, str]:
    """AAL index -> name (e.g. ``37 -> "Hippocampus_L"``) read from ``aal.nii.txt``."""
    names: dict[int, str] = {}
    for line in mricron_file("aal.nii.txt").read_text().splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].isdigit():
            names[int(parts[0])] = parts[1]
    return names


def load_template(name: str, spacing_mm: float = 1.0) -> BrainTemplate:
    """Brain ``name`` (one of :data:`TEMPLATE_NAMES`) on an isotropic ``spacing_mm`` grid (0.5-8 mm). Cached."""
    if name not in TEMPLATE_NAMES:
        raise InvalidArgument.field("template", f"unknown brain {name!r}; known: {', '.join(TEMPLATE_NAMES)}")
    if not 0.5 <= spacing_mm <= 8.0:
        raise InvalidArgument.field("spacing_mm", f"must be within 0.5-8 mm, got {spacing_mm}")
    return _load_cached(name, float(spacing_mm))


@functools.lru_cache(maxsize=16)
def _load_cached(name: str, spacing_mm: float) -> BrainTemplate:
    native = _native(name)
    return _resample(native, spacing_mm)


@functools.lru_cache(maxsize=2)
def _native(name: str) -> BrainTemplate:
    """The brain at its own 1 mm grid, cropped to the brain's bounding box plus a margin."""
    if name == "mni152":
        return _crop_to_brain(_load_mni152())
    return _crop_to_brain(_load_colin27())


def _load_mni152() -> BrainTemplate:
    from nilearn import datasets  # local: nilearn's import is slow and only this brain needs it

    t1_img = datasets.load_mni152_template(resolution=1)
    gm = np.asarray(datasets.load_mni152_gm_template(resolution=1).get_fdata(dtype=np.float32))
    wm = np.asarray(datasets.load_mni152_wm_template(resolution=1).get_fdata(dtype=np.float32))
    mask = np.asarray(datasets.load_mni152_brain_mask(resolution=1).dataobj) > 0
    gm, wm = np.clip(gm, 0, 1) * mask, np.clip(wm, 0, 1) * mask
    csf = np.clip(mask - gm - wm, 0, 1)
    tissue = np.stack([csf, gm, wm]).astype(np.float32)
    tissue = _normalise_inside(tissue, mask)
    t1 = np.asarray(t1_img.get_fdata(dtype=np.float32))
    return BrainTemplate("mni152", 1.0, np.asarray(t1_img.affine), _unit(t1), tissue, mask, None)


def _load_colin27() -> BrainTemplate:
    t1_img = _nifti(mricron_file("ch2.nii.gz"))
    bet = np.asarray(_nifti(mricron_file("ch2bet.nii.gz")).dataobj)
    aal_img = _nifti(mricron_file("aal.nii.gz"))
    aal = np.asarray(aal_img.dataobj).astype(np.int32)
    if not np.allclose(aal_img.affine, t1_img.affine) or aal.shape != bet.shape:
        raise FailedPrecondition("mricron-data: aal.nii.gz and ch2.nii.gz are not on the same grid")
    mask = bet > 0
    tissue = _gmm_tissue(bet, mask)
    deep = merge_aal_labels(aal, aal_label_names())
    t1 = np.asarray(t1_img.get_fdata(dtype=np.float32))
    return BrainTemplate("colin27", 1.0, np.asarray(t1_img.affine), _unit(t1), tissue, mask, deep)


def _nifti(path: Path) -> nib.Nifti1Image:
    image = nib.load(path)
    if not isinstance(image, nib.Nifti1Image):
        raise FailedPrecondition(f"{path} is not a NIfTI-1 image")
    return image


def _gmm_tissue(t1: np.ndarray, mask: np.ndarray, iterations: int = 60) -> np.ndarray:
    """(3, X, Y, Z) CSF/GM/WM posteriors of a 1-D 3-class Gaussian mixture fitted (EM) to the brain's intensities.

    EM runs on the intensity histogram (the T1 is uint8), so the fit costs microseconds; posteriors are a
    lookup table indexed by intensity. Classes are ordered by mean: dark CSF < GM < bright WM on T1.
    """
    values = t1[mask].astype(np.int64)
    counts = np.bincount(values, minlength=int(values.max()) + 1).astype(np.float64)
    levels = np.arange(counts.size, dtype=np.float64)
    mean = np.percentile(values, [10, 50, 85]).astype(np.float64)
    std = np.full(3, values.std() / 4)
    weight = np.full(3, 1 / 3)
    for _ in range(iterations):
        like = weight[:, None] * np.exp(-0.5 * ((levels[None] - mean[:, None]) / std[:, None]) ** 2) / std[:, None]
        post = like / np.maximum(like.sum(0, keepdims=True), 1e-300)
        mass = (post * counts).sum(1)
        mean = (post * counts * levels).sum(1) / mass
        std = np.sqrt((post * counts * (levels - mean[:, None]) ** 2).sum(1) / mass) + 1e-3
        weight = mass / mass.sum()
    order = np.argsort(mean)
    like = weight[:, None] * np.exp(-0.5 * ((levels[None] - mean[:, None]) / std[:, None]) ** 2) / std[:, None]
    post = (like / np.maximum(like.sum(0, keepdims=True), 1e-300))[order].astype(np.float32)
    tissue = post[:, t1.astype(np.int64)] * mask
    return tissue.astype(np.float32)


def _normalise_inside(tissue: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Rescale the class probabilities to sum to 1 inside the mask; voxels with no mass become CSF."""
    total = tissue.sum(0)
    empty = mask & (total < 1e-3)
    tissue[0][empty] = 1.0
    total = np.where(mask, np.maximum(tissue.sum(0), 1e-6), 1.0)
    return (tissue / total * mask).astype(np.float32)


def _unit(t1: np.ndarray) -> np.ndarray:
    high = float(np.percentile(t1[t1 > 0], 99.5)) if np.any(t1 > 0) else 1.0
    return np.clip(t1 / high, 0, 1.5).astype(np.float32)


def _crop_to_brain(brain: BrainTemplate) -> BrainTemplate:
    margin = round(_MARGIN_MM / brain.spacing_mm)
    idx = np.nonzero(brain.mask)
    lo = [max(int(i.min()) - margin, 0) for i in idx]
    hi = [min(int(i.max()) + 1 + margin, n) for i, n in zip(idx, brain.mask.shape, strict=True)]
    box = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
    affine = brain.affine.copy()
    affine[:3, 3] = brain.affine[:3, :3] @ np.asarray(lo, dtype=np.float64) + brain.affine[:3, 3]
    deep = None if brain.deep is None else brain.deep[box]
    return BrainTemplate(
        brain.name, brain.spacing_mm, affine, brain.t1[box], brain.tissue[(slice(None), *box)], brain.mask[box], deep
    )


def _resample(native: BrainTemplate, spacing_mm: float) -> BrainTemplate:
    """Area-average resampling of a 1 mm brain to an isotropic ``spacing_mm`` grid covering the same extent."""
    if spacing_mm == native.spacing_mm:
        return native
    factor = spacing_mm / native.spacing_mm
    shape = tuple(max(int(np.ceil(n / factor)), 1) for n in native.shape)
    # pad at the far end so the coarse grid spans whole coarse voxels: exact spacing for integer factors
    padded = [round(n * factor) for n in shape]
    pad = [(0, 0)] + [(0, max(p - n, 0)) for p, n in zip(padded, native.shape, strict=True)]
    native = BrainTemplate(
        native.name,
        native.spacing_mm,
        native.affine,
        np.pad(native.t1, pad[1:]),
        np.pad(native.tissue, pad),
        np.pad(native.mask, pad[1:]),
        None if native.deep is None else np.pad(native.deep, pad[1:]),
    )

    def area(volume: np.ndarray) -> np.ndarray:
        tensor = torch.from_numpy(np.ascontiguousarray(volume, dtype=np.float32))
        tensor = tensor.reshape(1, -1, *volume.shape[-3:])
        return F.interpolate(tensor, size=shape, mode="area")[0].numpy()

    tissue_mask = area(np.concatenate([native.tissue, native.mask[None].astype(np.float32)]))
    mask = tissue_mask[3] >= 0.5
    tissue = _normalise_inside(tissue_mask[:3].copy(), mask)
    t1 = area(native.t1)[0]
    deep = None
    if native.deep is not None:
        # per-class majority: the fraction of each structure in every coarse voxel, then argmax vs "none"
        fractions = area(np.stack([native.deep == k for k in range(len(DEEP_STRUCTURES) + 1)]))
        deep = np.argmax(fractions, axis=0).astype(np.uint8)
    # the new voxel 0 centre lies at old index (factor - 1) / 2 along every axis
    scale = np.asarray([native.shape[i] / shape[i] for i in range(3)])
    affine = native.affine.copy()
    affine[:3, :3] = native.affine[:3, :3] * scale[None, :]
    affine[:3, 3] = native.affine[:3, :3] @ ((scale - 1) / 2) + native.affine[:3, 3]
    return BrainTemplate(native.name, spacing_mm, affine, t1, tissue, mask, deep)
