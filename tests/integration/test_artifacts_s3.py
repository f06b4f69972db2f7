"""The artifact stores against the real moto S3 server: multipart, checksums, keys, errors.

The behavioural contract runs on both backends (``store`` is parametrized over S3 and local);
S3-only tests cover multipart, the temporary-upload path, and endpoint failures.
"""

from __future__ import annotations

import hashlib
import io
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tessera.core.artifacts import (
    ArtifactStore,
    LocalArtifactStore,
    S3ArtifactStore,
    open_store,
    open_uri,
    s3_client,
)
from tessera.core.artifacts.s3 import SHA256_HEADER
from tessera.core.errors import FailedPrecondition, IntegrityError, InvalidArgument, NotFound, Unavailable
from tessera.core.settings import TesseraSettings
from tessera.devstack.process import free_port
from tests.streams import OneWayStream

pytestmark = pytest.mark.integration

MiB = 1024 * 1024
PART = 5 * MiB  # S3's minimum part size: 64 MiB goes up in 13 parts
BUCKET = "tessera"


@pytest.fixture
def s3_store(s3_settings: TesseraSettings) -> Iterator[S3ArtifactStore]:
    prefix = f"test-{uuid.uuid4().hex[:12]}"
    yield S3ArtifactStore(s3_client(s3_settings), BUCKET, prefix, part_size=PART)


def recorded_sha256(store: S3ArtifactStore, key: str) -> str:
    """The x-amz-meta-sha256 of ``key``, read with the raw client (not through the store)."""
    metadata = store.client.stat_object(BUCKET, f"{store.prefix}/{key}").metadata
    assert metadata is not None
    return str(metadata[SHA256_HEADER])


