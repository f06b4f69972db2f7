"""Coarse-to-fine cascade (Roth et al.): stage 1 finds the candidate region on a coarse grid, stage 2
classifies only that region at full resolution.

Steps of :meth:`SegmentationCascade.__call__` on a volume (C, D, H, W) with voxel spacing in mm:

1. resample to the coarse grid (``coarse_spacing_mm``, area averaging), run stage 1 on the whole coarse
   volume (or sliding windows when ``stage1_roi_size`` is set), upsample its softmax to full resolution;
2. candidate mask = voxels whose summed foreground probability passes ``candidate_threshold``, dilated by
   ``margin_mm`` (Euclidean distance in mm, so anisotropic voxels dilate correctly);
3. per connected component of the candidate mask, stage 2 runs on the component's bounding box (grown to
   at least one window for context) at full resolution with Gaussian-weighted overlapping sliding windows
   (MONAI ``sliding_window_inference``); its softmax is kept on that component's voxels only;
4. voxels outside the candidate region are background (probability 1 for class 0).

Stages are plain callables ``image (N, C, D, H, W) float32 -> logits (N, K, D, H, W) float32`` so the same
logic runs PyTorch modules (:class:`TorchStage`), onnxruntime sessions or a Triton model
(:mod:`tessera.segmentation.export`). The cascade feeds intensities as given: normalisation is the caller's.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from monai.inferers import sliding_window_inference
from scipy import ndimage
from torch import nn

from tessera.core.errors import FieldViolation, InvalidArgument

StagePredictor = Callable[[np.ndarray], np.ndarray]
"""image (N, C, D, H, W) float32 -> logits (N, K, D, H, W) float32, same D, H, W."""

Box = tuple[slice, slice, slice]


@dataclass(frozen=True)
class CascadeConfig:
    """Cascade settings. Sizes of windows are in voxels (D, H, W); distances in mm.

    ``coarse_spacing_mm``: isotropic spacing of stage 1's grid (the paper: 2-4 mm);
    ``margin_mm``: dilation of stage 1's foreground into the candidate region;
    ``foreground_classes``: classes whose stage-1 probability forms the candidate (None: all but 0);
    ``candidate_threshold``: summed foreground probability above which a voxel is a candidate seed;
    ``min_component_voxels``: candidate components smaller than this (full-res voxels) are dropped;
    ``roi_size``: stage 2's sliding window; ``overlap``: fraction of a window shared with its neighbour;
    ``sigma_scale``: Gaussian weight sigma as a fraction of the window; ``sw_batch_size``: windows per call;
    ``stage1_roi_size``: sliding window for stage 1 on big coarse grids (None: whole volume at once).
    """

    coarse_spacing_mm: float = 4.0
    margin_mm: float = 10.0
    foreground_classes: tuple[int, ...] | None = None
    candidate_threshold: float = 0.5
    min_component_voxels: int = 1
    roi_size: tuple[int, int, int] = (64, 64, 64)
    overlap: float = 0.5
    sigma_scale: float = 0.125
    sw_batch_size: int = 1
    stage1_roi_size: tuple[int, int, int] | None = None

    def __post_init__(self) -> None:
        problems: list[FieldViolation] = []
        if not (math.isfinite(self.coarse_spacing_mm) and self.coarse_spacing_mm > 0):
            problems.append(FieldViolation("cascade.coarse_spacing_mm", f"must be > 0, got {self.coarse_spacing_mm}"))
        if not (math.isfinite(self.margin_mm) and self.margin_mm >= 0):
            problems.append(FieldViolation("cascade.margin_mm", f"must be >= 0, got {self.margin_mm}"))
        if not 0.0 <= self.candidate_threshold < 1.0:
            problems.append(FieldViolation("cascade.candidate_threshold", f"must be in [0, 1), got "
                                           f"{self.candidate_threshold}"))
        if not 0.0 <= self.overlap < 1.0:
            problems.append(FieldViolation("cascade.overlap", f"must be in [0, 1), got {self.overlap}"))
        for name, roi in (("roi_size", self.roi_size), ("stage1_roi_size", self.stage1_roi_size)):
            if roi is not None and (len(roi) != 3 or min(roi) < 1):
                problems.append(FieldViolation(f"cascade.{name}", f"must be 3 sizes >= 1, got {roi}"))
        if self.sw_batch_size < 1:
            problems.append(FieldViolation("cascade.sw_batch_size", f"must be >= 1, got {self.sw_batch_size}"))
        if self.foreground_classes is not None and (not self.foreground_classes or min(self.foreground_classes) < 1):
            problems.append(FieldViolation("cascade.foreground_classes", "must be non-empty class indices >= 1"))
        if problems:
            raise InvalidArgument(problems)


@dataclass
class CascadeResult:
    """What the cascade found on one volume of shape (D, H, W) with K classes.

    ``labels`` (D, H, W) int16; ``probabilities`` (K, D, H, W) float32 (one-hot background outside the
    candidate region); ``stage1_labels`` (D, H, W): stage 1 alone, upsampled (for comparison);
    ``candidate_mask`` (D, H, W) bool; ``boxes``: stage 2's boxes (full-res voxel slices);
    ``stage2_fraction``: candidate voxels / all voxels (what stage 2 classifies, ~10% in the paper);
    ``stage2_box_fraction``: voxels stage 2 computed (box volumes, incl. context) / all voxels;
    ``timings_s``: seconds per step: stage1, candidate, stage2, total.
    """

    labels: np.ndarray
    probabilities: np.ndarray
    stage1_labels: np.ndarray
    candidate_mask: np.ndarray
    boxes: list[Box]
    stage2_fraction: float
    stage2_box_fraction: float
    timings_s: dict[str, float] = field(default_factory=dict)


class TorchStage:
    """A PyTorch module as a :data:`StagePredictor` (no grad, CPU or ``device``); puts the module in eval mode.

    ``missing_contrasts``: contrasts whose branch is replaced (passed as ``contrast_present`` to modules
    that take it, i.e. :class:`~tessera.segmentation.networks.MultiContrastUNet3D`).
    """

    def __init__(self, module: nn.Module, missing_contrasts: Collection[int] = (), device: str | torch.device = "cpu"):
        self.module = module.eval().to(device)
        self.missing_contrasts = frozenset(missing_contrasts)
        self.device = torch.device(device)

    def with_missing(self, missing_contrasts: Collection[int]) -> TorchStage:
        """The same module with other contrasts missing."""
        return TorchStage(self.module, missing_contrasts, self.device)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)).to(self.device)
        with torch.inference_mode():
            if self.missing_contrasts:
                present = torch.ones(x.shape[0], x.shape[1])
                present[:, sorted(self.missing_contrasts)] = 0
                logits = self.module(x, contrast_present=present.to(self.device))
            else:
                logits = self.module(x)
        out: np.ndarray = logits.float().cpu().numpy()
        return out


def coarse_shape(shape: Sequence[int], spacing_mm: Sequence[float], coarse_spacing_mm: float) -> tuple[int, int, int]:
    """Voxel counts of the coarse grid covering a (D, H, W) volume with ``spacing_mm`` at ``coarse_spacing_mm``."""
    d, h, w = (max(1, round(n * s / coarse_spacing_mm)) for n, s in zip(shape, spacing_mm, strict=True))
    return d, h, w


def _softmax_predictor(stage: StagePredictor) -> Callable[[torch.Tensor], torch.Tensor]:
    def predict(window: torch.Tensor) -> torch.Tensor:
        logits = stage(window.detach().cpu().numpy().astype(np.float32, copy=False))
        # Backends may return read-only buffers (onnxruntime, Triton): copy only in that case.
        array = np.asarray(logits, dtype=np.float32)
        return torch.softmax(torch.from_numpy(array if array.flags.writeable else array.copy()), dim=1)

    return predict


def _context_box(box: Box, roi: Sequence[int], shape: Sequence[int]) -> Box:
    """``box`` grown (centred, clipped to the volume) to at least ``roi`` voxels per axis for context."""
    grown = []
    for sl, r, n in zip(box, roi, shape, strict=True):
        start, stop = int(sl.start), int(sl.stop)
        length = max(stop - start, min(r, n))
        start = max(0, min(start - (length - (stop - start)) // 2, n - length))
        grown.append(slice(start, start + length))
    return grown[0], grown[1], grown[2]


def dilate_mm(mask: np.ndarray, margin_mm: float, spacing_mm: Sequence[float]) -> np.ndarray:
    """``mask`` (D, H, W) bool dilated by a Euclidean ``margin_mm``; the distance transform runs only on the
    mask's bounding box grown by the margin, so cost follows the candidate, not the volume."""
    if not mask.any() or margin_mm <= 0:
        return mask.copy()
    pad = [math.ceil(margin_mm / s) for s in spacing_mm]
    box = ndimage.find_objects(mask.astype(np.int8))[0]
    grown = tuple(slice(max(0, sl.start - p), min(n, sl.stop + p))
                  for sl, p, n in zip(box, pad, mask.shape, strict=True))
    distance = ndimage.distance_transform_edt(~mask[grown], sampling=spacing_mm)
    out = np.zeros_like(mask)
    out[grown] = distance <= margin_mm
    return out


