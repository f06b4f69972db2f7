"""The clustering service's work, independent of gRPC: read point tables from the artifact store,
run SCADDA, summarise, draw and store the outputs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

import numpy as np

from tessera.core.artifacts.base import ArtifactInfo
from tessera.core.artifacts.factory import open_uri, store_for_uri
from tessera.core.errors import InvalidArgument
from tessera.core.runtime import ServiceRuntime
from tessera.v1 import common_pb2

from .params import ScaddaParams
from .plots import cluster_map_png, mean_series_png
from .scadda import Progress, ScaddaResult, scadda
from .settings import ClusteringSettings
from .suggest import SuggestedLimits, suggest_limits
from .summary import ClusterSummary, summarise
from .tables import PointTable, labels_frame, points_from_frame, read_table, summary_frame, to_parquet

PARQUET = "application/vnd.apache.parquet"
PNG = "image/png"
FORMATS = ("parquet", "csv")


@dataclass(frozen=True)
class Clustered:
    """One run: the table, SCADDA's result and one summary per cluster."""

    table: PointTable
    result: ScaddaResult
    summaries: list[ClusterSummary]


@dataclass(frozen=True)
class StoredOutputs:
    labels: ArtifactInfo
    summary: ArtifactInfo
    map: ArtifactInfo
    series: ArtifactInfo

    def refs(self) -> list[common_pb2.ArtifactRef]:
        return [info.to_proto() for info in (self.labels, self.summary, self.map, self.series)]


def table_format(uri: str, declared: str, field: str = "format") -> str:
    """``parquet`` or ``csv``: the declared one, else from the uri's suffix (.parquet/.pq, .csv/.csv.gz)."""
    if declared:
        if declared.lower() not in FORMATS:
            raise InvalidArgument.field(field, f"must be one of {FORMATS}, got {declared!r}")
        return declared.lower()
    name = PurePosixPath(uri).name.lower()
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith((".csv", ".csv.gz")):
        return "csv"
    raise InvalidArgument.field(field, f"cannot tell the format of {name!r} from its suffix: set parquet or csv")


class ClusteringService:
    def __init__(self, runtime: ServiceRuntime):
        self.runtime = runtime
        self.settings: ClusteringSettings = runtime.settings  # type: ignore[assignment]

    # inputs ------------------------------------------------------------------------------------
    def check_table_ref(
        self, ref: common_pb2.ArtifactRef, declared_format: str, field: str = "table"
    ) -> tuple[str, common_pb2.ArtifactRef]:
        """Raise unless ``ref`` names a readable object of a known format within the size limit;
        returns the format and the ref completed from the store (size, media type, and the digest
        when the ref had none, so a job reads the bytes it was given). ``NotFound`` when absent."""
        if not ref.uri:
            raise InvalidArgument.field(f"{field}.uri", "must name a Parquet or CSV table (s3://bucket/key)")
        fmt = table_format(ref.uri, declared_format)
        try:
            store, key = store_for_uri(ref.uri, self.settings)
        except InvalidArgument as error:
            raise InvalidArgument.field(f"{field}.uri", "; ".join(v.description for v in error.violations)) from None
        info = store.stat(key)
        if info.size > self.settings.clustering_max_table_bytes:
            raise InvalidArgument.field(f"{field}.uri", f"{info.size} bytes exceed the limit of "
                                        f"{self.settings.clustering_max_table_bytes}")
        if ref.sha256 and ref.sha256.lower() != info.sha256:
            raise InvalidArgument.field(f"{field}.sha256", f"does not match the stored object's digest {info.sha256}")
        return fmt, common_pb2.ArtifactRef(uri=ref.uri, sha256=info.sha256, size=info.size,
                                           media_type=ref.media_type or info.media_type)

    def load_table(self, ref: common_pb2.ArtifactRef, fmt: str) -> PointTable:
        """The point table ``ref`` names (digest checked when the ref carries one); problems name the
        column and the first bad row."""
        data = b"".join(open_uri(ref.uri, self.settings, expected_sha256=ref.sha256))
        table = points_from_frame(read_table(data, f"table.{fmt}"))
        if len(table.ids) > self.settings.clustering_max_job_points:
            raise InvalidArgument.field("table", f"{len(table.ids)} points exceed the limit of "
                                        f"{self.settings.clustering_max_job_points}")
        return table

    # work --------------------------------------------------------------------------------------
    def cluster(self, table: PointTable, params: ScaddaParams, progress: Progress | None = None) -> Clustered:
        result = scadda(table.coords, table.series, params, weights=table.weights, progress=progress)
        return Clustered(table, result, summarise(table.coords, table.series, result.labels, result.core))

    def suggest(self, table: PointTable, minimum_neighbors: int, *, metric: str, window: int | float | None,
                z_normalization: bool, sample: int, seed: int) -> SuggestedLimits:
        if minimum_neighbors < 1:
            raise InvalidArgument.field("minimum_neighbors", f"must be >= 1, got {minimum_neighbors}")
        if len(table.ids) < minimum_neighbors + 1:
            raise InvalidArgument.field("minimum_neighbors", f"{len(table.ids)} points cannot give any point "
                                        f"{minimum_neighbors} neighbours")
        if metric not in ("greatcircle", "euclidean"):
            raise InvalidArgument.field("metric", f"must be greatcircle or euclidean, got {metric!r}")
        series: Sequence[np.ndarray] = table.series
        return suggest_limits(table.coords, series, minimum_neighbors, metric=metric,  # type: ignore[arg-type]
                              window=window, z_normalization=z_normalization, sample=sample, seed=seed)

    # outputs -----------------------------------------------------------------------------------
    @staticmethod
    def plots(clustered: Clustered, title: str) -> tuple[bytes, bytes]:
        """(map PNG, mean-series PNG)."""
        return (cluster_map_png(clustered.table.coords, clustered.result.labels, title=title),
                mean_series_png(clustered.summaries, title=f"{title}: cluster mean series"))

    def store_outputs(self, key: str, clustered: Clustered, title: str) -> StoredOutputs:
        """Write ``<results prefix>/<key>/{labels,summary}.parquet`` and ``{map,series}.png``; the
        same key and input give the same objects (a resumed or replayed job rewrites them)."""
        prefix = f"{self.settings.clustering_results_prefix}/{key}"
        store = self.runtime.store
        map_png, series_png = self.plots(clustered, title)
        return StoredOutputs(
            labels=store.put_bytes(f"{prefix}/labels.parquet", to_parquet(labels_frame(clustered.table,
                                                                                        clustered.result)),
                                   media_type=PARQUET),
            summary=store.put_bytes(f"{prefix}/summary.parquet", to_parquet(summary_frame(clustered.summaries)),
                                    media_type=PARQUET),
            map=store.put_bytes(f"{prefix}/map.png", map_png, media_type=PNG),
            series=store.put_bytes(f"{prefix}/series.png", series_png, media_type=PNG),
        )
