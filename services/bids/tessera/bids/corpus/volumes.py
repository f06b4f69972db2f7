"""Real anatomy for the synthetic scanner: the MNI152 2009a template that nilearn ships, resampled
onto a scanner slice geometry, with tissue intensities remapped to mimic each MR contrast.

Coordinates: the template is in RAS millimetres; DICOM patient coordinates are LPS millimetres
(x and y negated). :class:`Geometry` speaks DICOM (LPS) so its vectors go straight into
ImagePositionPatient / ImageOrientationPatient.
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

FloatArray = NDArray[np.float32]

# Row / column direction cosines (LPS) of the three scanner planes, as scanners write them.
ORIENTATIONS: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    "ax": ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0)),
    "sag": ((0.0, 1.0, 0.0), (0.0, 0.0, -1.0)),
    "cor": ((1.0, 0.0, 0.0), (0.0, 0.0, -1.0)),
}

# Relative signal of (GM, WM, CSF, non-brain) per contrast; the T1w contrast uses the template itself.
_TISSUE_SIGNAL: dict[str, tuple[float, float, float, float]] = {
    "T2w": (0.55, 0.35, 1.0, 0.35),
    "FLAIR": (0.75, 0.5, 0.05, 0.3),
    "PDw": (0.85, 0.7, 0.9, 0.5),
    "T2starw": (0.6, 0.45, 0.9, 0.2),
    "bold": (0.75, 0.55, 1.0, 0.1),  # EPI: little scalp signal (fat saturated)
    "m0": (0.9, 0.75, 1.0, 0.1),
}
# Mean diffusivity in mm^2/s per tissue (GM, WM, CSF), for DWI and ADC maps.
_ADC = (0.8e-3, 0.7e-3, 3.0e-3)


@dataclass(frozen=True)
class Tissues:
    """Template maps on a 2 mm RAS grid: ``t1`` in [0, 1], ``gm``/``wm``/``csf`` probabilities, shape (X, Y, Z)."""

    t1: FloatArray
    gm: FloatArray
    wm: FloatArray
    csf: FloatArray
    affine: NDArray[np.float64]  # voxel index -> RAS mm


def _template_dir() -> Path:
    # Locate nilearn's package data without importing nilearn (its import takes seconds).
    spec = importlib.util.find_spec("nilearn")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("nilearn is required for the test corpus (it ships the MNI152 template)")
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"


def _load(name: str) -> tuple[FloatArray, NDArray[np.float64]]:
    img = nib.load(_template_dir() / f"mni_icbm152_{name}_tal_nlin_sym_09a_converted.nii.gz")
    data = np.asarray(img.dataobj, dtype=np.float32) / 255.0  # type: ignore[attr-defined]
    # 1 mm -> 2 mm by 2x2x2 block means: plenty for 3-6 mm test voxels and 8x less to interpolate.
    x, y, z = (s // 2 * 2 for s in data.shape)
    data = data[:x, :y, :z].reshape(x // 2, 2, y // 2, 2, z // 2, 2).mean(axis=(1, 3, 5))
    affine = img.affine @ np.diag([2.0, 2.0, 2.0, 1.0])  # type: ignore[attr-defined]
    affine[:3, 3] += img.affine[:3, :3] @ np.array([0.5, 0.5, 0.5])  # type: ignore[attr-defined]
    return data.astype(np.float32), affine


@functools.cache
def load_tissues() -> Tissues:
    """The template's T1 and tissue maps (cached; ~0.3 s the first time)."""
    t1, affine = _load("t1")
    gm, _ = _load("gm")
    wm, _ = _load("wm")
    # No CSF map ships with nilearn: CSF is what is inside the smoothed brain envelope but not GM/WM.
    envelope = ndimage.gaussian_filter(gm + wm, 2.0) > 0.15
    csf = np.where(envelope, np.clip(1.0 - gm - wm, 0.0, 1.0), 0.0).astype(np.float32)
    return Tissues(t1=t1, gm=gm, wm=wm, csf=csf, affine=affine)


