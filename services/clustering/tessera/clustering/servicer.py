"""``ClusteringServicer``: the gRPC face of the clustering service (Cluster, ClusterJob, SuggestParameters)."""

from __future__ import annotations

import grpc
import numpy as np

from tessera.core.errors import InvalidArgument
from tessera.core.server import ServiceRegistration
from tessera.v1 import clustering_pb2, clustering_pb2_grpc, common_pb2

from .protocol import cluster_response, params_from_options, points_from_request, renamed, window_of
from .service import ClusteringService
from .tables import PointTable
from .worker import ClusteringWorker

DEFAULT_CURVE_POINTS = 100
DEFAULT_SAMPLE = 2000


def curve_quantiles(curve: np.ndarray, points: int) -> list[float]:
    """``points`` evenly spaced quantiles of an ascending curve (the whole curve when shorter)."""
    if curve.size <= points:
        return [float(v) for v in curve]
    return [float(v) for v in curve[np.linspace(0, curve.size - 1, points).round().astype(int)]]


class ClusteringServicer(clustering_pb2_grpc.ClusteringServicer):
    def __init__(self, service: ClusteringService, worker: ClusteringWorker):
        self.service = service
        self.worker = worker
        self.runtime = service.runtime

    def _cluster(self, request: clustering_pb2.ClusterRequest) -> clustering_pb2.ClusterResponse:
        params = params_from_options(request.options)
        table = points_from_request(request.points, request.channels, params.metric,
                                    limit=self.service.settings.clustering_max_sync_points)
        try:
            clustered = self.service.cluster(table, params)
        except InvalidArgument as error:
            raise renamed(error, options=request.options, points_prefix="points") from None
        response = cluster_response(table, clustered.result, clustered.summaries)
        if request.plots:
            response.map_png, response.series_png = self.service.plots(clustered, "clusters")
        return response

    def _suggest(self, request: clustering_pb2.SuggestParametersRequest) -> clustering_pb2.SuggestParametersResponse:
        if request.points and request.table.uri:
            raise InvalidArgument.field("table", "give the points or a table, not both")
        metric = request.metric or "greatcircle"
        table: PointTable
        if request.table.uri:
            fmt, ref = self.service.check_table_ref(request.table, request.format)
            table = self.service.load_table(ref, fmt)
        else:
            table = points_from_request(request.points, request.channels, metric,
                                        limit=self.service.settings.clustering_max_job_points)
        if request.sample < 0 or request.curve_points < 0:
            raise InvalidArgument.field("sample" if request.sample < 0 else "curve_points", "must be >= 0")
        try:
            limits = self.service.suggest(
                table, int(request.minimum_neighbors), metric=metric, window=window_of(request),
                z_normalization=request.z_normalization, sample=request.sample or DEFAULT_SAMPLE,
                seed=int(request.seed))
        except InvalidArgument as error:
            rows = None if request.table.uri else "points"
            raise renamed(error, options_prefix="", options=request, points_prefix=rows) from None
        points = request.curve_points or DEFAULT_CURVE_POINTS
        return clustering_pb2.SuggestParametersResponse(
            s_limit=limits.s_limit, t_limit=limits.t_limit, points=len(table.ids),
            spatial_curve=curve_quantiles(limits.spatial_curve, points),
            temporal_curve=curve_quantiles(limits.temporal_curve, points))

    async def Cluster(
        self, request: clustering_pb2.ClusterRequest, context: grpc.aio.ServicerContext
    ) -> clustering_pb2.ClusterResponse:
        return await self.runtime.service.run_blocking(self._cluster, request)

    async def ClusterJob(
        self, request: clustering_pb2.ClusterJobRequest, context: grpc.aio.ServicerContext
    ) -> common_pb2.Job:
        return await self.runtime.service.run_blocking(self.worker.start, request)

    async def SuggestParameters(
        self, request: clustering_pb2.SuggestParametersRequest, context: grpc.aio.ServicerContext
    ) -> clustering_pb2.SuggestParametersResponse:
        return await self.runtime.service.run_blocking(self._suggest, request)

    def registration(self) -> ServiceRegistration:
        return ServiceRegistration(clustering_pb2.DESCRIPTOR.services_by_name["Clustering"].full_name,
                                   clustering_pb2_grpc.add_ClusteringServicer_to_server, self)