def corrupt_s3(store: ArtifactStore, key: str) -> None:
    """Replace the object's bytes directly, keeping its recorded sha256 metadata."""
    assert isinstance(store, S3ArtifactStore)
    name = f"{store.prefix}/{key}"
    recorded = recorded_sha256(store, key)
    data = bytearray(store.get_bytes(key))
    data[len(data) // 2] ^= 0xFF
    store.client.put_object(BUCKET, name, io.BytesIO(bytes(data)), len(data), metadata={"sha256": recorded})
    assert recorded_sha256(store, key) == recorded


def corrupt_local(store: ArtifactStore, key: str) -> None:
    assert isinstance(store, LocalArtifactStore)
    path = store.root / key
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.fixture(params=["s3", "local"])
def store_and_corrupt(
    request: pytest.FixtureRequest, tmp_path: Path
) -> tuple[ArtifactStore, Callable[[ArtifactStore, str], None]]:
    if request.param == "s3":
        return request.getfixturevalue("s3_store"), corrupt_s3
    return LocalArtifactStore(tmp_path / "artifacts"), corrupt_local


@pytest.fixture
def store(store_and_corrupt: tuple[ArtifactStore, Callable[[ArtifactStore, str], None]]) -> ArtifactStore:
    return store_and_corrupt[0]


# ------------------------------------------------------------------ contract, both backends


def test_round_trip_records_and_verifies_sha256(store: ArtifactStore) -> None:
    data = os.urandom(3 * MiB + 5)
    info = store.put_stream("v/a.raw", io.BytesIO(data), size=len(data), media_type="application/x-raw")
    assert (info.size, info.media_type) == (len(data), "application/x-raw")
    assert info.sha256 == hashlib.sha256(data).hexdigest()
    assert info.uri == store.root_uri + "/v/a.raw"
    assert store.stat("v/a.raw") == info
    assert store.get_bytes("v/a.raw") == data


def test_non_seekable_stream_of_unknown_size(store: ArtifactStore) -> None:
    data = os.urandom(12 * MiB + 1)  # > 2 parts of 5 MiB
    info = store.put_stream("v/piped.raw", OneWayStream(data, step=1_000_003))
    assert (info.size, info.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert store.stat("v/piped.raw") == info
    assert store.get_bytes("v/piped.raw") == data
    assert [i.key for i in store.list()] == ["v/piped.raw"]  # no temporary object left or listed


def test_corrupted_object_is_detected_on_read(
    store_and_corrupt: tuple[ArtifactStore, Callable[[ArtifactStore, str], None]],
) -> None:
    store, corrupt = store_and_corrupt
    data = os.urandom(2 * MiB)
    info = store.put_bytes("m/model.onnx", data)
    corrupt(store, "m/model.onnx")
    assert store.stat("m/model.onnx").sha256 == info.sha256  # the recorded checksum is unchanged
    with pytest.raises(IntegrityError, match=r"'m/model.onnx'.*corrupt"):
        store.get_bytes("m/model.onnx")


@pytest.mark.parametrize("key", ["../x", "/etc/passwd", "a\x00b"])
def test_unsafe_keys_are_rejected_naming_the_field(store: ArtifactStore, key: str) -> None:
    for operation in (
        lambda: store.put_bytes(key, b"x"),
        lambda: store.open(key),
        lambda: store.stat(key),
        lambda: store.delete(key),
    ):
        with pytest.raises(InvalidArgument) as caught:
            operation()
        assert caught.value.violations[0].field == "key"
    with pytest.raises(InvalidArgument) as caught:
        list(store.list(key))
    assert caught.value.violations[0].field == "prefix"


def test_stat_list_delete(store: ArtifactStore) -> None:
    for key in ["b/2", "a/1", "a/3", "ab"]:
        store.put_bytes(key, key.encode(), media_type="text/plain")
    assert [i.key for i in store.list()] == ["a/1", "a/3", "ab", "b/2"]
    assert [i.key for i in store.list("a/")] == ["a/1", "a/3"]
    assert [i.key for i in store.list("a")] == ["a/1", "a/3", "ab"]
    [b2] = store.list("b/")
    assert (b2.size, b2.sha256, b2.media_type) == (3, hashlib.sha256(b"b/2").hexdigest(), "text/plain")
    store.delete("a/1")
    store.delete("a/1")  # absent keys are not an error
    assert [i.key for i in store.list("a/")] == ["a/3"]
    assert not store.exists("a/1")


def test_absent_key_is_not_found(store: ArtifactStore) -> None:
    with pytest.raises(NotFound, match="'nope/x'"):
        store.stat("nope/x")
    with pytest.raises(NotFound, match="'nope/x'"):
        store.open("nope/x")  # raised by open() itself, before any chunk is asked for


def test_declared_size_must_match(store: ArtifactStore) -> None:
    for stream in (io.BytesIO(b"12345"), OneWayStream(b"12345")):
        with pytest.raises(InvalidArgument) as caught:
            store.put_stream("k", stream, size=4)
        assert caught.value.violations[0].field == "size"
    assert not store.exists("k")
    assert list(store.list()) == []


# ------------------------------------------------------------------ S3 only


def test_64_mib_round_trip_through_multipart(s3_store: S3ArtifactStore) -> None:
    data = os.urandom(64 * MiB)
    info = s3_store.put_stream("volumes/big.raw", io.BytesIO(data), size=len(data))
    assert info.sha256 == hashlib.sha256(data).hexdigest()
    obj = s3_store.client.stat_object(BUCKET, f"{s3_store.prefix}/volumes/big.raw")
    assert obj.etag is not None and obj.etag.endswith("-13")  # S3's multipart etag: md5-of-md5s-<parts>
    assert recorded_sha256(s3_store, "volumes/big.raw") == info.sha256
    assert obj.size == 64 * MiB
    digest, total, chunks = hashlib.sha256(), 0, 0
    for chunk in s3_store.open("volumes/big.raw"):  # streamed: verified without holding 64 MiB
        digest.update(chunk)
        total, chunks = total + len(chunk), chunks + 1
    assert (total, digest.hexdigest()) == (64 * MiB, info.sha256)
    assert chunks >= 64


def test_prefixes_isolate_stores(s3_settings: TesseraSettings) -> None:
    client = s3_client(s3_settings)
    base = f"test-{uuid.uuid4().hex[:12]}"
    one, two = S3ArtifactStore(client, BUCKET, f"{base}/one"), S3ArtifactStore(client, BUCKET, f"{base}/one-more")
    one.put_bytes("k", b"1")
    two.put_bytes("k", b"2")
    assert [i.uri for i in one.list()] == [f"s3://{BUCKET}/{base}/one/k"]
    assert one.get_bytes("k") == b"1"
    assert client.stat_object(BUCKET, f"{base}/one/k").size == 1


def test_open_store_and_open_uri_from_settings(s3_settings: TesseraSettings) -> None:
    prefix = f"test-{uuid.uuid4().hex[:12]}"
    store = open_store(s3_settings.model_copy(update={"artifacts_uri": f"s3://{BUCKET}/{prefix}"}))
    assert isinstance(store, S3ArtifactStore)
    assert (store.bucket, store.prefix, store.part_size) == (BUCKET, prefix, s3_settings.s3_part_size)
    info = store.put_bytes("jobs/j1.json", b"{}", media_type="application/json")
    assert info.uri == f"s3://{BUCKET}/{prefix}/jobs/j1.json"
    assert b"".join(open_uri(info.uri, s3_settings, expected_sha256=info.sha256)) == b"{}"
    store.put_bytes("jobs/j1.json", b"{ }")
    with pytest.raises(IntegrityError, match="reference says"):
        open_uri(info.uri, s3_settings, expected_sha256=info.sha256)


def test_object_without_checksum_metadata_is_refused(s3_store: S3ArtifactStore) -> None:
    s3_store.client.put_object(BUCKET, f"{s3_store.prefix}/raw", io.BytesIO(b"x"), 1)
    with pytest.raises(IntegrityError, match="no x-amz-meta-sha256"):
        s3_store.open("raw")
    with pytest.raises(IntegrityError, match="no x-amz-meta-sha256"):
        s3_store.stat("raw")


def test_unreachable_endpoint_is_unavailable_naming_it(s3_settings: TesseraSettings) -> None:
    endpoint = f"127.0.0.1:{free_port('127.0.0.1')}"  # nothing listens there
    store = open_store(s3_settings.model_copy(update={"s3_endpoint": endpoint}))
    with pytest.raises(Unavailable, match=f"http://{endpoint}"):
        store.stat("k")
    with pytest.raises(Unavailable, match=f"http://{endpoint}"):
        store.put_bytes("k", b"x")


def test_missing_bucket_is_a_failed_precondition(s3_settings: TesseraSettings) -> None:
    store = S3ArtifactStore(s3_client(s3_settings), f"absent-{uuid.uuid4().hex[:8]}")
    with pytest.raises(FailedPrecondition, match="does not exist"):
        store.put_bytes("k", b"x")


def traced_requests(store: S3ArtifactStore, action: Callable[[], object]) -> list[str]:
    """The HTTP request lines (and copy-source headers) minio sends while ``action`` runs."""
    trace = io.StringIO()
    store.client.trace_on(trace)
    try:
        action()
    finally:
        store.client.trace_off()
    lines = trace.getvalue().splitlines()
    return [line for line in lines if line.startswith(("PUT ", "POST ", "DELETE ", "X-Amz-Copy-Source"))]


def test_non_seekable_upload_goes_multipart_to_a_temporary_key_then_is_copied(s3_store: S3ArtifactStore) -> None:
    data = os.urandom(11 * MiB)  # 3 parts of 5 MiB
    requests = traced_requests(s3_store, lambda: s3_store.put_stream("k", OneWayStream(data)))
    temp = f"/{BUCKET}/{s3_store.prefix}/.uploads/"
    part_puts = [r for r in requests if r.startswith(f"PUT {temp}") and "partNumber=" in r]
    assert len(part_puts) == 3
    assert f"PUT /{BUCKET}/{s3_store.prefix}/k HTTP/1.1" in requests
    assert any(r.startswith(f"X-Amz-Copy-Source: {temp}") for r in requests)  # server-side copy
    assert any(r.startswith(f"DELETE {temp}") for r in requests)
    assert recorded_sha256(s3_store, "k") == hashlib.sha256(data).hexdigest()


def test_seekable_upload_goes_straight_to_its_key(s3_store: S3ArtifactStore) -> None:
    data = os.urandom(11 * MiB)
    requests = traced_requests(s3_store, lambda: s3_store.put_stream("k", io.BytesIO(data)))
    assert all(f"/{s3_store.prefix}/k?" in r for r in requests if r.startswith(("PUT ", "POST ")))
    assert not any(".uploads" in r or r.startswith(("X-Amz-Copy-Source", "DELETE")) for r in requests)
    assert s3_store.get_bytes("k") == data
