"""The ``graph.train`` job: a hypergraph from the artifact store -> trained Hyper-SAGNN -> published model + event.

Inputs: the hypergraph (``.npz`` benchmark layout, or CSV / Parquet in the long or fixed-arity layout; see
:mod:`tessera.graph.loaders`) and, for ``.npz``, optional held-out test edges (never drawn as negatives; their
AUC/AUPR go into the card). Progress carries epoch, training loss and validation AUC / AUPR. On success the ONNX
scorer is the next version of the model in the Triton repository, the card and node embeddings sit beside it
(:mod:`tessera.graph.registry`), and ``tessera.graph.model.trained`` announces it. A graph without two distinct
hyperedges fails the job with INVALID_ARGUMENT naming ``data``.
"""

from __future__ import annotations

from pathlib import PurePosixPath

import numpy as np

from tessera.core.artifacts.base import ArtifactInfo
from tessera.core.artifacts.factory import open_uri, parse_artifact_uri
from tessera.core.errors import FieldViolation, InvalidArgument
from tessera.core.events import artifact_ref_json, topic_name
from tessera.core.inference.repository import validate_model_name
from tessera.core.jobs import JobContext
from tessera.graph.batching import pad_sets
from tessera.graph.bundle import GraphModelCard
from tessera.graph.export import check_export, export_scorer
from tessera.graph.hypergraph import Hypergraph
from tessera.graph.hypersagnn import NetworkConfig
from tessera.graph.loaders import BENCHMARK_TYPES, load_npz, load_table
from tessera.graph.negatives import NegativeSampler
from tessera.graph.registry import publish_model
from tessera.graph.service import GraphService
from tessera.graph.training import (
    FEATURES,
    TrainConfig,
    held_out_metrics,
    train,
)
from tessera.v1 import common_pb2, graph_pb2

TRAIN = "graph.train"
MODEL_TRAINED = topic_name("graph", "model.trained")
MODEL_TRAINED_TYPE = "tessera.graph.model.trained"
FORMATS = ("npz", "csv", "parquet")
SUFFIX_FORMATS = {".npz": "npz", ".csv": "csv", ".txt": "csv", ".parquet": "parquet", ".pq": "parquet"}
DEFAULTS = {"max_epochs": 30, "patience": 5, "validation_fraction": 0.1, "negatives": 5, "dim": 64}


def data_format(uri: str, declared: str, field: str = "format") -> str:
    """``declared`` if given, else from the key's suffix; InvalidArgument naming ``field`` otherwise."""
    if declared:
        if declared not in FORMATS:
            raise InvalidArgument.field(field, f"must be one of {FORMATS}, got {declared!r}")
        return declared
    suffix = PurePosixPath(uri).suffix.lower()
    if suffix not in SUFFIX_FORMATS:
        raise InvalidArgument.field(field, f"cannot tell the format of {uri!r} from its suffix; set format "
                                    f"({', '.join(FORMATS)})")
    return SUFFIX_FORMATS[suffix]


def request_problems(request: graph_pb2.GraphTrainRequest, max_epochs: int) -> list[FieldViolation]:
    """Every bad field of a Train request (empty when it is good)."""
    problems: list[FieldViolation] = []
    if not request.data.uri:
        problems.append(FieldViolation("data.uri", "the hypergraph to train on is required"))
    else:
        for field, check in (("data.uri", lambda: parse_artifact_uri(request.data.uri, "data.uri")),
                             ("format", lambda: data_format(request.data.uri, request.format))):
            try:
                check()
            except InvalidArgument as exc:
                problems.extend(exc.violations or [FieldViolation(field, str(exc))])
    if request.test_data.uri:
        if (request.format or PurePosixPath(request.data.uri).suffix.lower().lstrip(".")) != "npz":
            problems.append(FieldViolation("test_data", "held-out test edges are read from the npz layout only"))
        try:
            parse_artifact_uri(request.test_data.uri, "test_data.uri")
        except InvalidArgument as exc:
            problems.extend(exc.violations)
    if request.features and request.features not in FEATURES:
        problems.append(FieldViolation("features", f"must be one of {FEATURES}, got {request.features!r}"))
    if not 0 <= request.max_epochs <= max_epochs:
        problems.append(FieldViolation("max_epochs", f"must lie in [1, {max_epochs}] (0: {DEFAULTS['max_epochs']})"))
    if request.patience < 0:
        problems.append(FieldViolation("patience", "must not be negative"))
    if not 0.0 <= request.validation_fraction < 0.5:
        problems.append(FieldViolation("validation_fraction", "must lie in (0, 0.5) (0: 0.1)"))
    if not 0 <= request.negatives <= 50:
        problems.append(FieldViolation("negatives", "must lie in [1, 50] (0: 5)"))
    if not (request.dim == 0 or 4 <= request.dim <= 512):
        problems.append(FieldViolation("dim", "must lie in [4, 512] (0: 64)"))
    if request.model:
        try:
            validate_model_name(request.model, "model")
        except InvalidArgument as exc:
            problems.extend(exc.violations)
    return problems


def load_hypergraph(payload: bytes, fmt: str, uri: str, field: str = "data", split: str = "train") -> Hypergraph:
    """A hypergraph from bytes; npz node types are named after the benchmark folder (GPS, MovieLens, drug)."""
    try:
        if fmt == "npz":
            return load_npz(payload, split, BENCHMARK_TYPES.get(PurePosixPath(uri).parent.name))
        return load_table(payload, fmt)
    except InvalidArgument:
        raise
    except (ValueError, KeyError, OSError) as exc:  # unreadable bytes: name the input, not a traceback
        raise InvalidArgument.field(field, f"cannot read {uri} as {fmt}: {exc}") from None


