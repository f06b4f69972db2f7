"""The segmentation service's work, independent of gRPC: load a model, segment a subject, store it.

Stages run through Triton (``BackendStage`` over ``TritonBackend``) when ``TESSERA_TRITON_URL``
is set, else in-process onnxruntime (``OnnxRuntimeBackend`` over the same model repository).
"""

from __future__ import annotations

import gzip
import hashlib
import threading
from collections.abc import Sequence

import nibabel as nib
import numpy as np

from tessera.core.runtime import ServiceRuntime
from tessera.segmentation.export import BackendStage
from tessera.segmentation.model_card import ModelCard, load_card
from tessera.segmentation.segmenter import Segmenter, SegmentOutcome
from tessera.segmentation.settings import SegmentationSettings
from tessera.segmentation.volumes import SubjectVolumes, load_subject
from tessera.v1 import common_pb2

NIFTI_GZ = "application/x-nifti-gz"


class SegmentationService:
    def __init__(self, runtime: ServiceRuntime):
        self.runtime = runtime
        self.settings: SegmentationSettings = runtime.settings  # type: ignore[assignment]
        self._loaded: set[tuple[str, int]] = set()
        self._lock = threading.Lock()

    def card(self, model: str = "") -> ModelCard:
        return load_card(self.runtime.store, model or self.settings.segmentation_default_model)

    def segmenter(self, card: ModelCard) -> Segmenter:
        backend = self.runtime.inference
        with self._lock:  # load each stage once per process (Triton: explicit model control)
            if (card.name, card.version) not in self._loaded:
                for stage in (1, 2):
                    backend.load(card.stage_model(stage), str(card.version))
                self._loaded.add((card.name, card.version))
        return Segmenter(card, BackendStage(backend, card.stage_model(1), str(card.version)),
                         BackendStage(backend, card.stage_model(2), str(card.version)))

    def subject(self, images: Sequence[tuple[str, nib.Nifti1Image]], card: ModelCard) -> SubjectVolumes:
        return load_subject(images, card.contrasts, max_voxels=self.settings.segmentation_max_voxels)

    def segment(
        self, subject: SubjectVolumes, card: ModelCard, key: str
    ) -> tuple[SegmentOutcome, common_pb2.ArtifactRef]:
        """Segment and store the label map at ``<results prefix>/<key>/labels.nii.gz``."""
        outcome = self.segmenter(card).segment(subject)
        image = nib.Nifti1Image(outcome.labels.astype(np.uint8), subject.affine)
        image.header.set_xyzt_units("mm")
        info = self.runtime.store.put_bytes(f"{self.settings.segmentation_results_prefix}/{key}/labels.nii.gz",
                                            gzip.compress(image.to_bytes(), mtime=0), media_type=NIFTI_GZ)
        return outcome, info.to_proto()


def expected_dice_cost(card: ModelCard, missing: Sequence[str]) -> float:
    """Mean-Dice drop the benchmark measured for these missing contrasts (sum of single-contrast
    drops, capped at the full Dice); 0 when the card has no such measurement."""
    table = card.metrics.get("dice_with_missing", {})
    full = table.get("none")
    if not missing or full is None:
        return 0.0
    cost = sum(max(full - table.get(contrast, full), 0.0) for contrast in missing)
    return float(min(cost, full))


def request_key(payloads: Sequence[bytes], model: str) -> str:
    """Deterministic result key of a request: the same volumes and model give the same key."""
    digest = hashlib.sha256(model.encode())
    for payload in payloads:
        digest.update(hashlib.sha256(payload).digest())
    return digest.hexdigest()[:32]
