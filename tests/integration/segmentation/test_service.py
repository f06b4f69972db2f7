"""The segmentation service through the real stack: Train job, Segment through Triton equal to
in-process onnxruntime, bad input named, a dataset-ready event -> derivatives + completion event."""

from __future__ import annotations

import gzip
import time
from collections.abc import Iterator

import grpc
import nibabel as nib
import numpy as np
import pytest

from tessera.cli.up import RunningService, start_services
from tessera.core.artifacts.factory import open_store
from tessera.core.events import EventPublisher, artifact_ref_json, decode
from tessera.core.inference import ModelRepository
from tessera.core.inference.onnxruntime_backend import OnnxRuntimeBackend
from tessera.core.jobs import state_name
from tessera.core.server import field_violations
from tessera.demo.pipeline import read_topic, settings_for_stack
from tessera.devstack import DevStack
from tessera.segmentation.export import BackendStage
from tessera.segmentation.model_card import load_card
from tessera.segmentation.segmenter import Segmenter
from tessera.segmentation.volumes import load_subject, parse_nifti
from tessera.segmentation.worker import COMPLETED, DATASET_READY
from tessera.v1 import common_pb2, common_pb2_grpc, segmentation_pb2, segmentation_pb2_grpc

pytestmark = pytest.mark.integration
MODEL = "seg-tissue"  # the service default, which the dataset-ready handler uses


