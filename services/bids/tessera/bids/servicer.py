"""``BidsServicer``: the gRPC face of the bids service; long work goes to jobs (see worker.py)."""

from __future__ import annotations

import asyncio
import re
import tempfile
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import grpc

from tessera.bids.convert_proto import plan_to_proto
from tessera.bids.edit import apply_edits
from tessera.bids.settings import BidsSettings
from tessera.core.errors import InvalidArgument
from tessera.core.jobs.records import validate_job_id
from tessera.core.server import ServiceRegistration
from tessera.v1 import bids_pb2, bids_pb2_grpc, common_pb2

if TYPE_CHECKING:
    from tessera.bids.worker import BidsWorker
    from tessera.core.runtime import ServiceRuntime

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
ARCHIVE_MEDIA_TYPE = "application/octet-stream"


class BidsServicer(bids_pb2_grpc.BidsServicer):
    def __init__(self, runtime: ServiceRuntime, worker: BidsWorker):
        self.runtime = runtime
        self.worker = worker
        self.settings: BidsSettings = runtime.settings  # type: ignore[assignment]
        self._plan_locks: dict[str, asyncio.Lock] = {}

    async def Upload(
        self, request_iterator: AsyncIterator[bids_pb2.UploadRequest], context: grpc.aio.ServicerContext
    ) -> common_pb2.ArtifactRef:
        first = await anext(aiter(request_iterator), None)
        if first is None or not first.HasField("info"):
            raise InvalidArgument.field("info", "the first message must carry info (filename, size)")
        limit = self.settings.bids_max_upload_bytes
        if first.info.size > limit:
            raise InvalidArgument.field("info.size", f"{first.info.size} bytes exceeds the limit of {limit}")
        name = _SAFE_NAME.sub("_", first.info.filename).strip("._") or "upload"
        with tempfile.TemporaryFile() as spool:
            received = 0
            async for message in request_iterator:
                if not message.HasField("chunk"):
                    raise InvalidArgument.field("info", "info may only be sent in the first message")
                received += len(message.chunk)
                if received > limit:
                    raise InvalidArgument.field("chunk", f"upload exceeds the limit of {limit} bytes")
                spool.write(message.chunk)
            if received == 0:
                raise InvalidArgument.field("chunk", "the upload is empty")
            if first.info.size and received != first.info.size:
                raise InvalidArgument.field("info.size", f"announced {first.info.size} bytes, received {received}")
            spool.seek(0)
            key = f"bids/archives/{uuid.uuid4().hex}/{name}"
            info = await self.runtime.service.run_blocking(
                self.runtime.store.put_stream, key, spool, size=received, media_type=ARCHIVE_MEDIA_TYPE
            )
        return info.to_proto()

    async def StartIngest(
        self, request: bids_pb2.StartIngestRequest, context: grpc.aio.ServicerContext
    ) -> common_pb2.Job:
        if not request.HasField("archive") or not request.archive.uri:
            raise InvalidArgument.field("archive.uri", "must name the archive (an ArtifactRef from Upload)")
        return await self.runtime.service.run_blocking(
            self.worker.start_ingest, request.archive, auto_finalize=request.auto_finalize,
            dataset_name=request.dataset_name, keep_fields=list(request.keep_fields),
        )

    async def GetPlan(self, request: bids_pb2.GetPlanRequest, context: grpc.aio.ServicerContext) -> bids_pb2.BidsPlan:
        validate_job_id(request.upload_id, "upload_id")
        plan = await self.runtime.service.run_blocking(self.worker.load_plan, request.upload_id)
        return plan_to_proto(plan)

    async def UpdatePlan(
        self, request: bids_pb2.UpdatePlanRequest, context: grpc.aio.ServicerContext
    ) -> bids_pb2.BidsPlan:
        validate_job_id(request.upload_id, "upload_id")
        # One edit at a time per plan in this process; expected_version guards across replicas.
        async with self._plan_locks.setdefault(request.upload_id, asyncio.Lock()):
            plan = await self.runtime.service.run_blocking(self.worker.load_plan, request.upload_id)
            edited = apply_edits(plan, request)
            await self.runtime.service.run_blocking(self.worker.save_plan, edited)
        return plan_to_proto(edited)

    async def Finalize(self, request: bids_pb2.FinalizeRequest, context: grpc.aio.ServicerContext) -> common_pb2.Job:
        validate_job_id(request.upload_id, "upload_id")
        return await self.runtime.service.run_blocking(
            self.worker.start_finalize, request.upload_id, keep_fields=list(request.keep_fields)
        )

    def registration(self) -> ServiceRegistration:
        return ServiceRegistration(
            bids_pb2.DESCRIPTOR.services_by_name["Bids"].full_name, bids_pb2_grpc.add_BidsServicer_to_server, self
        )
