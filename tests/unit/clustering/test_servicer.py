"""The clustering service in-process (gRPC on a loopback port, local artifact store, no broker): Cluster equal to
the library, ClusterJob over wide Parquet and long CSV tables with per-phase progress, SuggestParameters, and bad
requests named field by field (points[i].<field>, options.<field>, the table's column and first bad row)."""

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

from tessera.clustering import ScaddaParams, scadda
from tessera.clustering.server import build
from tessera.clustering.settings import ClusteringSettings
from tessera.clustering.summary import summarise
from tessera.clustering.synthetic import Dataset, idealized_scenario
from tessera.core.artifacts.factory import open_uri
from tessera.core.jobs import state_name
from tessera.core.runtime import ServiceRuntime
from tessera.core.server import field_violations
from tessera.core.settings import load_settings
from tessera.v1 import clustering_pb2, clustering_pb2_grpc, common_pb2, common_pb2_grpc

OPTIONS = clustering_pb2.ScaddaOptions(s_limit=30.0, t_limit=1.5, minimum_neighbors=5)
PARAMS = ScaddaParams(s_limit=30.0, t_limit=1.5, minimum_neighbors=5)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class Running:
    def __init__(self, root: Path):
        settings = load_settings(ClusteringSettings, artifacts_uri=root.as_uri(), grpc_host="127.0.0.1", grpc_port=0,
                                 metrics_port=0, clustering_max_sync_points=300, clustering_progress_interval_s=0.0)
        self.runtime: ServiceRuntime = build(settings)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.runtime.service.start(), self.loop).result(30)
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.runtime.service.port}")
        self.stub = clustering_pb2_grpc.ClusteringStub(self.channel)
        self.jobs = common_pb2_grpc.JobsStub(self.channel)

    def put(self, key: str, payload: bytes) -> common_pb2.ArtifactRef:
        info = self.runtime.store.put_bytes(key, payload)
        return common_pb2.ArtifactRef(uri=info.uri, sha256=info.sha256)

    def get(self, ref: common_pb2.ArtifactRef) -> bytes:
        return b"".join(open_uri(ref.uri, self.runtime.settings, expected_sha256=ref.sha256))

    def finish(self, job: common_pb2.Job) -> list[common_pb2.Job]:
        return list(self.jobs.WatchJob(common_pb2.WatchJobRequest(id=job.id), timeout=120))

    def stop(self) -> None:
        self.channel.close()
        asyncio.run_coroutine_threadsafe(self.runtime.service.stop(1.0), self.loop).result(30)
        self.runtime.jobs.shutdown()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    running = Running(tmp_path_factory.mktemp("clustering-store"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def data() -> Dataset:
    return idealized_scenario(0, scale=0.5, months=12)  # 222 points


def request_points(data: Dataset) -> list[clustering_pb2.Point]:
    return [clustering_pb2.Point(id=f"p{k}", lat=float(lat), lon=float(lon), series=row.tolist())
            for k, ((lat, lon), row) in enumerate(zip(data.coords, data.series, strict=True))]


def wide_frame(data: Dataset) -> pd.DataFrame:
    return data.wide_frame("p")


def violations(call: pytest.ExceptionInfo[grpc.RpcError]) -> dict[str, str]:
    assert call.value.code() == grpc.StatusCode.INVALID_ARGUMENT, call.value.details()
    return dict(field_violations(call.value))


def test_cluster_equals_the_library(svc: Running, data: Dataset) -> None:
    response = svc.stub.Cluster(clustering_pb2.ClusterRequest(points=request_points(data), options=OPTIONS, plots=True))
    expected = scadda(data.coords, data.series, PARAMS)
    np.testing.assert_array_equal(response.labels, expected.labels)
    assert response.n_clusters == expected.n_clusters >= 3
    assert response.n_noise == int(expected.noise.sum())
    assert list(response.ids) == [f"p{k}" for k in range(data.truth.size)]
    roles = np.asarray(response.roles)
    np.testing.assert_array_equal(roles == clustering_pb2.POINT_ROLE_CORE, expected.core)
    np.testing.assert_array_equal(roles == clustering_pb2.POINT_ROLE_NOISE, expected.noise)
    np.testing.assert_array_equal(roles == clustering_pb2.POINT_ROLE_BORDER, expected.border)
    assert expected.densities is not None
    np.testing.assert_allclose(response.densities, expected.densities)
    summaries = summarise(data.coords, list(data.series), expected.labels, expected.core)
    assert [c.size for c in response.clusters] == [s.size for s in summaries]
    np.testing.assert_allclose(response.clusters[0].mean_series, summaries[0].mean_series)
    assert response.clusters[0].centroid_lat == pytest.approx(summaries[0].centroid_lat)
    assert response.stage_stats[0].spatial_pairs > 0 and response.stage_stats[0].steepness > 0
    assert response.map_png.startswith(PNG_MAGIC) and response.series_png.startswith(PNG_MAGIC)


def test_cluster_multivariate_weighted_and_unequal_lengths(svc: Running, data: Dataset) -> None:
    series = [np.column_stack([row, 0.5 * row]) for row in data.series]  # (L, 2) per point
    points = [clustering_pb2.Point(lat=float(lat), lon=float(lon), series=s.ravel().tolist(), weight=1.0 + k % 3)
              for k, ((lat, lon), s) in enumerate(zip(data.coords, series, strict=True))]
    response = svc.stub.Cluster(clustering_pb2.ClusterRequest(points=points, channels=2, options=OPTIONS))
    weights = (1.0 + np.arange(len(points)) % 3).astype(np.float64)
    np.testing.assert_array_equal(response.labels, scadda(data.coords, series, PARAMS, weights=weights).labels)
    assert list(response.ids[:3]) == ["0", "1", "2"]  # ids default to the index
    ragged = [clustering_pb2.Point(lat=float(lat), lon=float(lon), series=row[: 10 + k % 3].tolist())
              for k, ((lat, lon), row) in enumerate(zip(data.coords, data.series, strict=True))]
    response = svc.stub.Cluster(clustering_pb2.ClusterRequest(points=ragged, options=OPTIONS))
    expected = scadda(data.coords, [row[: 10 + k % 3] for k, row in enumerate(data.series)], PARAMS)
    np.testing.assert_array_equal(response.labels, expected.labels)


def test_bad_cluster_requests_name_the_field(svc: Running, data: Dataset) -> None:
    points = request_points(data)[:50]
    bad_lat = [*points[:3], clustering_pb2.Point(id="x", lat=91.0, lon=0.0, series=[1.0, 2.0, 3.0]), *points[4:]]
    with pytest.raises(grpc.RpcError) as call:
        svc.stub.Cluster(clustering_pb2.ClusterRequest(points=bad_lat, options=OPTIONS))
    assert "outside [-90, 90]" in violations(call)["points[3].lat"]
    dup = [*points[:7], clustering_pb2.Point(id="p2", lat=1.0, lon=2.0, series=[1.0, 2.0]), *points[8:]]
    with pytest.raises(grpc.RpcError) as call:
        svc.stub.Cluster(clustering_pb2.ClusterRequest(points=dup, options=OPTIONS))
    assert "first at points[2]" in violations(call)["points[7].id"]
    nan = [*points[:9], clustering_pb2.Point(lat=1.0, lon=2.0, series=[1.0, float("nan"), 2.0]), *points[10:]]
    with pytest.raises(grpc.RpcError) as call:
        svc.stub.Cluster(clustering_pb2.ClusterRequest(points=nan, options=OPTIONS))
    assert "time step 1" in violations(call)["points[9].series"]
    with pytest.raises(grpc.RpcError) as call:
        svc.stub.Cluster(clustering_pb2.ClusterRequest(points=points, options=clustering_pb2.ScaddaOptions(
            s_limit=-1.0, t_limit=1.5, minimum_neighbors=0, metric="manhattan")))
    assert {"options.s_limit", "options.minimum_neighbors", "options.metric"} <= set(violations(call))
    short = [*points[:11], clustering_pb2.Point(lat=52.0, lon=0.0, series=[1.0, 2.0, 3.0]), *points[12:]]
    with pytest.raises(grpc.RpcError) as call:  # window 4 steps: a 3-step series cannot be compared
        svc.stub.Cluster(clustering_pb2.ClusterRequest(points=short, options=clustering_pb2.ScaddaOptions(
            s_limit=30.0, t_limit=1.5, minimum_neighbors=5, window_steps=4)))
    assert "half-width 4" in violations(call)["points[11].series"]
    with pytest.raises(grpc.RpcError) as call:
        svc.stub.Cluster(clustering_pb2.ClusterRequest(points=points[:4], options=OPTIONS))
    assert "4 points" in violations(call)["options.minimum_neighbors"]
    with pytest.raises(grpc.RpcError) as call:
        svc.stub.Cluster(clustering_pb2.ClusterRequest(points=request_points(data) * 2, options=OPTIONS))
    assert "ClusterJob" in violations(call)["points"]


def test_cluster_job_from_a_wide_parquet_reports_each_phase(svc: Running, data: Dataset) -> None:
    buffer = io.BytesIO()
    wide_frame(data).to_parquet(buffer, index=False)
    ref = svc.put("inputs/ideal.parquet", buffer.getvalue())
    job = svc.stub.ClusterJob(clustering_pb2.ClusterJobRequest(table=ref, options=OPTIONS))
    updates = svc.finish(job)
    final = updates[-1]
    assert state_name(final.state) == "SUCCEEDED", final.error.message
    # WatchJob yields snapshots, so fast phases may fall between two of them; every phase reaching the
    # callback is tested in test_quality.py. Here: what arrives names a phase, in the library's order.
    phases = ["kde", "neighbours", "dtw", "expansion"]
    seen = [next(p for p in phases if p in u.progress_message) for u in updates[:-1]
            if any(p in u.progress_message for p in phases)]
    assert seen and [phases.index(p) for p in seen] == sorted(phases.index(p) for p in seen)
    progress = [u.progress for u in updates]
    assert progress == sorted(progress)
    names = [r.uri.rsplit("/", 1)[1] for r in final.results]
    assert names == ["labels.parquet", "summary.parquet", "map.png", "series.png"]
    labels = pd.read_parquet(io.BytesIO(svc.get(final.results[0])))
    np.testing.assert_array_equal(labels["label"], scadda(data.coords, data.series, PARAMS).labels)
    assert list(labels["id"][:2]) == ["p0", "p1"]
    summary = pd.read_parquet(io.BytesIO(svc.get(final.results[1])))
    assert summary["size"].sum() == int((labels["label"] >= 0).sum())
    assert svc.get(final.results[2]).startswith(PNG_MAGIC) and svc.get(final.results[3]).startswith(PNG_MAGIC)


def test_cluster_job_from_a_long_csv_and_bad_tables(svc: Running, data: Dataset) -> None:
    long = wide_frame(data).melt(id_vars=["id", "lat", "lon"], var_name="time", value_name="value")
    ref = svc.put("inputs/ideal-long.csv", long.to_csv(index=False).encode())
    final = svc.finish(svc.stub.ClusterJob(clustering_pb2.ClusterJobRequest(table=ref, options=OPTIONS)))[-1]
    assert state_name(final.state) == "SUCCEEDED", final.error.message

    frame = wide_frame(data)
    frame.loc[17, "lat"] = 123.0
    ref = svc.put("inputs/bad.csv", frame.to_csv(index=False).encode())
    final = svc.finish(svc.stub.ClusterJob(clustering_pb2.ClusterJobRequest(table=ref, options=OPTIONS)))[-1]
    assert state_name(final.state) == "FAILED"
    assert final.error.code == "INVALID_ARGUMENT" and "lat: row 17" in final.error.message

    with pytest.raises(grpc.RpcError) as call:
        svc.stub.ClusterJob(clustering_pb2.ClusterJobRequest(
            table=common_pb2.ArtifactRef(uri=ref.uri.replace(".csv", ".xlsx")),
            options=clustering_pb2.ScaddaOptions(s_limit=30.0, t_limit=-2.0, minimum_neighbors=5)))
    assert {"options.t_limit", "format"} <= set(violations(call))
    with pytest.raises(grpc.RpcError) as call:
        svc.stub.ClusterJob(clustering_pb2.ClusterJobRequest(options=OPTIONS))
    assert "table.uri" in violations(call)
    with pytest.raises(grpc.RpcError) as call:  # a local store's missing object is a bad uri (S3: NOT_FOUND)
        svc.stub.ClusterJob(clustering_pb2.ClusterJobRequest(
            table=common_pb2.ArtifactRef(uri=ref.uri.replace("bad.csv", "absent.csv")), options=OPTIONS))
    assert "not an object" in violations(call)["table.uri"]


def test_suggest_parameters_from_points_and_from_a_table(svc: Running, data: Dataset) -> None:
    response = svc.stub.SuggestParameters(clustering_pb2.SuggestParametersRequest(
        points=request_points(data), minimum_neighbors=5, curve_points=50))
    assert response.s_limit > 0 and response.t_limit > 0 and response.points == data.truth.size
    assert len(response.spatial_curve) == 50 and list(response.spatial_curve) == sorted(response.spatial_curve)
    assert response.spatial_curve[0] <= response.s_limit <= response.spatial_curve[-1]
    buffer = io.BytesIO()
    wide_frame(data).to_parquet(buffer, index=False)
    ref = svc.put("inputs/suggest.parquet", buffer.getvalue())
    from_table = svc.stub.SuggestParameters(clustering_pb2.SuggestParametersRequest(table=ref, minimum_neighbors=5,
                                                                                    curve_points=50))
    assert from_table.s_limit == pytest.approx(response.s_limit)
    assert from_table.t_limit == pytest.approx(response.t_limit)
    with pytest.raises(grpc.RpcError) as call:
        svc.stub.SuggestParameters(clustering_pb2.SuggestParametersRequest(points=request_points(data)))
    assert "minimum_neighbors" in violations(call)
