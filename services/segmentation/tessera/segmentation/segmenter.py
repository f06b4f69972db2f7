"""``Segmenter``: one subject's volumes -> label map, per-class volumes and timings, via the cascade.

The subject (any non-empty subset of the card's contrasts, already on one grid) is normalised as
in training, resampled to the card's isotropic spacing, run through :class:`OnnxCascade` (whose
stages may be onnxruntime sessions or Triton through ``BackendStage``), and the labels are
resampled back (nearest) onto the input grid. Missing contrasts are filled inside the network
(each branch's training mean), the same way the utilisation rate is measured.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from tessera.segmentation.cascade import CascadeConfig, StagePredictor
from tessera.segmentation.export import OnnxCascade
from tessera.segmentation.model_card import ModelCard
from tessera.segmentation.preprocess import normalise_intensities, resample_to_shape, resample_to_spacing
from tessera.segmentation.volumes import SubjectVolumes


@dataclass
class SegmentOutcome:
    labels: np.ndarray  # (D, H, W) int16 on the input grid
    volumes_ml: dict[str, float]
    timings_s: dict[str, float] = field(default_factory=dict)
    stage2_fraction: float = 0.0
    missing: list[str] = field(default_factory=list)


def _cascade_config(card: ModelCard) -> CascadeConfig:
    fields = dict(card.cascade)
    for key in ("roi_size", "stage1_roi_size", "foreground_classes"):
        if fields.get(key) is not None:
            fields[key] = tuple(fields[key])
    return CascadeConfig(**fields)


class Segmenter:
    """Runs a published cascade; ``stage1``/``stage2`` are stage predictors (ONNX or a backend)."""

    def __init__(self, card: ModelCard, stage1: StagePredictor, stage2: StagePredictor):
        self.card = card
        self.stage1 = stage1
        self.stage2 = stage2
        self.config = _cascade_config(card)

    def segment(self, subject: SubjectVolumes) -> SegmentOutcome:
        timings: dict[str, float] = {}
        started = time.perf_counter()
        zooms = np.sqrt((subject.affine[:3, :3] ** 2).sum(axis=0))
        spacing = (float(zooms[0]), float(zooms[1]), float(zooms[2]))
        target = self.card.spacing_mm
        channels: list[np.ndarray | None] = []
        missing_idx: list[int] = []
        for k, contrast in enumerate(self.card.contrasts):
            if contrast in subject.data:
                channels.append(resample_to_spacing(normalise_intensities(subject.data[contrast]), spacing, target))
            else:
                channels.append(None)
                missing_idx.append(k)
        shape = next(c.shape for c in channels if c is not None)
        image = np.stack([c if c is not None else np.zeros(shape, np.float32) for c in channels])[None]
        timings["preprocess"] = time.perf_counter() - started
        cascade = OnnxCascade(_with_missing(self.stage1, missing_idx), _with_missing(self.stage2, missing_idx),
                              self.config)
        result = cascade(image[0], (target, target, target))
        timings["stage1"] = result.timings_s.get("stage1", 0.0) + result.timings_s.get("candidate", 0.0)
        timings["stage2"] = result.timings_s.get("stage2", 0.0)
        started = time.perf_counter()
        labels = resample_to_shape(result.labels.astype(np.int16), subject.shape, order=0)
        counts = np.bincount(labels.ravel().astype(np.int64), minlength=max(self.card.class_names) + 1)
        volumes = {name: float(counts[idx]) * subject.voxel_ml for idx, name in sorted(self.card.class_names.items())
                   if idx != 0}
        timings["postprocess"] = time.perf_counter() - started
        return SegmentOutcome(labels, volumes, timings, result.stage2_fraction,
                              [self.card.contrasts[k] for k in missing_idx])


def _with_missing(stage: StagePredictor, missing: list[int]) -> StagePredictor:
    with_missing = getattr(stage, "with_missing", None)
    return with_missing(missing) if with_missing is not None else stage
