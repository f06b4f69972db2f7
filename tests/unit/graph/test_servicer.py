"""The graph service in-process (gRPC on a loopback port, local artifact store, onnxruntime): Train jobs from a
long CSV table and an npz, Predict of mixed sizes equal to sets scored one at a time, ScoreOutsiders, Embed,
bad requests named field by field, and a training set of duplicates failing its job with a message."""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pandas as pd
import pytest

from tessera.core.jobs import state_name
from tessera.core.runtime import ServiceRuntime
from tessera.core.server import field_violations
from tessera.core.settings import load_settings
from tessera.graph.export import make_session
from tessera.graph.registry import load_card, load_embeddings
from tessera.graph.server import build
from tessera.graph.settings import GraphSettings
from tessera.v1 import common_pb2, common_pb2_grpc, graph_pb2, graph_pb2_grpc

from .synthetic import planted_typed, planted_variable


class Running:
    def __init__(self, root: Path, **overrides: object):
        settings = load_settings(GraphSettings, artifacts_uri=root.as_uri(), grpc_host="127.0.0.1", grpc_port=0,
                                 metrics_port=0, graph_infer_batch=7,  # 7: several inference calls per request
                                 **overrides)
        self.runtime: ServiceRuntime = build(settings)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.runtime.service.start(), self.loop).result(30)
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.runtime.service.port}")
        self.graph = graph_pb2_grpc.GraphStub(self.channel)
        self.jobs = common_pb2_grpc.JobsStub(self.channel)

    def put(self, key: str, payload: bytes) -> common_pb2.ArtifactRef:
        info = self.runtime.store.put_bytes(key, payload)
        return common_pb2.ArtifactRef(uri=info.uri, sha256=info.sha256)

    def finish(self, job: common_pb2.Job) -> list[common_pb2.Job]:
        return list(self.jobs.WatchJob(common_pb2.WatchJobRequest(id=job.id), timeout=300))

    def stop(self) -> None:
        self.channel.close()
        asyncio.run_coroutine_threadsafe(self.runtime.service.stop(1.0), self.loop).result(30)
        self.runtime.jobs.shutdown()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def _long_csv() -> bytes:
    """planted_variable as a long table whose nodes are names (c0 .. c39)."""
    graph = planted_variable(n_nodes=40, n_edges=200)
    rows = [(f"e{i}", f"c{v}") for i, edge in enumerate(graph.edges) for v in edge]
    return pd.DataFrame(rows, columns=["edge_id", "node"]).to_csv(index=False).encode()


