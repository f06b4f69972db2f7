"""The local-directory artifact store: round trips, checksums verified on read, safe keys, URIs."""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path

import pytest

from tessera.core.artifacts import LocalArtifactStore, open_uri, store_for_uri
from tessera.core.errors import IntegrityError, InvalidArgument, NotFound
from tests.streams import OneWayStream


@pytest.fixture
def store(tmp_path: Path) -> LocalArtifactStore:
    return LocalArtifactStore(tmp_path / "artifacts")


def test_round_trip_streams_and_records_sha256(store: LocalArtifactStore) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)  # several read chunks, not a whole number of them
    info = store.put_stream("volumes/a.raw", OneWayStream(data), size=len(data), media_type="application/x-raw")
    assert info.sha256 == hashlib.sha256(data).hexdigest()
    assert (info.size, info.media_type, info.key) == (len(data), "application/x-raw", "volumes/a.raw")
    assert info.uri == store.root_uri + "/volumes/a.raw"
    chunks = list(store.open("volumes/a.raw"))
    assert len(chunks) > 1
    assert b"".join(chunks) == data
    assert store.stat("volumes/a.raw") == info
    assert info.to_proto().sha256 == info.sha256


def test_empty_object(store: LocalArtifactStore) -> None:
    info = store.put_bytes("empty", b"")
    assert (info.size, info.sha256) == (0, hashlib.sha256(b"").hexdigest())
    assert store.get_bytes("empty") == b""


def test_overwrite_replaces_bytes_and_checksum(store: LocalArtifactStore) -> None:
    store.put_bytes("k", b"old")
    info = store.put_bytes("k", b"new bytes")
    assert store.get_bytes("k") == b"new bytes"
    assert store.stat("k").sha256 == info.sha256 == hashlib.sha256(b"new bytes").hexdigest()


def test_corrupted_file_on_disk_is_detected_on_read(store: LocalArtifactStore) -> None:
    data = os.urandom(2 * 1024 * 1024)
    store.put_bytes("m/model.onnx", data)
    path = store.root / "m" / "model.onnx"
    with open(path, "r+b") as fh:  # flip one byte in the middle, same size
        fh.seek(len(data) // 2)
        fh.write(bytes([data[len(data) // 2] ^ 0xFF]))
    with pytest.raises(IntegrityError, match=r"'m/model.onnx' is corrupt"):
        store.get_bytes("m/model.onnx")


def test_missing_checksum_sidecar_is_an_integrity_error(store: LocalArtifactStore) -> None:
    store.put_bytes("k", b"x")
    (store.root / ".meta" / "k.json").unlink()
    with pytest.raises(IntegrityError, match="no checksum"):
        store.stat("k")


@pytest.mark.parametrize("key", ["../x", "/etc/passwd", "a\x00b", "a/../../etc/passwd"])
def test_unsafe_keys_are_rejected_by_every_operation(store: LocalArtifactStore, key: str, tmp_path: Path) -> None:
    operations = [
        lambda: store.put_bytes(key, b"x"),
        lambda: store.open(key),
        lambda: store.stat(key),
        lambda: store.delete(key),
    ]
    for operation in operations:
        with pytest.raises(InvalidArgument) as caught:
            operation()
        assert caught.value.violations[0].field == "key"
    assert not (tmp_path / "x").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["artifacts"]


def test_absent_key_is_not_found_when_opened(store: LocalArtifactStore) -> None:
    with pytest.raises(NotFound, match="'nope'"):
        store.stat("nope")
    with pytest.raises(NotFound):
        store.open("nope")  # raised by open() itself, before any chunk is asked for
    assert not store.exists("nope")


def test_list_stat_delete(store: LocalArtifactStore) -> None:
    for key in ["b/2", "a/1", "a/3", "ab"]:
        store.put_bytes(key, key.encode())
    assert [i.key for i in store.list()] == ["a/1", "a/3", "ab", "b/2"]
    assert [i.key for i in store.list("a/")] == ["a/1", "a/3"]
    assert [i.key for i in store.list("a")] == ["a/1", "a/3", "ab"]
    assert [i.size for i in store.list("b/")] == [3]
    store.delete("a/1")
    store.delete("a/1")  # absent keys are not an error
    assert [i.key for i in store.list("a/")] == ["a/3"]
    assert not store.exists("a/1")
    with pytest.raises(NotFound):
        store.stat("a/1")


def test_declared_size_must_match_the_stream(store: LocalArtifactStore) -> None:
    with pytest.raises(InvalidArgument) as caught:
        store.put_stream("k", io.BytesIO(b"12345"), size=4)
    assert caught.value.violations[0].field == "size"
    assert not store.exists("k")
    assert [p.name for p in (store.root).iterdir() if p.name.startswith(".part-")] == []


def test_get_to_file(store: LocalArtifactStore, tmp_path: Path) -> None:
    info = store.put_bytes("k", b"payload")
    assert store.get_to_file("k", str(tmp_path / "out")) == info
    assert (tmp_path / "out").read_bytes() == b"payload"


def test_open_uri_finds_the_store_from_the_uri(store: LocalArtifactStore) -> None:
    info = store.put_bytes("jobs/j1/result.json", b'{"ok": true}')
    found, key = store_for_uri(info.uri)
    assert (found.root_uri, key) == (store.root_uri, "jobs/j1/result.json")
    assert b"".join(open_uri(info.uri, expected_sha256=info.sha256)) == b'{"ok": true}'


def test_open_uri_rejects_a_ref_whose_object_was_replaced(store: LocalArtifactStore) -> None:
    old = store.put_bytes("k", b"v1")
    store.put_bytes("k", b"v2")
    with pytest.raises(IntegrityError, match="reference says"):
        open_uri(old.uri, expected_sha256=old.sha256)


def test_open_uri_rejects_files_outside_any_store(tmp_path: Path) -> None:
    (tmp_path / "loose.bin").write_bytes(b"x")
    with pytest.raises(InvalidArgument, match="checksum sidecar"):
        open_uri((tmp_path / "loose.bin").as_uri())


def test_sidecar_holds_sha256_and_media_type(store: LocalArtifactStore) -> None:
    store.put_bytes("k.json", b"{}", media_type="application/json")
    meta = json.loads((store.root / ".meta" / "k.json.json").read_text())
    assert meta == {"sha256": hashlib.sha256(b"{}").hexdigest(), "media_type": "application/json", "size": 2}
