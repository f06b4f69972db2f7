"""The graph service through the real stack (broker, S3, Triton, its own server process): Train jobs on GPS (npz,
with its held-out test edges) and on the Les Misérables scenes (Parquet, sets of 2-9 named characters); Predict and
ScoreOutsiders through Triton equal in-process onnxruntime on the same published model, sets of mixed sizes in one
call; bad input named field by field; ``tessera.graph.model.trained`` announced for each job."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator

import grpc
import numpy as np
import pandas as pd
import pytest

from tessera.cli.up import RunningService, start_services
from tessera.core.artifacts.factory import open_store
from tessera.core.events import decode
from tessera.core.inference import ModelRepository
from tessera.core.inference.onnxruntime_backend import OnnxRuntimeBackend
from tessera.core.jobs import state_name
from tessera.core.server import field_violations
from tessera.demo.pipeline import read_topic, settings_for_stack
from tessera.devstack import DevStack
from tessera.graph.batching import pad_sets
from tessera.graph.bundle import Member, SetEncoder
from tessera.graph.loaders import load_lesmis
from tessera.graph.registry import load_card
from tessera.graph.worker import MODEL_TRAINED
from tessera.v1 import common_pb2, common_pb2_grpc, graph_pb2, graph_pb2_grpc
from tests.conftest import SHARED_DATA

pytestmark = pytest.mark.integration
GPS = SHARED_DATA / "hypergraph" / "GPS"
PREFIX = "graph/models"  # GraphSettings.graph_models_prefix default


@pytest.fixture(scope="module")
def graph_service(dev_stack: DevStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    service = start_services(dev_stack, tmp_path_factory.mktemp("graph-logs"), only=["graph"])[0]
    yield service
    service.process.stop()


@pytest.fixture(scope="module")
def channel(graph_service: RunningService) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(f"127.0.0.1:{graph_service.grpc_port}") as ch:
        yield ch


def _lesmis_parquet() -> bytes:
    graph = load_lesmis()
    labels = graph.node_labels[0]  # type: ignore[index]
    rows = [(f"scene{i}", labels[v]) for i, edge in enumerate(graph.edges) for v in edge]
    buffer = io.BytesIO()
    pd.DataFrame(rows, columns=["edge_id", "node"]).to_parquet(buffer, index=False)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def jobs(dev_stack: DevStack, channel: grpc.Channel) -> dict[str, list[common_pb2.Job]]:
    """Both Train jobs, each watched from its submission to its end: {model name: job updates}."""
    store = open_store(settings_for_stack(dev_stack))
    run = f"graph-itest/{time.time_ns()}"

    def ref(key: str, payload: bytes) -> common_pb2.ArtifactRef:
        info = store.put_bytes(f"{run}/{key}", payload)
        return common_pb2.ArtifactRef(uri=info.uri, sha256=info.sha256)

    stub, watch = graph_pb2_grpc.GraphStub(channel), common_pb2_grpc.JobsStub(channel)
    requests = {
        "gps-itest": graph_pb2.GraphTrainRequest(
            data=ref("GPS/train_data.npz", (GPS / "train_data.npz").read_bytes()),
            test_data=ref("GPS/test_data.npz", (GPS / "test_data.npz").read_bytes()),
            max_epochs=2, dim=16, model="gps-itest"),
        "lesmis-itest": graph_pb2.GraphTrainRequest(
            data=ref("lesmis/scenes.parquet", _lesmis_parquet()), max_epochs=3, dim=16, model="lesmis-itest"),
    }
    out = {}
    for name, request in requests.items():
        job = stub.Train(request, timeout=30)
        out[name] = list(watch.WatchJob(common_pb2.WatchJobRequest(id=job.id), timeout=300))
    return out


def test_train_jobs_report_epochs_and_publish(dev_stack: DevStack, jobs: dict[str, list[common_pb2.Job]]) -> None:
    store = open_store(settings_for_stack(dev_stack))
    for name, updates in jobs.items():
        final = updates[-1]
        assert state_name(final.state) == "SUCCEEDED", final.error.message
        assert any(u.progress_message.startswith("epoch 1/") and "val AUC" in u.progress_message for u in updates)
        card = load_card(store, PREFIX, name)
        assert final.results[0].uri.endswith(f"{PREFIX}/{name}/{card.version}/card.json")
        assert card.metrics["export_max_abs_diff"] < 1e-4
    gps = load_card(store, PREFIX, "gps-itest")
    assert gps.type_names == ["user", "location", "activity"] and gps.node_counts == [146, 70, 5]
    assert 0.5 < gps.metrics["test_auc"] <= 1.0  # two epochs already separate GPS test edges from negatives
    # 17 of GPS's 282 test triples hold a user, location or activity in at most 2 training triples.
    assert gps.metrics["test_rare_share"] == pytest.approx(17 / 282)
    assert {"test_auc_rare", "test_auc_other"} <= set(gps.metrics)
    in_scenes = {int(v) for edge in load_lesmis().edges for v in edge}  # characters in scenes of >= 2
    assert load_card(store, PREFIX, "lesmis-itest").node_counts == [len(in_scenes)]


def _in_process(dev_stack: DevStack, model: str, sets: list[list[Member]]) -> tuple[np.ndarray, np.ndarray]:
    settings = settings_for_stack(dev_stack)
    store = open_store(settings)
    card = load_card(store, PREFIX, model)
    ids, mask = pad_sets(SetEncoder(card).encode(sets))
    with OnnxRuntimeBackend(ModelRepository(store, settings.model_repository_prefix)) as backend:
        out = backend.infer(model, {"ids": ids, "mask": mask}, str(card.version))
    return out["score"].reshape(-1), out["node_scores"]


def test_predict_through_triton_equals_in_process(dev_stack: DevStack, channel: grpc.Channel,
                                                  jobs: dict[str, list[common_pb2.Job]]) -> None:
    stub = graph_pb2_grpc.GraphStub(channel)
    names = load_card(open_store(settings_for_stack(dev_stack)), PREFIX, "lesmis-itest").node_labels[0]  # type: ignore[index]
    rng = np.random.default_rng(3)
    sets = [[Member(name=names[v]) for v in rng.choice(len(names), size, replace=False)]
            for size in (2, 7, 3, 2, 5, 9, 4)]
    request = graph_pb2.PredictHyperedgesRequest(model="lesmis-itest", sets=[
        graph_pb2.NodeSet(nodes=[graph_pb2.NodeRef(name=m.name) for m in s]) for s in sets])
    served = stub.Predict(request, timeout=120)
    outsiders = stub.ScoreOutsiders(request, timeout=120)
    scores, nodes = _in_process(dev_stack, "lesmis-itest", sets)
    assert served.model_version == str(load_card(open_store(settings_for_stack(dev_stack)), PREFIX,
                                                 "lesmis-itest").version)
    np.testing.assert_allclose(served.scores, scores, atol=1e-5)
    for i, s in enumerate(sets):
        np.testing.assert_allclose(outsiders.sets[i].node_scores, nodes[i, : len(s)], atol=1e-5)
        assert outsiders.sets[i].outsider == int(np.argmin(nodes[i, : len(s)]))

    gps_sets = [[Member("user", u), Member("location", loc), Member("activity", a)]
                for u, loc, a in [(0, 1, 2), (5, 60, 4), (145, 0, 0)]]
    gps = stub.Predict(graph_pb2.PredictHyperedgesRequest(model="gps-itest", sets=[
        graph_pb2.NodeSet(nodes=[graph_pb2.NodeRef(type=m.type, id=m.id) for m in s]) for s in gps_sets]), timeout=120)
    np.testing.assert_allclose(gps.scores, _in_process(dev_stack, "gps-itest", gps_sets)[0], atol=1e-5)
    embedded = stub.Embed(graph_pb2.EmbedRequest(model="gps-itest"), timeout=60)
    assert embedded.dim == 16 and len(embedded.nodes) == 146 + 70 + 5


def test_bad_requests_name_the_field(channel: grpc.Channel, jobs: dict[str, list[common_pb2.Job]]) -> None:
    stub = graph_pb2_grpc.GraphStub(channel)
    node = graph_pb2.NodeRef
    with pytest.raises(grpc.RpcError) as err:
        stub.Predict(graph_pb2.PredictHyperedgesRequest(model="gps-itest", sets=[
            graph_pb2.NodeSet(nodes=[node(type="user", id=0), node(type="location", id=570), node(type="activity")])]),
            timeout=60)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(err.value)[0][0] == "sets[0].nodes[1].id"
    assert "570 out of range [0, 70)" in field_violations(err.value)[0][1]
    with pytest.raises(grpc.RpcError) as err:
        stub.Train(graph_pb2.GraphTrainRequest(features="adj"), timeout=30)
    assert [f for f, _ in field_violations(err.value)] == ["data.uri", "features"]


def test_trained_events_arrive(dev_stack: DevStack, jobs: dict[str, list[common_pb2.Job]]) -> None:
    want = {updates[-1].id: name for name, updates in jobs.items()}
    seen: dict[str, dict[str, object]] = {}
    deadline = time.monotonic() + 60
    while set(seen) != set(want) and time.monotonic() < deadline:
        for _, record in read_topic(settings_for_stack(dev_stack), MODEL_TRAINED, want=10_000, timeout_s=3):
            event = decode(record.headers, record.key, record.value)  # type: ignore[attr-defined]
            data = event.get_data()
            if isinstance(data, dict) and data.get("job_id") in want:
                assert event.get_type() == "tessera.graph.model.trained"
                seen[str(data["job_id"])] = data
    assert set(seen) == set(want), "no tessera.graph.model.trained event for some job"
    for job_id, data in seen.items():
        assert data["model"] == want[job_id] and str(data["onnx"]["uri"]).endswith("/model.onnx")  # type: ignore[index]
