"""The segmentation service's part of ``make demo``: train a small cascade through the Train job,
segment one synthetic head through Triton, and let the bids part's ``tessera.bids.dataset.ready``
drive the dataset segmentation into ``derivatives/tessera-seg/`` (reported by ``collect``)."""

from __future__ import annotations

import gzip
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from tessera.cli.up import RunningService, start_services
from tessera.core.events import decode
from tessera.core.jobs import state_name
from tessera.demo.pipeline import read_topic, settings_for_stack
from tessera.devstack import DevStack
from tessera.segmentation.data.dataset import SyntheticBrainDataset
from tessera.segmentation.worker import COMPLETED
from tessera.v1 import common_pb2, common_pb2_grpc, segmentation_pb2, segmentation_pb2_grpc

NOTE = ("demo scale: a tiny cascade trained for 1 epoch on 8 synthetic 4 mm brains (quality is measured by "
        "tools/bench/segmentation.py, not here)")


@dataclass
class SegmentationReport:
    train: str = ""
    train_s: float = 0.0
    segment: str = ""
    volumes: str = ""
    dataset: str = "no dataset event seen"
    ok: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def lines(self) -> list[str]:
        return [NOTE, f"train job: {self.train} in {self.train_s:.1f}s",
                f"Segment through Triton: {self.segment}", f"  volumes: {self.volumes}",
                f"bids dataset -> derivatives: {self.dataset}"]


def start(stack: DevStack, log_dir: Path) -> tuple[RunningService, SegmentationReport]:
    """Start the service, train the default model and segment one head; the service keeps running."""
    service = start_services(stack, log_dir, only=["segmentation"])[0]
    report = SegmentationReport()
    with grpc.insecure_channel(f"127.0.0.1:{service.grpc_port}") as channel:
        stub, jobs = segmentation_pb2_grpc.SegmentationStub(channel), common_pb2_grpc.JobsStub(channel)
        started = time.monotonic()
        job = stub.Train(segmentation_pb2.TrainRequest(task="tissue", contrasts=["T1w", "T2w", "FLAIR"], epochs=1,
                                                       train_samples=8, spacing_mm=4.0, model="seg-tissue"))
        done = list(jobs.WatchJob(common_pb2.WatchJobRequest(id=job.id), timeout=900))[-1]
        report.train_s = time.monotonic() - started
        report.train = f"{state_name(done.state)} ({done.progress_message})"
        if done.state != common_pb2.JOB_STATE_SUCCEEDED:
            report.train += f": {done.error.message}"
            return service, report
        sample = SyntheticBrainDataset(task="tissue", contrasts=("T1w",), spacing_mm=4.0, split="test", n=1,
                                       augment=False).sample(0)
        import nibabel as nib

        t1 = nib.Nifti1Image(sample.image[0].numpy(), sample.affine)
        response = stub.Segment(segmentation_pb2.SegmentRequest(volumes=[segmentation_pb2.ContrastVolume(
            contrast="T1w", nifti=gzip.compress(t1.to_bytes()))]), timeout=600)
        timings = ", ".join(f"{t.stage} {t.seconds:.2f}s" for t in response.timings)
        report.segment = (f"{response.model} v{response.model_version}, T1w only (missing "
                          f"{', '.join(response.missing_contrasts)}), stage 2 on {response.stage2_fraction:.1%} "
                          f"of voxels; {timings}")
        report.volumes = ", ".join(f"{v.name} {v.volume_ml:.0f} mL" for v in response.volumes)
    return service, report


def collect(stack: DevStack, report: SegmentationReport, dataset_uri: str, timeout_s: float = 300) -> None:
    """Wait for the completion event of the dataset the bids part published."""
    if not report.train.startswith("SUCCEEDED"):
        return
    settings = settings_for_stack(stack)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and dataset_uri:
        for _, record in read_topic(settings, COMPLETED, want=1000, timeout_s=3):
            data = decode(record.headers, record.key, record.value).get_data()  # type: ignore[attr-defined]
            if isinstance(data, dict) and data.get("dataset_uri") == dataset_uri:
                report.dataset = (f"{data['segmented']} image group(s) segmented, {len(data['failed'])} failed; "
                                  f"derivatives at {data['derivatives_uri']}")
                report.ok = report.train.startswith("SUCCEEDED") and not data["failed"]
                return
