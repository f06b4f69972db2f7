"""The graph service's part of ``make demo``: train Hyper-SAGNN on GPS through the Train job (data and held-out
test edges uploaded to S3), score held-out hyperedges against corrupted copies through Triton, find the swapped-in
node of each corrupted copy with ScoreOutsiders, and wait for ``tessera.graph.model.trained``."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import grpc
import numpy as np

from tessera.core.artifacts.factory import open_store
from tessera.core.events import decode
from tessera.core.jobs import state_name
from tessera.demo.pipeline import read_topic, settings_for_stack
from tessera.devstack import DevStack
from tessera.graph.worker import MODEL_TRAINED
from tessera.v1 import common_pb2, common_pb2_grpc, graph_pb2, graph_pb2_grpc

# shared/ lies beside the repository (this file is tools/tessera/demo/graph_part.py: the root is parents[3])
GPS = Path(__file__).resolve().parents[4] / "shared" / "data" / "hypergraph" / "GPS"
TYPES = ("user", "location", "activity")
NOTE = "demo scale: 3 epochs on GPS, 32-dim features (quality is measured by tools/bench/hypergraph.py, not here)"
PAIRS = 50


@dataclass
class GraphReport:
    train: str = ""
    train_s: float = 0.0
    predict: str = ""
    outsider: str = ""
    event: str = "no tessera.graph.model.trained event seen"
    ok: bool = False

    def lines(self) -> list[str]:
        return [NOTE, f"train job: {self.train} in {self.train_s:.1f}s", f"Predict through Triton: {self.predict}",
                f"ScoreOutsiders: {self.outsider}", f"event: {self.event}"]


def _sets(rows: np.ndarray) -> list[graph_pb2.NodeSet]:
    return [graph_pb2.NodeSet(nodes=[graph_pb2.NodeRef(type=t, id=int(i)) for t, i in zip(TYPES, row, strict=True)])
            for row in rows]


def run_graph(stack: DevStack, log_dir: Path) -> GraphReport:
    from tessera.cli.up import start_services

    report = GraphReport()
    if not GPS.is_dir():
        report.train = f"skipped: {GPS} not found (shared/ beside the repository)"
        return report
    service = start_services(stack, log_dir, only=["graph"])[0]
    try:
        _run(stack, service.grpc_port, report)
    finally:
        service.process.stop()
    return report


def _run(stack: DevStack, port: int, report: GraphReport) -> None:
    store = open_store(settings_for_stack(stack))
    refs = {}
    for split in ("train", "test"):
        info = store.put_bytes(f"demo/graph/GPS/{split}_data.npz", (GPS / f"{split}_data.npz").read_bytes())
        refs[split] = common_pb2.ArtifactRef(uri=info.uri, sha256=info.sha256)
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub, jobs = graph_pb2_grpc.GraphStub(channel), common_pb2_grpc.JobsStub(channel)
        started = time.monotonic()
        job = stub.Train(graph_pb2.GraphTrainRequest(data=refs["train"], test_data=refs["test"], max_epochs=3, dim=32,
                                                     model="gps-demo"))
        updates = list(jobs.WatchJob(common_pb2.WatchJobRequest(id=job.id), timeout=900))
        report.train_s = time.monotonic() - started
        done = updates[-1]
        epochs = [u.progress_message for u in updates if u.progress_message.startswith("epoch")]
        report.train = f"{state_name(done.state)}; last epoch: {epochs[-1] if epochs else '-'}"
        if done.state != common_pb2.JOB_STATE_SUCCEEDED:
            report.train += f": {done.error.message}"
            return
        # Held-out hyperedges vs the same edges with one member swapped for a random node of its type.
        data = np.load(GPS / "test_data.npz")
        sizes = np.asarray(data["nums_type"])
        rng = np.random.default_rng(0)
        true = np.asarray(data["test_data"])[rng.choice(len(data["test_data"]), PAIRS, replace=False)]
        swapped_at = rng.integers(0, len(TYPES), PAIRS)
        corrupt = true.copy()
        for k, at in enumerate(swapped_at):
            choices = np.setdiff1d(np.arange(sizes[at]), [true[k, at]])
            corrupt[k, at] = rng.choice(choices)
        both = _sets(np.vstack([true, corrupt]))
        reply = stub.Predict(graph_pb2.PredictHyperedgesRequest(model="gps-demo", sets=both), timeout=300)
        scores = np.asarray(reply.scores)
        wins = float(np.mean(scores[:PAIRS] > scores[PAIRS:]))
        report.predict = (f"{reply.model} v{reply.model_version}: a held-out hyperedge outscores its corrupted copy "
                          f"in {wins:.0%} of {PAIRS} pairs (chance 50%)")
        scored = stub.ScoreOutsiders(graph_pb2.PredictHyperedgesRequest(model="gps-demo", sets=_sets(corrupt)),
                                     timeout=300)
        found = float(np.mean([s.outsider == at for s, at in zip(scored.sets, swapped_at, strict=True)]))
        report.outsider = (f"the swapped-in node is the lowest-scoring member in {found:.0%} of {PAIRS} sets "
                           "(chance 33%)")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and report.event.startswith("no "):
        for _, record in read_topic(settings_for_stack(stack), MODEL_TRAINED, want=1000, timeout_s=3):
            event = decode(record.headers, record.key, record.value).get_data()  # type: ignore[attr-defined]
            if isinstance(event, dict) and event.get("job_id") == job.id:
                metrics = event.get("metrics", {})
                shown = ", ".join(f"{k} {v:.3f}" for k, v in metrics.items() if isinstance(v, float))
                report.event = f"{event['model']} v{event['version']} ({shown})"
    report.ok = not report.event.startswith("no ") and wins > 0.5