@pytest.fixture(scope="module")
def seg_service(dev_stack: DevStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    services = start_services(dev_stack, tmp_path_factory.mktemp("seg-logs"), only=["segmentation"])
    yield services[0]
    services[0].process.stop()


@pytest.fixture(scope="module")
def trained(seg_service: RunningService) -> common_pb2.Job:
    with grpc.insecure_channel(f"127.0.0.1:{seg_service.grpc_port}") as channel:
        job = segmentation_pb2_grpc.SegmentationStub(channel).Train(segmentation_pb2.TrainRequest(
            task="tissue", contrasts=["T1w", "FLAIR"], epochs=1, train_samples=2, spacing_mm=4.0, model=MODEL))
        updates = list(common_pb2_grpc.JobsStub(channel).WatchJob(common_pb2.WatchJobRequest(id=job.id), timeout=600))
    return updates[-1]


def _head(seed: int, shape: tuple[int, int, int] = (40, 48, 40), zoom: float = 4.0) -> bytes:
    grid = np.stack(np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij"))
    radius = np.sqrt((grid**2).sum(0))
    data = (radius < 0.8) * 100.0 + (radius < 0.5) * 50.0 + np.random.default_rng(seed).random(shape) * 5
    return gzip.compress(nib.Nifti1Image(data.astype(np.float32), np.diag([zoom, zoom, zoom, 1.0])).to_bytes())


def test_train_job_reports_progress_and_publishes_a_card(dev_stack: DevStack, trained: common_pb2.Job) -> None:
    assert state_name(trained.state) == "SUCCEEDED", trained.error.message
    assert trained.results[0].uri.endswith("model_card.json")
    card = load_card(open_store(settings_for_stack(dev_stack)), MODEL)
    assert card.contrasts == ["T1w", "FLAIR"]
    assert set(card.metrics["dice_with_missing"]) == {"none", "T1w", "FLAIR"}
    assert max(card.export_max_abs_diff.values()) < 1e-4


def test_segment_through_triton_equals_in_process(dev_stack: DevStack, seg_service: RunningService,
                                                  trained: common_pb2.Job) -> None:
    settings = settings_for_stack(dev_stack)
    t1 = _head(1)
    with grpc.insecure_channel(f"127.0.0.1:{seg_service.grpc_port}") as channel:
        stub = segmentation_pb2_grpc.SegmentationStub(channel)
        response = stub.Segment(segmentation_pb2.SegmentRequest(
            model=MODEL, volumes=[segmentation_pb2.ContrastVolume(contrast="T1w", nifti=t1)]), timeout=300)
        with pytest.raises(grpc.RpcError) as bad:
            stub.Segment(segmentation_pb2.SegmentRequest(model=MODEL, volumes=[
                segmentation_pb2.ContrastVolume(contrast="T1w", nifti=t1),
                segmentation_pb2.ContrastVolume(contrast="T2w", nifti=b"junk")]))
        # The same volume as an artifact ref (the event-driven path's input) gives the same labels; a ref whose
        # digest does not match the stored bytes is refused rather than segmented.
        info = open_store(settings).put_bytes(f"itest/segment-{time.time_ns()}/T1w.nii.gz", t1)
        ref = common_pb2.ArtifactRef(uri=info.uri, sha256=info.sha256)
        by_ref = stub.Segment(segmentation_pb2.SegmentRequest(
            model=MODEL, volumes=[segmentation_pb2.ContrastVolume(contrast="T1w", ref=ref)]), timeout=300)
        with pytest.raises(grpc.RpcError) as tampered:
            stub.Segment(segmentation_pb2.SegmentRequest(model=MODEL, volumes=[segmentation_pb2.ContrastVolume(
                contrast="T1w", ref=common_pb2.ArtifactRef(uri=info.uri, sha256="0" * 64))]), timeout=300)
    assert tampered.value.code() == grpc.StatusCode.DATA_LOSS
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "volumes[1].nifti" in [f for f, _ in field_violations(bad.value)]
    assert list(response.missing_contrasts) == ["FLAIR"]
    assert {t.stage for t in response.timings} >= {"stage1", "stage2"}
    store = open_store(settings)
    served = nib.Nifti1Image.from_bytes(gzip.decompress(store.get_bytes(response.labels.uri.split("/", 3)[3])))

    card = load_card(store, MODEL)
    backend = OnnxRuntimeBackend(ModelRepository(store, settings.model_repository_prefix))
    local = Segmenter(card, BackendStage(backend, card.stage_model(1)), BackendStage(backend, card.stage_model(2)))
    expected = local.segment(load_subject([("T1w", parse_nifti(t1, "t1"))], card.contrasts))
    np.testing.assert_array_equal(np.asarray(served.dataobj), expected.labels)
    volumes = {v.name: v.volume_ml for v in response.volumes}
    assert volumes == pytest.approx(expected.volumes_ml)
    via_ref = nib.Nifti1Image.from_bytes(gzip.decompress(store.get_bytes(by_ref.labels.uri.split("/", 3)[3])))
    np.testing.assert_array_equal(np.asarray(via_ref.dataobj), expected.labels)


def test_dataset_ready_event_writes_derivatives_and_completes(dev_stack: DevStack, seg_service: RunningService,
                                                              trained: common_pb2.Job) -> None:
    settings = settings_for_stack(dev_stack)
    store = open_store(settings)
    prefix = f"datasets/itest-{time.time_ns()}"
    anatomical = []
    for path, payload in (("sub-01/anat/sub-01_T1w.nii.gz", _head(2)), ("sub-01/anat/sub-01_FLAIR.nii.gz", _head(3)),
                          ("sub-02/anat/sub-02_T1w.nii.gz", b"not a nifti")):
        info = store.put_bytes(f"{prefix}/{path}", payload)
        anatomical.append({"path": path, **artifact_ref_json(info)})
    dataset_uri = store.uri_for(prefix)
    with EventPublisher(settings, source="/tests") as publisher:
        publisher.publish(DATASET_READY, "tessera.bids.dataset.ready",
                          {"upload_id": "itest", "dataset_uri": dataset_uri, "anatomical": anatomical})
    deadline, event = time.monotonic() + 300, None
    while event is None and time.monotonic() < deadline:
        for _, record in read_topic(settings, COMPLETED, want=1000, timeout_s=3):
            data = decode(record.headers, record.key, record.value).get_data()  # type: ignore[attr-defined]
            if isinstance(data, dict) and data.get("dataset_uri") == dataset_uri:
                event = data
    assert event is not None, "no tessera.segmentation.completed event"
    assert event["segmented"] == 1
    assert [f["source"] for f in event["failed"]] == ["sub-02/anat/sub-02_T1w.nii.gz"]
    keys = {info.key for info in store.list(f"{prefix}/derivatives/tessera-seg/")}
    assert f"{prefix}/derivatives/tessera-seg/sub-01/anat/sub-01_desc-tissue_dseg.nii.gz" in keys
    report = store.get_bytes(f"{prefix}/derivatives/tessera-seg/segmentation_report.tsv").decode()
    assert "sub-02/anat/sub-02_T1w.nii.gz\tfailed" in report

