"""Input volumes of one subject: parse NIfTI, check every way a request can be wrong, put all
contrasts on one grid.

Every problem raises :class:`tessera.core.errors.InvalidArgument` naming the request field
(``volumes[i].nifti``, ``volumes[i].contrast`` ...) and the problem, so a client can fix it.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Sequence
from dataclasses import dataclass, field

import nibabel as nib
import numpy as np
from nibabel.processing import resample_from_to

from tessera.core.errors import FieldViolation, InvalidArgument

KNOWN_CONTRASTS = ("T1w", "T2w", "FLAIR")
MAX_VOXELS = 512**3  # ~134 M voxels: a 0.5 mm whole head; anything larger is a mistake or an attack


@dataclass
class SubjectVolumes:
    """All contrasts of one subject on the reference grid (the first given, T1w preferred).

    ``data[contrast]``: float32 (D, H, W); ``affine``: voxel -> scanner mm (4x4);
    ``missing``: model contrasts not given (filled by the caller as the utilisation rate does).
    """

    data: dict[str, np.ndarray]
    affine: np.ndarray
    header: nib.Nifti1Header
    missing: list[str] = field(default_factory=list)
    resampled: list[str] = field(default_factory=list)

    @property
    def shape(self) -> tuple[int, int, int]:
        return next(iter(self.data.values())).shape  # type: ignore[return-value]

    @property
    def voxel_ml(self) -> float:
        """Volume of one voxel in mL (mm^3 / 1000)."""
        return float(abs(np.linalg.det(self.affine[:3, :3]))) / 1000.0


def parse_nifti(data: bytes, field: str) -> nib.Nifti1Image:
    """NIfTI-1/2 bytes (optionally gzipped) to an image; InvalidArgument naming ``field`` otherwise."""
    if not data:
        raise InvalidArgument.field(field, "is empty")
    raw = data
    if data[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise InvalidArgument.field(field, f"is gzip but cannot be decompressed: {exc}") from None
    for klass in (nib.Nifti1Image, nib.Nifti2Image):
        try:
            fh = nib.FileHolder(fileobj=io.BytesIO(raw))
            image = klass.from_file_map({"header": fh, "image": fh})
            image.get_fdata(dtype=np.float32)  # force reading: truncated data fails here
            return image  # type: ignore[no-any-return]
        except Exception:  # nibabel raises several types for "not this format"
            continue
    raise InvalidArgument.field(field, "is not a NIfTI image (.nii or .nii.gz)")


def _check_image(image: nib.Nifti1Image, field: str, max_voxels: int) -> tuple[np.ndarray, list[FieldViolation]]:
    problems: list[FieldViolation] = []
    shape = image.shape
    if len(shape) == 4 and shape[3] == 1:
        shape = shape[:3]
    if len(shape) != 3:
        problems.append(FieldViolation(field, f"must be a 3D volume, got shape {tuple(image.shape)}"))
        return np.zeros((0, 0, 0), np.float32), problems
    if int(np.prod(shape)) > max_voxels:
        count = int(np.prod(shape))
        problems.append(FieldViolation(field, f"has {count} voxels {shape}, above the cap of {max_voxels}"))
        return np.zeros((0, 0, 0), np.float32), problems
    if min(shape) < 8:
        problems.append(FieldViolation(field, f"is too small to segment: shape {shape}"))
    affine = image.affine
    if not np.all(np.isfinite(affine)) or abs(np.linalg.det(affine[:3, :3])) < 1e-6:
        problems.append(FieldViolation(field, "has an affine that is not invertible (voxel size 0 or NaN)"))
    data = np.asarray(image.dataobj, dtype=np.float32).reshape(shape)
    bad = ~np.isfinite(data)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        problems.append(FieldViolation(field, f"has {int(bad.sum())} non-finite voxels (first at {first})"))
    return data, problems


def load_subject(
    images: Sequence[tuple[str, nib.Nifti1Image]],
    model_contrasts: Sequence[str],
    *,
    max_voxels: int = MAX_VOXELS,
) -> SubjectVolumes:
    """Check a subject's (contrast, image) pairs against the model and put them on one grid.

    The reference grid is T1w's when given, else the first image's; other contrasts are resampled
    onto it (trilinear) when their fields of view overlap it, else rejected.
    """
    if not images:
        raise InvalidArgument.field("volumes", f"must hold at least one of {list(model_contrasts)}")
    problems: list[FieldViolation] = []
    seen: dict[str, int] = {}
    checked: list[tuple[str, nib.Nifti1Image, np.ndarray, str]] = []
    for i, (contrast, image) in enumerate(images):
        where = f"volumes[{i}]"
        if contrast not in model_contrasts:
            problems.append(FieldViolation(f"{where}.contrast", f"{contrast!r} is not one of the model's "
                                                                f"contrasts {list(model_contrasts)}"))
            continue
        if contrast in seen:
            problems.append(FieldViolation(f"{where}.contrast",
                                           f"{contrast!r} given twice (also volumes[{seen[contrast]}])"))
            continue
        seen[contrast] = i
        data, found = _check_image(image, f"{where}.nifti", max_voxels)
        problems += found
        if not found:
            checked.append((contrast, image, data, where))
    if problems:
        raise InvalidArgument(problems)
    checked.sort(key=lambda item: item[0] != "T1w")
    ref_contrast, ref_image, ref_data, _ = checked[0]
    ref_shape = ref_data.shape
    out = SubjectVolumes(data={ref_contrast: ref_data}, affine=ref_image.affine.copy(), header=ref_image.header.copy())
    for contrast, image, data, where in checked[1:]:
        if data.shape == ref_shape and np.allclose(image.affine, ref_image.affine, atol=1e-3):
            out.data[contrast] = data
            continue
        if not _overlaps(image, data.shape, ref_image.affine, ref_shape):
            problems.append(FieldViolation(f"{where}.nifti", f"its field of view does not overlap the {ref_contrast} "
                                                             "volume's: cannot resample onto one grid"))
            continue
        src = nib.Nifti1Image(data, image.affine)
        out.data[contrast] = np.asarray(resample_from_to(src, (ref_shape, ref_image.affine), order=1).dataobj,
                                        dtype=np.float32)
        out.resampled.append(contrast)
    if problems:
        raise InvalidArgument(problems)
    out.missing = [c for c in model_contrasts if c not in out.data]
    return out


def _overlaps(
    image: nib.Nifti1Image, shape: tuple[int, ...], ref_affine: np.ndarray, ref_shape: tuple[int, ...]
) -> bool:
    """Whether the two fields of view (axis-aligned boxes in scanner mm) intersect."""
    def box(affine: np.ndarray, dims: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        corners = np.array([[i, j, k, 1] for i in (0, dims[0] - 1) for j in (0, dims[1] - 1) for k in (0, dims[2] - 1)])
        mm = corners @ affine.T
        return mm[:, :3].min(axis=0), mm[:, :3].max(axis=0)

    lo1, hi1 = box(image.affine, shape)
    lo2, hi2 = box(ref_affine, ref_shape)
    return bool(np.all(lo1 <= hi2) and np.all(lo2 <= hi1))
