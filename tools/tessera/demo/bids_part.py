"""The bids service's part of ``make demo``: a mixed-vendor DICOM upload to a validated dataset in S3.

Generates a synthetic corpus (Siemens/GE/Philips conventions, MNI152 volumes), uploads it over
gRPC, waits for the inferred plan, applies one edit as a person would, finalizes, and checks the
``tessera.bids.dataset.ready`` event and the published dataset with the BIDS validator.
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from tessera.bids.client import upload_archive
from tessera.bids.corpus import corpus_archive, generate_corpus
from tessera.bids.publish import download_dataset
from tessera.bids.validate import validate_dataset
from tessera.bids.worker import DATASET_READY, dataset_prefix
from tessera.cli.up import start_services
from tessera.core.artifacts.factory import open_store
from tessera.core.events import decode
from tessera.core.jobs import state_name
from tessera.demo.pipeline import read_topic, settings_for_stack
from tessera.devstack import DevStack
from tessera.v1 import bids_pb2, bids_pb2_grpc, common_pb2, common_pb2_grpc

DATA_NOTE = "synthetic DICOM corpus (tessera.bids.corpus, seed 0): MNI152-derived volumes with vendor-style headers"


@dataclass
class BidsReport:
    corpus: str = ""
    upload_mb: float = 0.0
    series: int = 0
    planned: Counter[str] = field(default_factory=Counter)
    excluded: int = 0
    examples: list[str] = field(default_factory=list)
    event_logs: list[str] = field(default_factory=list)
    edit: str = ""
    ingest_s: float = 0.0
    finalize_s: float = 0.0
    event: bool = False
    dataset_uri: str = ""
    dataset_files: int = 0
    validator_errors: int = -1
    validator_warnings: int = -1
    findings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.event and self.validator_errors == 0 and self.series > 0

    def lines(self) -> list[str]:
        return [
            f"data: {DATA_NOTE}",
            f"corpus: {self.corpus}; upload {self.upload_mb:.1f} MB",
            f"ingest job (extract, group, dcm2niix, infer): {self.ingest_s:.1f}s for {self.series} series",
            "planned: " + ", ".join(f"{k} x{v}" for k, v in sorted(self.planned.items()))
            + f"; excluded {self.excluded} (localizers, derived maps)",
            *[f"  {line}" for line in self.examples],
            *[f"  log {line}" for line in self.event_logs],
            f"edit: {self.edit}",
            f"finalize job (write, de-identify, validate, publish): {self.finalize_s:.1f}s",
            f"tessera.bids.dataset.ready received: {self.event}; dataset files: {self.dataset_files}",
            f"BIDS validator on the published dataset: {self.validator_errors} errors,"
            f" {self.validator_warnings} warnings",
            *[f"  finding: {f}" for f in self.findings[:5]],
        ]


def _wait(jobs: common_pb2_grpc.JobsStub, job_id: str) -> common_pb2.Job:
    return list(jobs.WatchJob(common_pb2.WatchJobRequest(id=job_id), timeout=600))[-1]


def run_bids(stack: DevStack, log_dir: Path, *, subjects: int = 2, sessions: int = 1) -> BidsReport:
    settings = settings_for_stack(stack)
    report = BidsReport()
    services = start_services(stack, log_dir, only=["bids"])
    try:
        with tempfile.TemporaryDirectory(prefix="tessera-demo-bids-") as tmp:
            work = Path(tmp)
            vendors = ("siemens", "ge", "philips")[:subjects]
            generate_corpus(work / "corpus", subjects=subjects, sessions=sessions, vendors=vendors, seed=0)
            archive = corpus_archive(work / "corpus", work / "upload.zip")
            report.corpus = f"{subjects} subject(s) x {sessions} session(s), vendors {', '.join(vendors)}"
            report.upload_mb = archive.stat().st_size / 1e6
            with grpc.insecure_channel(f"127.0.0.1:{services[0].grpc_port}") as channel:
                stub, jobs = bids_pb2_grpc.BidsStub(channel), common_pb2_grpc.JobsStub(channel)
                started = time.monotonic()
                job = stub.StartIngest(bids_pb2.StartIngestRequest(archive=upload_archive(stub, archive),
                                                                   dataset_name="Tessera demo"))
                ingested = _wait(jobs, job.id)
                report.ingest_s = time.monotonic() - started
                if ingested.state != common_pb2.JOB_STATE_SUCCEEDED:
                    report.findings.append(f"ingest {state_name(ingested.state)}: {ingested.error.message}")
                    return report
                plan = stub.GetPlan(bids_pb2.GetPlanRequest(upload_id=job.id))
                report.series = len(plan.series)
                kept = [s for s in plan.series if not s.plan.exclude]
                report.excluded = report.series - len(kept)
                report.planned = Counter(f"{s.plan.datatype}/{s.plan.suffix}" for s in kept)
                report.examples = [s.plan.messages[0] for s in plan.series[:4] if s.plan.messages]
                report.event_logs = [f"{log.file} -> {log.series_id or 'unmapped'}" for log in plan.event_logs[:2]]
                report.findings = [f"{f.level}: {f.file or f.series_id}: {f.message}" for f in plan.findings
                                   if f.level == "error"]
                t2w = next(s for s in kept if s.plan.suffix == "T2w")
                edited = stub.UpdatePlan(bids_pb2.UpdatePlanRequest(
                    upload_id=job.id, expected_version=plan.version,
                    series=[bids_pb2.SeriesEdit(series_id=t2w.series_id, set_entities={"acq": "highres"})]))
                renamed = next(s for s in edited.series if s.series_id == t2w.series_id)
                report.edit = f"series {t2w.series_id} -> {renamed.bids_name} (plan v{edited.version})"
                started = time.monotonic()
                finished = _wait(jobs, stub.Finalize(bids_pb2.FinalizeRequest(upload_id=job.id)).id)
                report.finalize_s = time.monotonic() - started
                if finished.state != common_pb2.JOB_STATE_SUCCEEDED:
                    report.findings.insert(0, f"finalize {state_name(finished.state)}: {finished.error.message}")
                    return report
            for _, record in read_topic(settings, DATASET_READY, want=1000, timeout_s=5):
                data = decode(record.headers, record.key, record.value).get_data()  # type: ignore[attr-defined]
                if isinstance(data, dict) and data.get("upload_id") == job.id:
                    report.event, report.dataset_uri = True, str(data.get("dataset_uri", ""))
            manifest = download_dataset(open_store(settings), dataset_prefix(job.id), work / "dataset")
            report.dataset_files = len(manifest.files)
            validation = validate_dataset(work / "dataset")
            report.validator_errors, report.validator_warnings = len(validation.errors), len(validation.warnings)
    finally:
        for svc in services:
            svc.process.stop()
    return report
