"""publish_dataset through the real moto S3 server: manifest last, verified reads, atomic failure."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tessera.bids import publish
from tessera.bids.publish import collect_garbage, download_dataset, publish_dataset, read_dataset_manifest
from tessera.bids.validate import ValidationReport, validate_dataset
from tessera.bids.writer import write_dataset
from tessera.core.artifacts import ArtifactInfo, ArtifactStore, open_store
from tessera.core.artifacts.base import DEFAULT_MEDIA_TYPE, ByteStream
from tessera.core.errors import FailedPrecondition, Unavailable
from tessera.core.settings import TesseraSettings
from tests.unit.bids.test_writer import csv_events, sample_plan


class FailingAfter(ArtifactStore):
    """The real store, with the connection 'dropping' after ``allowed`` uploads (fault injection)."""

    def __init__(self, inner: ArtifactStore, allowed: int):
        self.inner, self.allowed = inner, allowed

    @property
    def root_uri(self) -> str:
        return self.inner.root_uri

    def put_stream(self, key: str, stream: ByteStream, *, size: int = -1,
                   media_type: str = DEFAULT_MEDIA_TYPE) -> ArtifactInfo:
        self.allowed -= 1
        if self.allowed < 0:
            raise Unavailable(f"S3 endpoint unreachable to write {key!r} (injected)")
        return self.inner.put_stream(key, stream, size=size, media_type=media_type)

    def open(self, key: str) -> Iterator[bytes]:
        return self.inner.open(key)

    def stat(self, key: str) -> ArtifactInfo:
        return self.inner.stat(key)

    def list(self, prefix: str = "") -> Iterator[ArtifactInfo]:
        return self.inner.list(prefix)

    def delete(self, key: str) -> None:
        self.inner.delete(key)


Sample = tuple[Path, ValidationReport, list[str]]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Sample:
    root = tmp_path_factory.mktemp("publish")
    plan, converted, logs = sample_plan(root)
    summary = write_dataset(plan, converted, logs, root / "bids", events_tsv=csv_events)
    report = validate_dataset(root / "bids")
    assert report.ok, report.describe()
    return root / "bids", report, summary.anatomical


@pytest.fixture
def store(s3_settings: TesseraSettings) -> ArtifactStore:
    return open_store(s3_settings)


def test_publish_writes_files_then_a_manifest_that_verifies(
    store: ArtifactStore, dataset: Sample, tmp_path: Path
) -> None:
    local, report, anatomical = dataset
    prefix = f"datasets/{uuid.uuid4().hex}"
    ref = publish_dataset(local, store, prefix, validation=report, anatomical=anatomical)
    assert ref.uri == store.uri_for(f"{prefix}/manifest.json")
    check = read_dataset_manifest(store, prefix)
    assert check.complete, check.problems
    assert check.manifest is not None
    local_files = sorted(p.relative_to(local).as_posix() for p in local.rglob("*") if p.is_file())
    assert [f.path for f in check.manifest.files] == local_files
    assert check.manifest.anatomical == anatomical
    assert check.manifest.validator["errors"] == 0
    stored = {i.key for i in store.list(f"{prefix}/")}
    assert stored == {f"{prefix}/manifest.json"} | {check.manifest.key_of(p) for p in local_files}

    # The dataset read back from S3 is byte-identical and still valid BIDS.
    download_dataset(store, prefix, tmp_path / "copy")
    for path in local_files:
        assert (tmp_path / "copy" / path).read_bytes() == (local / path).read_bytes()
    assert validate_dataset(tmp_path / "copy").ok

    # Publishing the same content again is idempotent: same snapshot, same manifest bytes.
    again = publish_dataset(local, store, prefix, validation=report, anatomical=anatomical)
    assert (again.sha256, again.size) == (ref.sha256, ref.size)
    assert collect_garbage(store, prefix) == []


def test_failure_mid_upload_leaves_no_manifest_then_retry_completes(store: ArtifactStore, dataset: Sample) -> None:
    local, report, anatomical = dataset
    prefix = f"datasets/{uuid.uuid4().hex}"
    with pytest.raises(Unavailable, match="injected"):
        publish_dataset(local, FailingAfter(store, allowed=5), prefix, validation=report)
    check = read_dataset_manifest(store, prefix)
    assert not check.complete and check.manifest is None
    assert "never completed" in check.problems[0]
    partial = [i.key for i in store.list(f"{prefix}/")]
    assert partial and all("/snapshots/" in k for k in partial)  # garbage, no manifest

    publish_dataset(local, store, prefix, validation=report, anatomical=anatomical)  # the retry
    assert read_dataset_manifest(store, prefix).complete
    assert collect_garbage(store, prefix) == []  # the retry reused the same content-addressed keys


def test_tampered_or_missing_file_is_reported_and_garbage_collected(store: ArtifactStore, dataset: Sample) -> None:
    local, report, _ = dataset
    prefix = f"datasets/{uuid.uuid4().hex}"
    publish_dataset(local, store, prefix, validation=report)
    manifest = read_dataset_manifest(store, prefix).manifest
    assert manifest is not None
    store.put_bytes(manifest.key_of("README"), b"changed after publishing")
    store.delete(manifest.key_of("participants.tsv"))
    stray = f"{prefix}/{publish.SNAPSHOTS}/0123456789abcdef/README"
    store.put_bytes(stray, b"an abandoned attempt")
    check = read_dataset_manifest(store, prefix)
    assert not check.complete
    assert any(p.startswith("README: stored sha256/size") for p in check.problems)
    assert "participants.tsv: missing" in check.problems
    assert collect_garbage(store, prefix) == [stray]


def test_unvalidated_dataset_is_not_published(store: ArtifactStore, dataset: Sample) -> None:
    local, _, _ = dataset
    prefix = f"datasets/{uuid.uuid4().hex}"
    failed = ValidationReport(ok=False)
    with pytest.raises(FailedPrecondition, match="failed BIDS validation"):
        publish_dataset(local, store, prefix, validation=failed)
    assert list(store.list(f"{prefix}/")) == []
