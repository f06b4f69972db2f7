"""The clustering service through the real stack (broker, S3, Triton running; the service as its own process):
Cluster equal to the library, a ClusterJob over a Parquet table in S3 writing labels, summary and PNGs and
publishing tessera.clustering.completed, bad requests named, and a bad request event dead-lettered with its reason."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from typing import Any

import grpc
import numpy as np
import pandas as pd
import pytest

from tessera.cli.up import RunningService, start_services
from tessera.clustering import ScaddaParams, scadda
from tessera.clustering.synthetic import Dataset, idealized_scenario
from tessera.clustering.worker import COMPLETED, REQUESTED
from tessera.core.artifacts.factory import open_store
from tessera.core.events import EventPublisher, artifact_ref_json, decode, dlq_topic
from tessera.core.jobs import state_name
from tessera.core.server import field_violations
from tessera.core.settings import TesseraSettings
from tessera.demo.pipeline import read_topic, settings_for_stack
from tessera.devstack import DevStack
from tessera.v1 import clustering_pb2, clustering_pb2_grpc, common_pb2, common_pb2_grpc

pytestmark = pytest.mark.integration
OPTIONS = clustering_pb2.ScaddaOptions(s_limit=30.0, t_limit=1.5, minimum_neighbors=5)
PARAMS = ScaddaParams(s_limit=30.0, t_limit=1.5, minimum_neighbors=5)


@pytest.fixture(scope="module")
def clustering_service(dev_stack: DevStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    services = start_services(dev_stack, tmp_path_factory.mktemp("clustering-logs"), only=["clustering"])
    yield services[0]
    services[0].process.stop()


@pytest.fixture(scope="module")
def stub(clustering_service: RunningService) -> Iterator[clustering_pb2_grpc.ClusteringStub]:
    with grpc.insecure_channel(f"127.0.0.1:{clustering_service.grpc_port}") as channel:
        yield clustering_pb2_grpc.ClusteringStub(channel)


@pytest.fixture(scope="module")
def data() -> Dataset:
    return idealized_scenario(1, scale=0.5, months=12)


def parquet_table(data: Dataset) -> bytes:
    buffer = io.BytesIO()
    data.wide_frame("cell-").to_parquet(buffer, index=False)
    return buffer.getvalue()


def wait_for_event(settings: TesseraSettings, topic: str, match: Any, timeout_s: float = 60) -> Any:
    """The first record of ``topic`` for which ``match(record)`` is true, or None after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for _, record in read_topic(settings, topic, want=10_000, timeout_s=2):
            if match(record):
                return record
    return None


def event_data(record: Any) -> Any:
    return decode(record.headers, record.key, record.value).get_data()


def test_cluster_matches_the_library_and_bad_requests_name_the_field(
        stub: clustering_pb2_grpc.ClusteringStub, data: Dataset) -> None:
    points = [clustering_pb2.Point(id=f"p{k}", lat=float(lat), lon=float(lon), series=row.tolist())
              for k, ((lat, lon), row) in enumerate(zip(data.coords, data.series, strict=True))]
    response = stub.Cluster(clustering_pb2.ClusterRequest(points=points, options=OPTIONS), timeout=60)
    expected = scadda(data.coords, data.series, PARAMS)
    np.testing.assert_array_equal(response.labels, expected.labels)
    assert response.n_clusters == expected.n_clusters >= 3
    assert [c.size for c in response.clusters] == np.bincount(expected.labels[expected.labels >= 0]).tolist()
    bad = list(points)
    bad[5] = clustering_pb2.Point(id="bad", lat=10.0, lon=-181.0, series=[1.0, 2.0, 3.0])
    with pytest.raises(grpc.RpcError) as call:
        stub.Cluster(clustering_pb2.ClusterRequest(points=bad, options=clustering_pb2.ScaddaOptions(
            s_limit=30.0, t_limit=-1.0, minimum_neighbors=5)), timeout=60)
    assert call.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as call_lon:
        stub.Cluster(clustering_pb2.ClusterRequest(points=bad, options=OPTIONS), timeout=60)
    assert "options.t_limit" in dict(field_violations(call.value))
    assert "outside [-180, 180]" in dict(field_violations(call_lon.value))["points[5].lon"]


