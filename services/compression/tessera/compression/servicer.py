"""``CompressionServicer``: the gRPC face of the compression service."""

from __future__ import annotations

import grpc

from tessera.compression.service import CompressionService
from tessera.compression.worker import CompressionWorker
from tessera.core.server import ServiceRegistration
from tessera.v1 import common_pb2, compression_pb2, compression_pb2_grpc


class CompressionServicer(compression_pb2_grpc.CompressionServicer):
    def __init__(self, service: CompressionService, worker: CompressionWorker):
        self.service = service
        self.worker = worker
        self.runtime = service.runtime

    async def EstimateTrainingAccuracy(
        self, request: compression_pb2.EstimateTrainingAccuracyRequest, context: grpc.aio.ServicerContext
    ) -> compression_pb2.EstimateTrainingAccuracyResponse:
        # Milliseconds of scipy: no need to leave the event loop.
        result = self.service.estimate(request.d, request.n, request.l)
        return compression_pb2.EstimateTrainingAccuracyResponse(
            training_accuracy=result.training_accuracy, regions=result.regions,
            points_per_region=result.points_per_region, method=result.method)

    async def Compress(self, request: compression_pb2.CompressRequest,
                       context: grpc.aio.ServicerContext) -> common_pb2.Job:
        return await self.runtime.service.run_blocking(self.worker.start, request)

    def registration(self) -> ServiceRegistration:
        return ServiceRegistration(compression_pb2.DESCRIPTOR.services_by_name["Compression"].full_name,
                                   compression_pb2_grpc.add_CompressionServicer_to_server, self)
