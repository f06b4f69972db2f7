"""Settings of the clustering service (``TESSERA_CLUSTERING_*`` on top of ``TESSERA_*``)."""

from __future__ import annotations

from pydantic import Field

from tessera.core.settings import TesseraSettings


class ClusteringSettings(TesseraSettings):
    service_name: str = "clustering"
    clustering_max_sync_points: int = Field(5_000, gt=0, description="Most points a synchronous Cluster call "
                                            "accepts; larger sets go through ClusterJob.")
    clustering_max_job_points: int = Field(2_000_000, gt=0, description="Most points a ClusterJob or "
                                           "SuggestParameters table may hold.")
    clustering_max_table_bytes: int = Field(4 * 1024**3, gt=0, description="Largest input table read from the "
                                            "artifact store, bytes.")
    clustering_results_prefix: str = Field("clustering/results", description="Where job outputs are stored "
                                           "(<prefix>/<job id>/labels.parquet, summary.parquet, map.png, series.png).")
    clustering_progress_interval_s: float = Field(1.0, ge=0, description="Least time between two progress "
                                                  "records of a job within one phase.")
