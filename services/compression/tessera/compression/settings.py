"""Settings of the compression service (``TESSERA_COMPRESSION_*`` on top of ``TESSERA_*``)."""

from __future__ import annotations

from pydantic import Field

from tessera.core.settings import TesseraSettings


class CompressionSettings(TesseraSettings):
    service_name: str = "compression"
    compression_results_prefix: str = Field("compression/results",
                                            description="Where Compress jobs store reports and plots.")
    compression_max_estimate_points: int = Field(1_000_000_000, gt=0,
                                                 description="Largest n EstimateTrainingAccuracy accepts.")
    compression_policy_json: str = Field(
        "[]",
        description=("Compress models announced on tessera.model.registered: a JSON list of rules "
                     '{"model_prefix": "cnn-", "method": "int8", "config": {...}, "dataset": "fashion-mnist"} '
                     '(or "dataset_uri": an NPZ artifact); "task": "segmentation" | "classification" matches only '
                     'models of that task (a segmentation rule defaults to method int8); "[]" consumes nothing.'),
    )