def contrast_volume(tissues: Tissues, contrast: str) -> FloatArray:
    """Signal in [0, 1] on the template grid for a contrast: 'T1w', 'T2w', 'FLAIR', 'PDw', 'T2starw',
    'bold', 'm0', or 'adc' (mean diffusivity in mm^2/s)."""
    gm, wm, csf = tissues.gm, tissues.wm, tissues.csf
    if contrast == "T1w":
        return tissues.t1
    brain = np.clip(gm + wm + csf, 0.0, 1.0)
    if contrast == "adc":
        total = np.maximum(gm + wm + csf, 1e-6)
        return ((_ADC[0] * gm + _ADC[1] * wm + _ADC[2] * csf) / total * (brain > 0.05)).astype(np.float32)
    s_gm, s_wm, s_csf, s_other = _TISSUE_SIGNAL[contrast]
    other = tissues.t1 * (1.0 - brain)  # scalp, skull marrow, eyes: keep their shape from the T1
    return (s_gm * gm + s_wm * wm + s_csf * csf + s_other * other).astype(np.float32)


@dataclass(frozen=True)
class Geometry:
    """A stack of parallel slices in DICOM patient space (LPS mm).

    Pixel (r, c) of slice k lies at ``first_position + k*slice_step*normal + c*col_spacing*row_dir
    + r*row_spacing*col_dir``, exactly as DICOM's ImagePositionPatient/ImageOrientationPatient say.
    """

    rows: int
    cols: int
    slices: int
    pixel_spacing: float  # mm, square pixels
    slice_thickness: float  # mm; slices are contiguous (spacing == thickness)
    orientation: str = "ax"  # 'ax' | 'sag' | 'cor'
    center: tuple[float, float, float] = (0.0, -18.0, 12.0)  # LPS mm; roughly the head's centre

    @property
    def row_dir(self) -> NDArray[np.float64]:
        return np.array(ORIENTATIONS[self.orientation][0])

    @property
    def col_dir(self) -> NDArray[np.float64]:
        return np.array(ORIENTATIONS[self.orientation][1])

    @property
    def normal(self) -> NDArray[np.float64]:
        return np.cross(self.row_dir, self.col_dir)

    @property
    def orientation_patient(self) -> list[float]:
        return [*map(float, self.row_dir), *map(float, self.col_dir)]

    def slice_positions(self) -> NDArray[np.float64]:
        """ImagePositionPatient of every slice, shape (slices, 3), LPS mm."""
        c = np.array(self.center)
        first = (c - (self.cols - 1) / 2 * self.pixel_spacing * self.row_dir
                 - (self.rows - 1) / 2 * self.pixel_spacing * self.col_dir
                 - (self.slices - 1) / 2 * self.slice_thickness * self.normal)
        k = np.arange(self.slices)[:, None]
        return first[None, :] + k * self.slice_thickness * self.normal[None, :]


def sample(volume: FloatArray, tissues: Tissues, geometry: Geometry) -> FloatArray:
    """Trilinear sample of a template-grid volume at every pixel centre: shape (slices, rows, cols)."""
    g = geometry
    r = np.arange(g.rows, dtype=np.float64)[:, None, None] * g.pixel_spacing * g.col_dir
    c = np.arange(g.cols, dtype=np.float64)[None, :, None] * g.pixel_spacing * g.row_dir
    plane = r + c  # (rows, cols, 3)
    lps = g.slice_positions()[:, None, None, :] + plane[None]  # (slices, rows, cols, 3)
    ras = lps * np.array([-1.0, -1.0, 1.0])
    inv = np.linalg.inv(tissues.affine)
    ijk = ras @ inv[:3, :3].T + inv[:3, 3]
    out = ndimage.map_coordinates(volume, np.moveaxis(ijk, -1, 0), order=1, mode="constant", cval=0.0)
    return out.astype(np.float32)
