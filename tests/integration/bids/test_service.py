"""The bids service through the real stack: upload -> plan -> edit -> finalize -> event -> dataset in S3."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from tessera.bids.client import upload_archive
from tessera.bids.corpus import corpus_archive, generate_corpus
from tessera.bids.publish import download_dataset
from tessera.bids.validate import validate_dataset
from tessera.bids.worker import DATASET_READY, INGEST_REQUESTED, dataset_prefix
from tessera.cli.up import RunningService, start_services
from tessera.core.artifacts.factory import open_store
from tessera.core.events import EventPublisher, artifact_ref_json, decode
from tessera.core.jobs import state_name
from tessera.core.server import field_violations
from tessera.core.settings import TesseraSettings
from tessera.demo.pipeline import read_topic, settings_for_stack
from tessera.devstack import DevStack
from tessera.v1 import bids_pb2, bids_pb2_grpc, common_pb2, common_pb2_grpc

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def bids_service(dev_stack: DevStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    services = start_services(dev_stack, tmp_path_factory.mktemp("bids-logs"), only=["bids"])
    yield services[0]
    services[0].process.stop()


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    generate_corpus(root / "corpus", subjects=1, sessions=1, vendors=("siemens",), seed=3)
    return corpus_archive(root / "corpus", root / "upload.zip")


def _upload(channel: grpc.Channel, path: Path) -> common_pb2.ArtifactRef:
    return upload_archive(bids_pb2_grpc.BidsStub(channel), path, timeout_s=120)


def _wait(channel: grpc.Channel, job_id: str) -> common_pb2.Job:
    updates = list(common_pb2_grpc.JobsStub(channel).WatchJob(common_pb2.WatchJobRequest(id=job_id), timeout=300))
    return updates[-1]


def _ready_event(settings: TesseraSettings, upload_id: str, timeout_s: float = 60) -> dict[str, object]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for _, record in read_topic(settings, DATASET_READY, want=1000, timeout_s=3):
            data = decode(record.headers, record.key, record.value).get_data()  # type: ignore[attr-defined]
            if isinstance(data, dict) and data.get("upload_id") == upload_id:
                return data
    raise AssertionError(f"no {DATASET_READY} event for {upload_id}")


def test_upload_plan_edit_finalize_event_dataset(
    dev_stack: DevStack, bids_service: RunningService, archive: Path, tmp_path: Path
) -> None:
    settings = settings_for_stack(dev_stack)
    with grpc.insecure_channel(f"127.0.0.1:{bids_service.grpc_port}") as channel:
        stub = bids_pb2_grpc.BidsStub(channel)
        ref = _upload(channel, archive)
        assert ref.size == archive.stat().st_size and len(ref.sha256) == 64

        job = stub.StartIngest(bids_pb2.StartIngestRequest(archive=ref, dataset_name="Integration"))
        ingested = _wait(channel, job.id)
        assert state_name(ingested.state) == "SUCCEEDED", ingested.error.message
        plan = stub.GetPlan(bids_pb2.GetPlanRequest(upload_id=job.id))
        kept = [s for s in plan.series if not s.plan.exclude]
        assert {"anat", "func", "dwi", "fmap"} <= {s.plan.datatype for s in kept}
        assert all(s.plan.messages and s.bids_name for s in kept), "every decision is explained and named"
        t2w = next(s for s in kept if s.plan.suffix == "T2w")

        # A bad edit names the field and changes nothing.
        with pytest.raises(grpc.RpcError) as bad:
            stub.UpdatePlan(bids_pb2.UpdatePlanRequest(
                upload_id=job.id, expected_version=plan.version,
                series=[bids_pb2.SeriesEdit(series_id=t2w.series_id, suffix="T3w"),
                        bids_pb2.SeriesEdit(series_id="nope", exclude=True)]))
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        fields = [f for f, _ in field_violations(bad.value)]
        assert "series[1].series_id" in fields
        assert stub.GetPlan(bids_pb2.GetPlanRequest(upload_id=job.id)).version == plan.version

        edited = stub.UpdatePlan(bids_pb2.UpdatePlanRequest(
            upload_id=job.id, expected_version=plan.version,
            series=[bids_pb2.SeriesEdit(series_id=t2w.series_id, set_entities={"acq": "highres"})]))
        assert edited.version == plan.version + 1
        renamed = next(s for s in edited.series if s.series_id == t2w.series_id)
        assert renamed.bids_name.endswith("_acq-highres_T2w")

        finalize = stub.Finalize(bids_pb2.FinalizeRequest(upload_id=job.id))
        finished = _wait(channel, finalize.id)
        assert state_name(finished.state) == "SUCCEEDED", finished.error.message

    event = _ready_event(settings, job.id)
    assert event["plan_version"] == edited.version
    anatomical = event["anatomical"]
    assert isinstance(anatomical, list) and any(a["path"].endswith("_acq-highres_T2w.nii.gz") for a in anatomical)
    dataset = tmp_path / "dataset"
    manifest = download_dataset(open_store(settings), dataset_prefix(job.id), dataset)
    report = validate_dataset(dataset)
    assert report.ok, report.describe()
    assert any(f.path.endswith("_acq-highres_T2w.nii.gz") for f in manifest.files)
    sidecar = json.loads(next(dataset.rglob("*_T1w.json")).read_text())
    assert not {"PatientName", "PatientID", "PatientBirthDate"} & set(sidecar), "identifying fields stripped"


def test_event_driven_ingest_with_auto_finalize(dev_stack: DevStack, bids_service: RunningService,
                                                archive: Path) -> None:
    settings = settings_for_stack(dev_stack)
    store = open_store(settings)
    info = store.put_bytes("inbox/event-upload.zip", archive.read_bytes())
    with EventPublisher(settings, source="/tests") as publisher:
        event_id = publisher.publish(INGEST_REQUESTED, "tessera.bids.ingest.requested",
                                     {"archive": artifact_ref_json(info), "auto_finalize": True})
    upload_id = "ev-" + hashlib.sha256(event_id.encode()).hexdigest()[:24]
    event = _ready_event(settings, upload_id, timeout_s=180)
    assert str(event["dataset_uri"]).endswith(dataset_prefix(upload_id))
    assert event["subjects"] == ["01"]


def test_bad_archive_gives_findings_not_a_crash(bids_service: RunningService) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{bids_service.grpc_port}") as channel:
        stub = bids_pb2_grpc.BidsStub(channel)
        junk = Path(__file__)  # a Python file, not an archive
        ref = _upload(channel, junk)
        job = stub.StartIngest(bids_pb2.StartIngestRequest(archive=ref))
        assert state_name(_wait(channel, job.id).state) == "SUCCEEDED"
        plan = stub.GetPlan(bids_pb2.GetPlanRequest(upload_id=job.id))
        assert not plan.series
        assert any(f.level == "error" for f in plan.findings)
        with pytest.raises(grpc.RpcError) as refused:
            stub.Finalize(bids_pb2.FinalizeRequest(upload_id=job.id))
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        with pytest.raises(grpc.RpcError) as missing:
            stub.StartIngest(bids_pb2.StartIngestRequest())
        assert [f for f, _ in field_violations(missing.value)] == ["archive.uri"]


def test_cli_ingest_then_jobs_watch(bids_service: RunningService, archive: Path) -> None:
    from typer.testing import CliRunner

    from tessera.cli.main import app

    runner = CliRunner()
    target = f"127.0.0.1:{bids_service.grpc_port}"
    started = runner.invoke(app, ["bids", "ingest", str(archive), "--target", target])
    assert started.exit_code == 0, started.output
    job_id = started.stdout.strip().splitlines()[-1]
    watched = runner.invoke(app, ["jobs", "watch", job_id, "--target", target])
    assert watched.exit_code == 0, watched.output
    assert "plan.json" in watched.stdout, "the ingest job's result is the stored plan"