def test_cluster_job_from_s3_parquet_writes_outputs_and_publishes_the_event(
        dev_stack: DevStack, clustering_service: RunningService, stub: clustering_pb2_grpc.ClusteringStub,
        data: Dataset) -> None:
    settings = settings_for_stack(dev_stack)
    store = open_store(settings)
    info = store.put_bytes(f"itest/clustering-{time.time_ns()}/cells.parquet", parquet_table(data))
    table = common_pb2.ArtifactRef(uri=info.uri, sha256=info.sha256)
    with grpc.insecure_channel(f"127.0.0.1:{clustering_service.grpc_port}") as channel:
        job = stub.ClusterJob(clustering_pb2.ClusterJobRequest(table=table, options=OPTIONS), timeout=60)
        updates = list(common_pb2_grpc.JobsStub(channel).WatchJob(common_pb2.WatchJobRequest(id=job.id), timeout=120))
    final = updates[-1]
    assert state_name(final.state) == "SUCCEEDED", final.error.message
    keys = {i.key for i in store.list(f"clustering/results/{job.id}/")}
    assert keys == {f"clustering/results/{job.id}/{name}"
                    for name in ("labels.parquet", "summary.parquet", "map.png", "series.png")}
    labels = pd.read_parquet(io.BytesIO(store.get_bytes(f"clustering/results/{job.id}/labels.parquet")))
    np.testing.assert_array_equal(labels["label"], scadda(data.coords, data.series, PARAMS).labels)
    assert store.get_bytes(f"clustering/results/{job.id}/map.png").startswith(b"\x89PNG")
    record = wait_for_event(settings, COMPLETED, lambda r: (event_data(r) or {}).get("job_id") == job.id)
    assert record is not None, "no tessera.clustering.completed event"
    event = event_data(record)
    assert event["labels"]["uri"] == final.results[0].uri and event["clusters"] == int(labels["label"].max()) + 1
    assert event["table"] == artifact_ref_json(info)


def test_request_events_run_jobs_and_a_bad_one_is_dead_lettered_with_its_reason(
        dev_stack: DevStack, clustering_service: RunningService, data: Dataset) -> None:
    settings = settings_for_stack(dev_stack)
    store = open_store(settings)
    info = store.put_bytes(f"itest/clustering-{time.time_ns()}/cells.parquet", parquet_table(data))
    good = {"table": artifact_ref_json(info), "options": {"s_limit": 30.0, "t_limit": 1.5, "minimum_neighbors": 5},
            "name": "itest-event"}
    bad = {"table": artifact_ref_json(info), "options": {"s_limit": -5.0, "t_limit": 1.5, "minimum_neighbors": 5}}
    with EventPublisher(settings, source="/tests") as publisher:
        publisher.publish(REQUESTED, "tessera.clustering.requested", good)
        bad_id = f"itest-bad-{time.time_ns()}"
        publisher.publish(REQUESTED, "tessera.clustering.requested", bad, event_id=bad_id)
    done = wait_for_event(settings, COMPLETED, lambda r: (event_data(r) or {}).get("table", {}).get("uri") == info.uri)
    assert done is not None and event_data(done)["name"] == "itest-event"
    dead = wait_for_event(settings, dlq_topic(REQUESTED), lambda r: (b"ce_id", bad_id.encode()) in
                          [(k.encode(), v) for k, v in r.headers])
    assert dead is not None, "the bad request never reached the dead-letter topic"
    headers = {k: (v or b"").decode() for k, v in dead.headers}
    assert headers["tessera_dlq_reason"] == "handler-failed"
    assert "options.s_limit" in headers["tessera_error_message"]
    assert json.loads(dead.value) == bad