class SegmentationCascade:
    """Two-stage coarse-to-fine segmenter over two :data:`StagePredictor` s (see module docstring)."""

    def __init__(self, stage1: StagePredictor | nn.Module, stage2: StagePredictor | nn.Module,
                 config: CascadeConfig | None = None):
        self.stage1: StagePredictor = TorchStage(stage1) if isinstance(stage1, nn.Module) else stage1
        self.stage2: StagePredictor = TorchStage(stage2) if isinstance(stage2, nn.Module) else stage2
        self.config = config or CascadeConfig()

    def __call__(self, volume: np.ndarray, spacing_mm: Sequence[float]) -> CascadeResult:
        """Segment ``volume`` (C, D, H, W) or (D, H, W) for one contrast; ``spacing_mm`` (3,) voxel size in mm."""
        image, spacing = self._check(volume, spacing_mm)
        cfg = self.config
        shape = image.shape[1:]
        t0 = time.perf_counter()
        stage1_probs = self._stage1(image, spacing)
        num_classes = stage1_probs.shape[0]
        fg_classes = list(cfg.foreground_classes or range(1, num_classes))
        if max(fg_classes) >= num_classes:
            raise InvalidArgument.field("cascade.foreground_classes", f"{fg_classes} outside stage 1's "
                                        f"{num_classes} classes")
        stage1_labels = stage1_probs.argmax(axis=0).astype(np.int16)
        seeds = stage1_probs[fg_classes].sum(axis=0) > cfg.candidate_threshold
        t1 = time.perf_counter()

        candidate = dilate_mm(seeds, cfg.margin_mm, spacing)
        components, _ = ndimage.label(candidate)
        boxes_raw = ndimage.find_objects(components)
        t2 = time.perf_counter()

        probabilities = np.zeros((num_classes, *shape), dtype=np.float32)
        probabilities[0] = 1.0
        kept = np.zeros(shape, dtype=bool)
        boxes: list[Box] = []
        box_voxels = 0
        predictor = _softmax_predictor(self.stage2)
        for index, raw in enumerate(boxes_raw, start=1):
            if raw is None:
                continue
            member = components[raw] == index
            if int(member.sum()) < cfg.min_component_voxels:
                continue
            box = _context_box((raw[0], raw[1], raw[2]), cfg.roi_size, shape)
            crop = torch.from_numpy(np.ascontiguousarray(image[(slice(None), *box)]))[None]
            roi = tuple(min(r, n) for r, n in zip(cfg.roi_size, crop.shape[2:], strict=True))
            out = sliding_window_inference(crop, roi, cfg.sw_batch_size, predictor, overlap=cfg.overlap,
                                           mode="gaussian", sigma_scale=cfg.sigma_scale)
            assert isinstance(out, torch.Tensor)
            box_probs = out[0].numpy()
            if box_probs.shape[0] != num_classes:
                raise InvalidArgument.field("stage2", f"stage 2 gives {box_probs.shape[0]} classes, stage 1 "
                                            f"{num_classes}")
            # Write only this component's voxels: boxes of neighbouring components may overlap.
            in_box = components[box] == index
            target = probabilities[(slice(None), *box)]
            target[:, in_box] = box_probs[:, in_box]
            kept[box] |= in_box
            boxes.append(box)
            box_voxels += int(np.prod(crop.shape[2:]))
        t3 = time.perf_counter()

        total = int(np.prod(shape))
        return CascadeResult(
            labels=probabilities.argmax(axis=0).astype(np.int16),
            probabilities=probabilities,
            stage1_labels=stage1_labels,
            candidate_mask=kept,
            boxes=boxes,
            stage2_fraction=float(kept.sum()) / total,
            stage2_box_fraction=box_voxels / total,
            timings_s={"stage1": t1 - t0, "candidate": t2 - t1, "stage2": t3 - t2, "total": t3 - t0},
        )

    def _stage1(self, image: np.ndarray, spacing: tuple[float, float, float]) -> np.ndarray:
        """Stage 1 softmax (K, D, H, W) at full resolution from a run on the coarse grid."""
        cfg = self.config
        full = torch.from_numpy(image)[None]
        grid = coarse_shape(image.shape[1:], spacing, cfg.coarse_spacing_mm)
        # Area averaging: each coarse voxel is the mean of the fine voxels it covers (no aliasing).
        coarse = torch.nn.functional.interpolate(full, size=grid, mode="area")
        predictor = _softmax_predictor(self.stage1)
        if cfg.stage1_roi_size is None:
            coarse_probs = predictor(coarse)
        else:
            roi = tuple(min(r, n) for r, n in zip(cfg.stage1_roi_size, grid, strict=True))
            out = sliding_window_inference(coarse, roi, cfg.sw_batch_size, predictor, overlap=cfg.overlap,
                                           mode="gaussian", sigma_scale=cfg.sigma_scale)
            assert isinstance(out, torch.Tensor)
            coarse_probs = out
        probs = torch.nn.functional.interpolate(coarse_probs, size=image.shape[1:], mode="trilinear",
                                                align_corners=False)
        result: np.ndarray = probs[0].numpy()
        return result

    @staticmethod
    def _check(volume: np.ndarray, spacing_mm: Sequence[float]) -> tuple[np.ndarray, tuple[float, float, float]]:
        array = np.asarray(volume)
        if array.ndim == 3:
            array = array[None]
        if array.ndim != 4 or min(array.shape) < 1:
            raise InvalidArgument.field("volume", f"want (C, D, H, W) or (D, H, W), got shape {np.shape(volume)}")
        if not np.issubdtype(array.dtype, np.number):
            raise InvalidArgument.field("volume", f"dtype {array.dtype} is not numeric")
        spacing = tuple(float(s) for s in spacing_mm)
        if len(spacing) != 3 or not all(math.isfinite(s) and s > 0 for s in spacing):
            raise InvalidArgument.field("spacing_mm", f"want 3 finite sizes > 0 mm, got {tuple(spacing_mm)}")
        image = np.ascontiguousarray(array, dtype=np.float32)
        if not np.isfinite(image).all():
            raise InvalidArgument.field("volume", "has non-finite voxels (NaN or inf)")
        return image, (spacing[0], spacing[1], spacing[2])
