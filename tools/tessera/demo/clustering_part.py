"""The clustering service's part of ``make demo``: a synthetic fire-emission grid over Sub-Saharan Africa (known
truth: two savanna seasons and a south-eastern subgroup whose season is shifted) uploaded to S3 as Parquet,
clustered by a ClusterJob (progress per phase, labels/summary/maps to S3, ``tessera.clustering.completed``)."""

from __future__ import annotations

import io
import time
from dataclasses import dataclass
from pathlib import Path

import grpc
import pandas as pd
from sklearn.metrics import adjusted_rand_score

from tessera.clustering.synthetic import Dataset, fire_season_africa
from tessera.clustering.worker import COMPLETED
from tessera.core.artifacts.factory import open_store
from tessera.core.events import decode
from tessera.core.jobs import state_name
from tessera.demo.pipeline import read_topic, settings_for_stack
from tessera.devstack import DevStack
from tessera.v1 import clustering_pb2, clustering_pb2_grpc, common_pb2, common_pb2_grpc

NOTE = ("data: synthetic monthly fire emissions on a 1-degree grid (2,806 cells, 24 months) with known truth; "
        "the comparison with the scadda package and scale figures are in tools/bench/clustering.py")


@dataclass
class ClusteringReport:
    job: str = ""
    phases: str = ""
    clusters: list[str] | None = None
    quality: str = ""
    event: str = "no tessera.clustering.completed event seen"
    ok: bool = False

    def lines(self) -> list[str]:
        return [NOTE, f"ClusterJob: {self.job}", f"  phases seen: {self.phases}", *(self.clusters or []),
                f"  {self.quality}", f"event: {self.event}"]


def _table() -> tuple[bytes, Dataset]:
    data = fire_season_africa(0, step_deg=1.0)
    buffer = io.BytesIO()
    data.wide_frame("cell-").to_parquet(buffer, index=False)
    return buffer.getvalue(), data


def run_clustering(stack: DevStack, log_dir: Path) -> ClusteringReport:
    from tessera.cli.up import start_services

    report = ClusteringReport()
    service = start_services(stack, log_dir, only=["clustering"])[0]
    try:
        settings = settings_for_stack(stack)
        store = open_store(settings)
        payload, data = _table()
        info = store.put_bytes(f"demo/clustering/fire-{time.time_ns()}.parquet", payload)
        options = clustering_pb2.ScaddaOptions(s_limit=350.0, t_limit=2.0, minimum_neighbors=5)
        with grpc.insecure_channel(f"127.0.0.1:{service.grpc_port}") as channel:
            stub = clustering_pb2_grpc.ClusteringStub(channel)
            started = time.monotonic()
            job = stub.ClusterJob(clustering_pb2.ClusterJobRequest(
                table=common_pb2.ArtifactRef(uri=info.uri, sha256=info.sha256), options=options,
                name="fire season, Sub-Saharan Africa"), timeout=60)
            updates = list(common_pb2_grpc.JobsStub(channel).WatchJob(common_pb2.WatchJobRequest(id=job.id),
                                                                       timeout=600))
        final = updates[-1]
        report.job = f"{state_name(final.state)} in {time.monotonic() - started:.1f}s"
        phases = [p for p in ("kde", "neighbours", "dtw", "expansion")
                  if any(p in u.progress_message for u in updates)]
        report.phases = ", ".join(phases) or "-"
        if final.state != common_pb2.JOB_STATE_SUCCEEDED:
            report.job += f": {final.error.message}"
            return report
        labels = pd.read_parquet(io.BytesIO(store.get_bytes(final.results[0].uri.split("/", 3)[3])))
        summary = pd.read_parquet(io.BytesIO(store.get_bytes(final.results[1].uri.split("/", 3)[3])))
        report.clusters = [f"  cluster {int(r['label'])}: {int(r['size'])} cells around "
                           f"({r['centroid_lat']:.1f}, {r['centroid_lon']:.1f}), season peak at month "
                           f"{int(r['peak_step']) % 12 + 1}" for _, r in summary.iterrows()]
        ari = adjusted_rand_score(data.truth, labels["label"])
        report.quality = (f"adjusted Rand index vs the known truth {ari:.3f}; "
                          f"{int((labels['label'] < 0).sum())} cells noise; map and series PNGs at "
                          f"{final.results[2].uri.rsplit('/', 1)[0]}/")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and report.event.startswith("no "):
            for _, record in read_topic(settings, COMPLETED, want=1000, timeout_s=3):
                event = decode(record.headers, record.key, record.value).get_data()  # type: ignore[attr-defined]
                if isinstance(event, dict) and event.get("job_id") == job.id:
                    report.event = f"{event['clusters']} clusters, {event['noise']} noise of {event['points']} points"
        report.ok = ari > 0.9 and not report.event.startswith("no ")
    finally:
        service.process.stop()
    return report
