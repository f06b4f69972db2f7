"""Settings of the segmentation service (``TESSERA_SEGMENTATION_*`` on top of ``TESSERA_*``)."""

from __future__ import annotations

from pydantic import Field

from tessera.core.settings import TesseraSettings


class SegmentationSettings(TesseraSettings):
    service_name: str = "segmentation"
    segmentation_default_model: str = Field("seg-tissue", description="Model Segment uses when none is named.")
    segmentation_max_voxels: int = Field(512**3, gt=0, description="Largest accepted input volume, voxels.")
    segmentation_results_prefix: str = Field("segmentation/results", description="Where label maps are stored.")
