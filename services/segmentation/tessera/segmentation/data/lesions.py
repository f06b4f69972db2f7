"""Synthetic lesions with known ground truth: blobs of varied size, shape, place and contrast.

Each lesion is an ellipsoid of random axes and orientation whose surface is roughened by a smoothed random
field, centred on a white-matter voxel (white-matter-hyperintensity-like; the blob may spill into nearby grey
matter but never leaves the brain mask). Its nominal size is the diameter of the sphere of equal volume.

Held-out placements: lesion centres are drawn from a 3-D checkerboard of ``cell_mm`` cubes in world (MNI)
coordinates: the training split only uses the "even" cells, the test split only the "odd" ones, so a test
lesion is never centred where any training lesion could be, while both splits cover the whole brain evenly
(a hemisphere split would teach the network that lesions live on one side).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from tessera.core.errors import InvalidArgument
from tessera.segmentation.data.templates import BrainTemplate

SPLITS = ("train", "test")


@dataclass(frozen=True)
class LesionConfig:
    """How many lesions per sample, their nominal diameter range (mm), and where centres may fall."""

    count: tuple[int, int] = (1, 6)
    diameter_mm: tuple[float, float] = (3.0, 20.0)
    severity: tuple[float, float] = (0.6, 1.0)
    wm_threshold: float = 0.6
    cell_mm: float = 12.0
    roughness: float = 0.25

    def __post_init__(self) -> None:
        if not 0 <= self.count[0] <= self.count[1]:
            raise InvalidArgument.field("lesions.count", f"need 0 <= min <= max, got {self.count}")
        if not 0 < self.diameter_mm[0] <= self.diameter_mm[1]:
            raise InvalidArgument.field("lesions.diameter_mm", f"need 0 < min <= max, got {self.diameter_mm}")
        if not 0 < self.severity[0] <= self.severity[1] <= 1:
            raise InvalidArgument.field("lesions.severity", f"need 0 < min <= max <= 1, got {self.severity}")


@dataclass(frozen=True)
class Lesion:
    """One placed lesion: centre (voxel index on the template grid, and world mm), nominal diameter (mm),
    the number of voxels it covers (inside the brain), and its severity (0..1 share of lesion intensity)."""

    centre_voxel: tuple[int, int, int]
    centre_mm: tuple[float, float, float]
    diameter_mm: float
    voxels: int
    severity: float


@dataclass(frozen=True)
class LesionSet:
    """``mask``: bool ground truth (X, Y, Z). ``weight``: float32 lesion share per voxel (severity, soft edge)."""

    mask: np.ndarray
    weight: np.ndarray
    lesions: tuple[Lesion, ...]


def check_split(split: str) -> str:
    if split not in SPLITS:
        raise InvalidArgument.field("split", f"unknown split {split!r}; known: {', '.join(SPLITS)}")
    return split


def world_coordinates(affine: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """(3, X, Y, Z) world coordinates (mm) of every voxel centre."""
    index = np.indices(shape, dtype=np.float64).reshape(3, -1)
    return (affine[:3, :3] @ index + affine[:3, 3:4]).reshape(3, *shape)


def checkerboard_parity(world_mm: np.ndarray, cell_mm: float) -> np.ndarray:
    """0/1 parity of the ``cell_mm`` checkerboard cell each world point (3, ...) falls in."""
    cells = np.floor(world_mm / cell_mm).astype(np.int64)
    return (cells.sum(0) % 2).astype(np.uint8)


def centre_region(template: BrainTemplate, split: str, config: LesionConfig) -> np.ndarray:
    """bool (X, Y, Z): voxels where ``split``'s lesion centres may fall (white matter, the split's cells)."""
    parity = checkerboard_parity(world_coordinates(template.affine, template.shape), config.cell_mm)
    wanted = SPLITS.index(check_split(split))
    return (template.tissue[2] >= config.wm_threshold) & template.mask & (parity == wanted)


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    return q * np.sign(np.diag(r))[None, :]


def _blob(diameter_mm: float, spacing_mm: float, config: LesionConfig, rng: np.random.Generator) -> np.ndarray:
    """bool cube (odd side, centred) holding one roughened ellipsoid of equal-volume diameter ``diameter_mm``."""
    radius = diameter_mm / 2
    axes = radius * np.exp(rng.uniform(-0.35, 0.35, size=3))
    axes *= radius / np.cbrt(np.prod(axes))  # keep the ellipsoid's volume that of the nominal sphere
    half = int(np.ceil(axes.max() * 1.4 / spacing_mm)) + 1
    grid = (np.indices((2 * half + 1,) * 3, dtype=np.float64).reshape(3, -1) - half) * spacing_mm
    local = _random_rotation(rng).T @ grid
    distance = np.sqrt(((local / axes[:, None]) ** 2).sum(0)).reshape((2 * half + 1,) * 3)
    noise = ndimage.gaussian_filter(rng.normal(size=distance.shape), sigma=max(1.0, 0.25 * radius / spacing_mm))
    noise /= max(float(noise.std()), 1e-6)
    blob = distance + config.roughness * noise < 1.0
    blob[half, half, half] = True  # a lesion is never empty, however coarse the grid
    return blob


def place_lesions(
    template: BrainTemplate,
    split: str,
    rng: np.random.Generator,
    config: LesionConfig | None = None,
    region: np.ndarray | None = None,
) -> LesionSet:
    """Draw ``config.count`` lesions onto ``template``'s grid; centres from ``centre_region(split)``.

    ``region`` may pass a precomputed :func:`centre_region` (it depends only on template, split and config).
    """
    config = config or LesionConfig()
    region = centre_region(template, split, config) if region is None else region
    candidates = np.argwhere(region)
    mask = np.zeros(template.shape, dtype=bool)
    weight = np.zeros(template.shape, dtype=np.float32)
    n = int(rng.integers(config.count[0], config.count[1] + 1)) if len(candidates) else 0
    lesions = []
    for _ in range(n):
        centre = candidates[rng.integers(len(candidates))]
        diameter = float(rng.uniform(*config.diameter_mm))
        severity = float(rng.uniform(*config.severity))
        blob = _blob(diameter, template.spacing_mm, config, rng)
        half = blob.shape[0] // 2
        lo = centre - half
        side = blob.shape[0]
        bounds = list(zip(lo, template.shape, strict=True))
        src = tuple(slice(max(-a, 0), side - max(a + side - size, 0)) for a, size in bounds)
        dst = tuple(slice(max(a, 0), min(a + side, size)) for a, size in bounds)
        piece = blob[src] & template.mask[dst]
        mask[dst] |= piece
        weight[dst] = np.maximum(weight[dst], piece * severity)
        world = template.affine[:3, :3] @ centre + template.affine[:3, 3]
        lesions.append(
            Lesion(
                (int(centre[0]), int(centre[1]), int(centre[2])),
                (float(world[0]), float(world[1]), float(world[2])),
                diameter,
                int(piece.sum()),
                severity,
            )
        )
    if lesions:
        # soften the edge by half a voxel (partial volume) without letting lesion intensity leave the brain
        weight = np.maximum(ndimage.gaussian_filter(weight, sigma=0.5), 0.7 * weight) * template.mask
    return LesionSet(mask, weight.astype(np.float32), tuple(lesions))
