"""Key validation and artifact-URI parsing: user input must never escape a store's root."""

from __future__ import annotations

import pytest

from tessera.core.artifacts import LocalArtifactStore, open_store, parse_artifact_uri, validate_key
from tessera.core.artifacts.keys import validate_prefix
from tessera.core.errors import InvalidArgument
from tessera.core.settings import SettingsError, load_settings


@pytest.mark.parametrize(
    "key",
    ["a", "models/resnet/1/model.onnx", "jobs/2024-01-01/abc.json", "name with spaces", "ünïcode/ключ", "a/.hidden"],
)
def test_safe_keys_pass_unchanged(key: str) -> None:
    assert validate_key(key) == key


@pytest.mark.parametrize(
    ("key", "why"),
    [
        ("../x", "'..' segment"),
        ("a/../../x", "'..' segment"),
        ("a/..", "'..' segment"),
        ("./x", "'.' segment"),
        ("/etc/passwd", "absolute"),
        ("a\x00b", "control character"),
        ("\x00", "control character"),
        ("a\nb", "control character"),
        ("a\x7fb", "control character"),
        ("a\\..\\x", "backslash"),
        ("a//b", "empty segment"),
        ("a/", "empty segment"),
        ("", "non-empty"),
        ("x" * 1025, "1024 bytes"),
        ("é" * 513, "1024 bytes"),  # 1026 UTF-8 bytes
        (".meta/x.json", "reserved"),
        (".uploads/0123", "reserved"),
    ],
)
def test_unsafe_keys_are_rejected_naming_the_field(key: str, why: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        validate_key(key, "request.output_key")
    [violation] = caught.value.violations
    assert violation.field == "request.output_key"
    assert why in violation.description


def test_non_string_key_is_rejected() -> None:
    with pytest.raises(InvalidArgument, match="non-empty string"):
        validate_key(None)  # type: ignore[arg-type]


@pytest.mark.parametrize("prefix", ["", "models/", "models", "models/res"])
def test_listing_prefixes(prefix: str) -> None:
    assert validate_prefix(prefix) == prefix


@pytest.mark.parametrize("prefix", ["../", "/etc/", "a\x00"])
def test_bad_listing_prefixes(prefix: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        validate_prefix(prefix)
    assert caught.value.violations[0].field == "prefix"


@pytest.mark.parametrize(
    ("uri", "scheme", "bucket", "path"),
    [
        ("s3://tessera", "s3", "tessera", ""),
        ("s3://tessera/", "s3", "tessera", ""),
        ("s3://tessera/runs/a.bin", "s3", "tessera", "runs/a.bin"),
        ("s3://tessera/with%20space", "s3", "tessera", "with space"),
        ("file:///var/lib/tessera", "file", "", "/var/lib/tessera"),
        ("file://localhost/var/lib/tessera", "file", "", "/var/lib/tessera"),
        ("file://./.tessera/artifacts", "file", "", "./.tessera/artifacts"),
        ("file:///tmp/a%20b", "file", "", "/tmp/a b"),
    ],
)
def test_parse_artifact_uri(uri: str, scheme: str, bucket: str, path: str) -> None:
    location = parse_artifact_uri(uri)
    assert (location.scheme, location.bucket, location.path) == (scheme, bucket, path)


@pytest.mark.parametrize("uri", ["http://x/y", "s3://", "file://", "/abs/path", "tessera/key"])
def test_parse_artifact_uri_rejects_naming_the_field(uri: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse_artifact_uri(uri, "input.uri")
    assert caught.value.violations[0].field == "input.uri"


def test_open_store_file_uri_absolute(tmp_path, clean_env) -> None:
    store = open_store(load_settings(artifacts_uri=(tmp_path / "store").as_uri()))
    assert isinstance(store, LocalArtifactStore)
    assert store.root == (tmp_path / "store").resolve()
    assert store.root_uri == (tmp_path / "store").resolve().as_uri()


def test_open_store_file_uri_relative_to_working_directory(tmp_path, clean_env) -> None:
    clean_env.chdir(tmp_path)
    store = open_store(load_settings(artifacts_uri="file://./rel/artifacts"))
    assert isinstance(store, LocalArtifactStore)
    assert store.root == (tmp_path / "rel" / "artifacts").resolve()


def test_open_store_s3_without_endpoint_names_the_variable(clean_env) -> None:
    with pytest.raises(SettingsError, match="TESSERA_S3_ENDPOINT"):
        open_store(load_settings(artifacts_uri="s3://tessera"))


def test_open_store_s3_bad_prefix_names_the_variable(clean_env) -> None:
    with pytest.raises(SettingsError, match="TESSERA_ARTIFACTS_URI"):
        open_store(load_settings(artifacts_uri="s3://tessera/../up", s3_endpoint="127.0.0.1:9"))
