"""``GraphServicer``: the gRPC face of the graph service (Train, Predict, ScoreOutsiders, Embed)."""

from __future__ import annotations

from collections.abc import Sequence

import grpc

from tessera.core.errors import InvalidArgument
from tessera.core.server import ServiceRegistration
from tessera.graph.bundle import Member
from tessera.graph.service import GraphService
from tessera.v1 import common_pb2, graph_pb2, graph_pb2_grpc


def member(ref: graph_pb2.NodeRef) -> Member:
    return Member(type=ref.type, id=int(ref.id), name=ref.name)


def members(sets: Sequence[graph_pb2.NodeSet]) -> list[list[Member]]:
    return [[member(ref) for ref in node_set.nodes] for node_set in sets]


class GraphServicer(graph_pb2_grpc.GraphServicer):
    def __init__(self, service: GraphService, trainer: object | None = None):
        self.service = service
        self.runtime = service.runtime
        self.trainer = trainer

    def _predict(self, request: graph_pb2.PredictHyperedgesRequest) -> graph_pb2.PredictHyperedgesResponse:
        card = self.service.card(request.model)
        result = self.service.score(card, members(request.sets))
        return graph_pb2.PredictHyperedgesResponse(scores=result.scores.astype(float).tolist(), model=card.name,
                                                   model_version=str(card.version))

    def _outsiders(self, request: graph_pb2.PredictHyperedgesRequest) -> graph_pb2.ScoreOutsidersResponse:
        card = self.service.card(request.model)
        result = self.service.score(card, members(request.sets))
        return graph_pb2.ScoreOutsidersResponse(
            sets=[graph_pb2.SetScores(node_scores=nodes.astype(float).tolist(), outsider=worst)
                  for nodes, worst in zip(result.node_scores, result.outsiders(), strict=True)],
            model=card.name, model_version=str(card.version))

    def _embed(self, request: graph_pb2.EmbedRequest) -> graph_pb2.EmbedResponse:
        card = self.service.card(request.model)
        found = self.service.embed(card, [member(ref) for ref in request.nodes])
        return graph_pb2.EmbedResponse(
            dim=int(found.vectors.shape[1]),
            nodes=[graph_pb2.NodeRef(type=m.type, id=m.id, name=m.name) for m in found.nodes],
            vectors=found.vectors.reshape(-1).tolist())

    async def Train(self, request: graph_pb2.GraphTrainRequest, context: grpc.aio.ServicerContext) -> common_pb2.Job:
        if self.trainer is None:
            raise InvalidArgument.field("data", "training is not enabled in this deployment")
        return await self.runtime.service.run_blocking(self.trainer.start, request)  # type: ignore[attr-defined]

    async def Predict(self, request: graph_pb2.PredictHyperedgesRequest,
                      context: grpc.aio.ServicerContext) -> graph_pb2.PredictHyperedgesResponse:
        return await self.runtime.service.run_blocking(self._predict, request)

    async def ScoreOutsiders(self, request: graph_pb2.PredictHyperedgesRequest,
                             context: grpc.aio.ServicerContext) -> graph_pb2.ScoreOutsidersResponse:
        return await self.runtime.service.run_blocking(self._outsiders, request)

    async def Embed(self, request: graph_pb2.EmbedRequest,
                    context: grpc.aio.ServicerContext) -> graph_pb2.EmbedResponse:
        return await self.runtime.service.run_blocking(self._embed, request)

    def registration(self) -> ServiceRegistration:
        return ServiceRegistration(graph_pb2.DESCRIPTOR.services_by_name["Graph"].full_name,
                                   graph_pb2_grpc.add_GraphServicer_to_server, self)
