"""Intensity and grid preprocessing shared by training and ``Segment`` (they must match exactly)."""

from __future__ import annotations

import numpy as np
from monai.transforms import NormalizeIntensity
from scipy import ndimage


def normalise_intensities(volume: np.ndarray) -> np.ndarray:
    """Z-score a (D, H, W) volume over its non-zero voxels; zeros stay zero.

    The same MONAI ``NormalizeIntensity(nonzero=True)`` the training data pipeline applies per
    contrast (``data.augment``), so served inputs look like training inputs. MRI intensities have
    no unit and differ by scanner and sequence; z-scoring removes the scale.
    """
    out = NormalizeIntensity(nonzero=True)(np.asarray(volume, dtype=np.float32))
    return np.asarray(out, dtype=np.float32)


def resample_to_spacing(volume: np.ndarray, spacing_mm: tuple[float, float, float], target_mm: float,
                        order: int = 1) -> np.ndarray:
    """Resample (D, H, W) from ``spacing_mm`` to isotropic ``target_mm`` (order 1: trilinear, 0: nearest)."""
    factors = [s / target_mm for s in spacing_mm]
    if np.allclose(factors, 1.0):
        return np.asarray(volume)
    return ndimage.zoom(volume, factors, order=order, mode="nearest", grid_mode=True)


def resample_to_shape(volume: np.ndarray, shape: tuple[int, int, int], order: int = 0) -> np.ndarray:
    """Resample (D, H, W) onto ``shape`` covering the same field of view (order 0 for labels)."""
    if tuple(volume.shape) == tuple(shape):
        return np.asarray(volume)
    factors = [t / s for t, s in zip(shape, volume.shape, strict=True)]
    out = ndimage.zoom(volume, factors, order=order, mode="nearest", grid_mode=True)
    # zoom may be off by one voxel on an axis: crop or pad with the edge value to the exact shape.
    slices = tuple(slice(0, min(a, b)) for a, b in zip(out.shape, shape, strict=True))
    out = out[slices]
    pad = [(0, t - o) for t, o in zip(shape, out.shape, strict=True)]
    return np.pad(out, pad, mode="edge") if any(p[1] for p in pad) else out
