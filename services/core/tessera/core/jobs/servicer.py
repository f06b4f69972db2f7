"""``JobsServicer``: the ``tessera.v1.Jobs`` gRPC service every Tessera service mounts."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc

from tessera.core.jobs.manager import JobManager
from tessera.core.jobs.records import validate_job_id
from tessera.core.server.bootstrap import GrpcService, ServiceRegistration
from tessera.v1 import common_pb2, common_pb2_grpc


class JobsServicer(common_pb2_grpc.JobsServicer):
    def __init__(self, jobs: JobManager, service: GrpcService):
        self.jobs = jobs
        self.service = service

    async def GetJob(self, request: common_pb2.GetJobRequest, context: grpc.aio.ServicerContext) -> common_pb2.Job:
        validate_job_id(request.id)
        return await self.service.run_blocking(self.jobs.get, request.id)

    async def WatchJob(
        self, request: common_pb2.WatchJobRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[common_pb2.Job]:
        validate_job_id(request.id)
        async for job in self.jobs.watch(request.id):
            yield job

    async def CancelJob(
        self, request: common_pb2.CancelJobRequest, context: grpc.aio.ServicerContext
    ) -> common_pb2.Job:
        validate_job_id(request.id)
        return await self.service.run_blocking(self.jobs.cancel, request.id)

    def registration(self) -> ServiceRegistration:
        return ServiceRegistration(
            common_pb2.DESCRIPTOR.services_by_name["Jobs"].full_name,
            common_pb2_grpc.add_JobsServicer_to_server,
            self,
        )
