"""``SegmentationServicer``: the gRPC face of the segmentation service."""

from __future__ import annotations

import grpc

from tessera.core.artifacts.factory import open_uri
from tessera.core.errors import InvalidArgument
from tessera.core.server import ServiceRegistration
from tessera.segmentation.service import SegmentationService, expected_dice_cost, request_key
from tessera.segmentation.volumes import parse_nifti
from tessera.v1 import common_pb2, segmentation_pb2, segmentation_pb2_grpc

TASK_MODELS = {"tissue": "seg-tissue", "deep": "seg-deep"}


class SegmentationServicer(segmentation_pb2_grpc.SegmentationServicer):
    def __init__(self, service: SegmentationService, trainer: object | None = None):
        self.service = service
        self.runtime = service.runtime
        self.trainer = trainer

    def _model_name(self, request: segmentation_pb2.SegmentRequest) -> str:
        if request.model:
            return request.model
        if request.task:
            if request.task not in TASK_MODELS:
                raise InvalidArgument.field("task", f"must be one of {sorted(TASK_MODELS)}, got {request.task!r}")
            return TASK_MODELS[request.task]
        return self.service.settings.segmentation_default_model

    def _segment(self, request: segmentation_pb2.SegmentRequest) -> segmentation_pb2.SegmentResponse:
        card = self.service.card(self._model_name(request))
        payloads, images = [], []
        for i, volume in enumerate(request.volumes):
            where = f"volumes[{i}]"
            if volume.HasField("nifti"):
                data = volume.nifti
            elif volume.HasField("ref"):
                data = b"".join(open_uri(volume.ref.uri, self.runtime.settings, expected_sha256=volume.ref.sha256))
            else:
                raise InvalidArgument.field(f"{where}.source", "set nifti (bytes) or ref (artifact)")
            payloads.append(volume.contrast.encode() + data)
            images.append((volume.contrast, parse_nifti(data, f"{where}.nifti")))
        subject = self.service.subject(images, card)
        outcome, labels = self.service.segment(subject, card, request_key(payloads, f"{card.name}:{card.version}"))
        return segmentation_pb2.SegmentResponse(
            labels=labels,
            volumes=[segmentation_pb2.ClassVolume(label=idx, name=name, volume_ml=outcome.volumes_ml.get(name, 0.0))
                     for idx, name in sorted(card.class_names.items()) if idx != 0],
            timings=[segmentation_pb2.StageTiming(stage=k, seconds=v) for k, v in outcome.timings_s.items()],
            missing_contrasts=outcome.missing,
            expected_dice_cost=expected_dice_cost(card, outcome.missing),
            stage2_fraction=outcome.stage2_fraction,
            model=card.name,
            model_version=str(card.version),
        )

    async def Segment(
        self, request: segmentation_pb2.SegmentRequest, context: grpc.aio.ServicerContext
    ) -> segmentation_pb2.SegmentResponse:
        if not request.volumes:
            raise InvalidArgument.field("volumes", "must hold at least one contrast volume")
        return await self.runtime.service.run_blocking(self._segment, request)

    async def Train(self, request: segmentation_pb2.TrainRequest, context: grpc.aio.ServicerContext) -> common_pb2.Job:
        if self.trainer is None:
            raise InvalidArgument.field("task", "training is not enabled in this deployment")
        return await self.runtime.service.run_blocking(self.trainer.start, request)  # type: ignore[attr-defined]

    def registration(self) -> ServiceRegistration:
        return ServiceRegistration(segmentation_pb2.DESCRIPTOR.services_by_name["Segmentation"].full_name,
                                   segmentation_pb2_grpc.add_SegmentationServicer_to_server, self)