def _npz(split: str, edges: np.ndarray, counts: list[int]) -> bytes:
    buffer = io.BytesIO()
    arrays: dict[str, np.ndarray] = {f"{split}_data": edges, "nums_type": np.asarray(counts)}
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    return buffer.getvalue()


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    running = Running(tmp_path_factory.mktemp("graph-store"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def named_model(svc: Running) -> list[common_pb2.Job]:
    ref = svc.put("data/scenes.csv", _long_csv())
    job = svc.graph.Train(graph_pb2.GraphTrainRequest(data=ref, max_epochs=3, dim=8, model="named", seed=1))
    return svc.finish(job)


def test_train_job_reports_epochs_and_publishes_card_model_embeddings(svc: Running,
                                                                      named_model: list[common_pb2.Job]) -> None:
    final = named_model[-1]
    assert state_name(final.state) == "SUCCEEDED", final.error.message
    assert any("val AUC" in u.progress_message and "loss" in u.progress_message for u in named_model)
    assert [r.uri.rsplit("/", 1)[-1] for r in final.results] == ["card.json", "model.onnx"]
    card = load_card(svc.runtime.store, "graph/models", "named")
    assert card.version == 1 and card.type_names == ["node"] and card.node_counts == [40]
    assert 1 <= len(card.history) <= 3 and 0.0 <= card.metrics["val_auc"] <= 1.0
    assert card.metrics["export_max_abs_diff"] < 1e-4 and card.column_types is None
    assert load_embeddings(svc.runtime.store, "graph/models", card).shape == (40, 8)


def test_predict_mixed_sizes_equals_each_set_alone(svc: Running, named_model: list[common_pb2.Job]) -> None:
    rng = np.random.default_rng(0)
    sets = [[f"c{v}" for v in rng.choice(40, size, replace=False)] for size in [2, 5, 3, 2, 4, 6, 3, 2, 5, 3, 4, 2]]
    request = graph_pb2.PredictHyperedgesRequest(model="named", sets=[
        graph_pb2.NodeSet(nodes=[graph_pb2.NodeRef(name=n) for n in s]) for s in sets])
    batch = svc.graph.Predict(request, timeout=60)
    assert batch.model == "named" and batch.model_version == "1" and len(batch.scores) == len(sets)
    card = load_card(svc.runtime.store, "graph/models", "named")
    labels = {name: i for i, name in enumerate(card.node_labels[0])}  # type: ignore[index]
    session = make_session(svc.runtime.models.model_bytes("named")[1])
    for s, score in zip(sets, batch.scores, strict=True):
        ids = np.array([[labels[n] + 1 for n in s]], dtype=np.int64)
        alone, _ = session.run(None, {"ids": ids, "mask": np.ones(ids.shape, np.float32)})
        assert score == pytest.approx(float(alone[0]), abs=1e-5)
    outsiders = svc.graph.ScoreOutsiders(request, timeout=60)
    for s, scored in zip(sets, outsiders.sets, strict=True):
        assert len(scored.node_scores) == len(s)
        assert scored.outsider == int(np.argmin(scored.node_scores))
    assert np.mean(outsiders.sets[0].node_scores) == pytest.approx(batch.scores[0], abs=1e-5)


def test_embed_all_nodes_and_by_name(svc: Running, named_model: list[common_pb2.Job]) -> None:
    every = svc.graph.Embed(graph_pb2.EmbedRequest(model="named"), timeout=60)
    assert every.dim == 8 and len(every.nodes) == 40 and len(every.vectors) == 40 * 8
    table = np.asarray(every.vectors).reshape(40, 8)
    some = svc.graph.Embed(graph_pb2.EmbedRequest(model="named", nodes=[graph_pb2.NodeRef(name="c7")]), timeout=60)
    row = [n.name for n in every.nodes].index("c7")
    assert some.nodes[0].name == "c7" and some.nodes[0].id == row
    np.testing.assert_allclose(some.vectors, table[row], rtol=1e-6)


def test_bad_requests_name_the_set_and_field(svc: Running, named_model: list[common_pb2.Job]) -> None:
    def refs(*names: str) -> graph_pb2.NodeSet:
        return graph_pb2.NodeSet(nodes=[graph_pb2.NodeRef(name=n) for n in names])

    cases = [
        ([refs("c1", "c2"), refs("c3")], "sets[1].nodes"),
        ([refs("c1", "nobody")], "sets[0].nodes[1].name"),
        ([graph_pb2.NodeSet(nodes=[graph_pb2.NodeRef(id=1), graph_pb2.NodeRef(id=99)])], "sets[0].nodes[1].id"),
        ([graph_pb2.NodeSet(nodes=[graph_pb2.NodeRef(type="movie", id=1), graph_pb2.NodeRef(id=2)])],
         "sets[0].nodes[0].type"),
        ([], "sets"),
    ]
    for sets, field in cases:
        with pytest.raises(grpc.RpcError) as err:
            svc.graph.Predict(graph_pb2.PredictHyperedgesRequest(model="named", sets=sets), timeout=60)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert [f for f, _ in field_violations(err.value)] == [field]
    with pytest.raises(grpc.RpcError) as err:
        svc.graph.Predict(graph_pb2.PredictHyperedgesRequest(model="absent", sets=[refs("a", "b")]), timeout=60)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND and "absent" in (err.value.details() or "")
    with pytest.raises(grpc.RpcError) as err:
        svc.graph.Train(graph_pb2.GraphTrainRequest(
            data=common_pb2.ArtifactRef(uri="s3://b/graph.xlsx"), features="magic", max_epochs=-1, dim=2,
            validation_fraction=0.9, model="bad name"), timeout=30)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [f for f, _ in field_violations(err.value)] == [
        "format", "features", "max_epochs", "validation_fraction", "dim", "model"]


def test_typed_npz_with_test_edges_and_fixed_arity_checks(svc: Running) -> None:
    graph = planted_typed(n_per_type=20, n_edges=160)
    local = np.stack(graph.edges) - np.array([0, 20, 40])
    data = svc.put("data/GPS/train_data.npz", _npz("train", local[:140], [20, 20, 20]))
    test = svc.put("data/GPS/test_data.npz", _npz("test", local[140:], [20, 20, 20]))
    job = svc.graph.Train(graph_pb2.GraphTrainRequest(data=data, test_data=test, max_epochs=2, dim=8, model="typed"))
    final = svc.finish(job)[-1]
    assert state_name(final.state) == "SUCCEEDED", final.error.message
    card = load_card(svc.runtime.store, "graph/models", "typed")
    assert card.type_names == ["user", "location", "activity"] and card.column_types == [0, 1, 2]
    assert {"test_auc", "test_aupr", "test_rare_share"} <= set(card.metrics)
    # The split by the rarest member's training degree covers every test edge: its parts average to the AUC.
    rare = card.metrics["test_rare_share"]
    parts = rare * card.metrics.get("test_auc_rare", 0.0) + (1 - rare) * card.metrics.get("test_auc_other", 0.0)
    assert parts == pytest.approx(card.metrics["test_auc"], abs=1e-9)
    node = graph_pb2.NodeRef
    ok = graph_pb2.NodeSet(nodes=[node(type="activity", id=3), node(type="user", id=1), node(type="location", id=2)])
    reply = svc.graph.Predict(graph_pb2.PredictHyperedgesRequest(model="typed", sets=[ok]), timeout=60)
    assert 0.0 <= reply.scores[0] <= 1.0
    two = graph_pb2.NodeSet(nodes=[node(type="user", id=1), node(type="location", id=2)])
    with pytest.raises(grpc.RpcError) as err:
        svc.graph.Predict(graph_pb2.PredictHyperedgesRequest(model="typed", sets=[ok, two]), timeout=60)
    assert field_violations(err.value)[0][0] == "sets[1].nodes"
    assert "fixed-arity" in field_violations(err.value)[0][1]


def test_empty_test_data_fails_the_job_naming_the_field(svc: Running) -> None:
    local = np.stack(planted_typed(n_per_type=20, n_edges=60).edges) - np.array([0, 20, 40])
    data = svc.put("data/empty-test/train_data.npz", _npz("train", local, [20, 20, 20]))
    test = svc.put("data/empty-test/test_data.npz", _npz("test", np.zeros((0, 3), dtype=np.int64), [20, 20, 20]))
    job = svc.graph.Train(graph_pb2.GraphTrainRequest(data=data, test_data=test, max_epochs=1, dim=8, model="e"))
    final = svc.finish(job)[-1]
    assert state_name(final.state) == "FAILED"
    assert final.error.code == "INVALID_ARGUMENT" and "test_data" in final.error.message
    assert "no hyperedges" in final.error.message


def test_training_on_duplicates_only_fails_the_job_with_a_message(svc: Running) -> None:
    table = pd.DataFrame({"edge_id": ["a", "a", "b", "b"], "node": [1, 2, 2, 1]})
    job = svc.graph.Train(graph_pb2.GraphTrainRequest(data=svc.put("data/dup.csv", table.to_csv(index=False).encode()),
                                                      model="dup", max_epochs=1))
    final = svc.finish(job)[-1]
    assert state_name(final.state) == "FAILED"
    assert final.error.code == "INVALID_ARGUMENT" and "distinct hyperedge" in final.error.message


def test_train_jobs_run_on_the_configured_device_and_a_bad_one_fails_naming_it(
        svc: Running, tmp_path: Path) -> None:
    data = svc.put("data/v.csv", _long_csv())
    final = svc.finish(svc.graph.Train(graph_pb2.GraphTrainRequest(data=data, model="v-cpu", max_epochs=1)))[-1]
    assert state_name(final.state) == "SUCCEEDED", final.error.message
    assert load_card(svc.runtime.store, "graph/models", "v-cpu").training["device"] == "cpu"  # the default
    bad = Running(tmp_path, graph_train_device="no-such-device")
    try:
        data = bad.put("data/v.csv", _long_csv())
        final = bad.finish(bad.graph.Train(graph_pb2.GraphTrainRequest(data=data, model="v", max_epochs=1)))[-1]
    finally:
        bad.stop()
    assert state_name(final.state) == "FAILED"
    assert final.error.code == "INVALID_ARGUMENT" and "no-such-device" in final.error.message


def test_walk_feature_job_publishes_fine_tuned_walk_vectors_and_a_working_scorer(svc: Running) -> None:
    data = svc.put("data/walk.csv", _long_csv())
    final = svc.finish(svc.graph.Train(graph_pb2.GraphTrainRequest(data=data, model="walky", features="walk",
                                                                   max_epochs=2, dim=8, seed=2)))[-1]
    assert state_name(final.state) == "SUCCEEDED", final.error.message
    card = load_card(svc.runtime.store, "graph/models", "walky")
    assert card.features == "walk" and card.training["optimizer"] == "auto"  # auto: RMSprop for walk vectors
    table = load_embeddings(svc.runtime.store, "graph/models", card)
    assert table.shape == (40, 8) and np.isfinite(table).all() and table.std() > 0.1
    request = graph_pb2.PredictHyperedgesRequest(model="walky", sets=[
        graph_pb2.NodeSet(nodes=[graph_pb2.NodeRef(name=n) for n in ("c0", "c1", "c2")])])
    reply = svc.graph.Predict(request, timeout=60)
    assert len(reply.scores) == 1 and 0.0 <= reply.scores[0] <= 1.0