class GraphWorker:
    def __init__(self, service: GraphService):
        self.service = service
        self.runtime = service.runtime
        self.settings = service.settings
        self.runtime.jobs.register(TRAIN, self.train)

    def start(self, request: graph_pb2.GraphTrainRequest) -> common_pb2.Job:
        problems = request_problems(request, self.settings.graph_max_epochs)
        if problems:
            raise InvalidArgument(problems)
        labels = {
            "format": data_format(request.data.uri, request.format),
            "features": request.features or "autoencoder",
            "max_epochs": str(request.max_epochs or DEFAULTS["max_epochs"]),
            "patience": str(request.patience or DEFAULTS["patience"]),
            "validation_fraction": str(request.validation_fraction or DEFAULTS["validation_fraction"]),
            "negatives": str(request.negatives or DEFAULTS["negatives"]),
            "dim": str(request.dim or DEFAULTS["dim"]),
            "model": request.model or self.settings.graph_default_model,
            "seed": str(request.seed),
        }
        inputs = [request.data] + ([request.test_data] if request.test_data.uri else [])
        return self.runtime.jobs.submit(TRAIN, inputs, labels=labels)

    def _read(self, ref: common_pb2.ArtifactRef) -> bytes:
        return b"".join(open_uri(ref.uri, self.settings, expected_sha256=ref.sha256))

    def train(self, ctx: JobContext) -> list[common_pb2.ArtifactRef]:
        labels, inputs = ctx.job.labels, list(ctx.job.inputs)
        fmt = labels["format"]
        ctx.progress(0.0, f"reading {inputs[0].uri}")
        graph = load_hypergraph(self._read(inputs[0]), fmt, inputs[0].uri)
        test = load_hypergraph(self._read(inputs[1]), "npz", inputs[1].uri, "test_data", "test") \
            if len(inputs) > 1 else None
        if test is not None and not test.edges:
            raise InvalidArgument.field("test_data", "has no hyperedges: nothing to measure the test AUC on")
        if test is not None and test.node_counts != graph.node_counts:
            raise InvalidArgument.field("test_data", f"node counts {test.node_counts} differ from the training "
                                        f"graph's {graph.node_counts}")
        max_epochs = int(labels["max_epochs"])
        config = TrainConfig(features=labels["features"], network=NetworkConfig(dim=int(labels["dim"])),
                             negatives=int(labels["negatives"]), max_epochs=max_epochs,
                             patience=int(labels["patience"]), validation_fraction=float(labels["validation_fraction"]),
                             seed=int(labels["seed"]), device=self.settings.graph_train_device)
        ctx.progress(0.02, f"{len(graph.edges)} hyperedges over {graph.n_nodes} nodes of {graph.n_types} type(s)")
        result = train(graph, config, extra_known=test.keys() if test is not None else None, progress=lambda r: (
            ctx.progress(0.05 + 0.85 * r.epoch / max_epochs, f"epoch {r.epoch}/{max_epochs}: loss {r.loss:.4f}, "
                         f"val AUC {r.val_auc:.4f}, val AUPR {r.val_aupr:.4f}")))
        metrics = {"val_auc": result.val_auc, "val_aupr": result.val_aupr, "best_epoch": float(result.best_epoch)}
        if test is not None:
            negatives = NegativeSampler(graph, result.known | test.keys(), config.negatives).sample(
                test.edges, np.random.default_rng(config.seed + 1000))
            # test_auc / test_aupr, and where held-out AUC is lost: test edges with a rarely seen member vs the rest.
            held_out = held_out_metrics(result.model, graph, test.edges, negatives)
            metrics.update({f"test_{name}": value for name, value in held_out.items()})
        ctx.progress(0.92, "exporting the scorer to ONNX")
        onnx_bytes = export_scorer(result.model)
        ids, mask = pad_sets(list(graph.edges[:64]))
        metrics["export_max_abs_diff"] = max(vars(check_export(result.model, onnx_bytes, ids, mask)).values())
        card = GraphModelCard.for_graph(
            labels["model"], 0, graph, features=config.features, dim=config.network.dim, metrics=metrics,
            history=[vars(h) for h in result.history],
            training={**config.to_dict(), "data": inputs[0].uri, "format": fmt, "job_id": ctx.job_id,
                      "test_data": inputs[1].uri if test is not None else ""})
        table = result.model.features.table()[1:].numpy()  # row 0 is padding
        card, card_info, model_info = publish_model(self.runtime.models, self.settings.graph_models_prefix, card,
                                                    onnx_bytes, table)
        ctx.progress(0.98, f"published {card.name} v{card.version}: val AUC {result.val_auc:.4f}")
        self._announce(ctx, card, card_info, model_info)
        return [card_info.to_proto(), model_info.to_proto()]

    def _announce(self, ctx: JobContext, card: GraphModelCard, card_info: ArtifactInfo,
                  model_info: ArtifactInfo) -> None:
        """``tessera.graph.model.trained`` (deterministic event id: a replayed job dedupes downstream)."""
        if self.runtime.publisher is None:
            return
        self.runtime.publisher.publish(MODEL_TRAINED, MODEL_TRAINED_TYPE, {
            "model": card.name, "version": card.version, "job_id": ctx.job_id,
            "card": artifact_ref_json(card_info), "onnx": artifact_ref_json(model_info),
            "metrics": card.metrics, "node_types": card.type_names, "node_counts": card.node_counts,
        }, key=card.name, event_id=f"{ctx.job_id}-trained")
