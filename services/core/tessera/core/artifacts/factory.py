"""Build the configured :class:`ArtifactStore`, and resolve artifact URIs (``ArtifactRef.uri``).

``TESSERA_ARTIFACTS_URI`` picks the backend:

* ``s3://bucket[/prefix]`` -> :class:`S3ArtifactStore` on ``TESSERA_S3_ENDPOINT`` (minio SDK),
* ``file:///abs/path`` or ``file://./relative/path`` -> :class:`LocalArtifactStore`.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

import certifi
import urllib3
from minio import Minio

from tessera.core.artifacts.base import ArtifactStore
from tessera.core.artifacts.keys import META_SEGMENT, validate_key
from tessera.core.artifacts.local import LocalArtifactStore
from tessera.core.artifacts.s3 import S3ArtifactStore
from tessera.core.errors import IntegrityError, InvalidArgument
from tessera.core.settings import ENV_PREFIX, SettingsError, TesseraSettings

S3_CONNECT_TIMEOUT_S = 10.0
S3_READ_TIMEOUT_S = 300.0  # one part of a large upload may take a while on a slow link
S3_RETRIES = 3  # connection errors and 5xx; backoff 0.2 s doubling (~1.4 s in all before Unavailable)


@dataclass(frozen=True)
class ArtifactLocation:
    """A parsed artifact URI.

    ``s3://bucket/a/b`` -> ``scheme="s3", bucket="bucket", path="a/b"`` (the object name);
    ``file:///abs/a/b`` -> ``scheme="file", bucket="", path="/abs/a/b"`` (a filesystem path, maybe
    relative for ``file://./rel``).
    """

    scheme: Literal["s3", "file"]
    bucket: str
    path: str


def parse_artifact_uri(uri: str, field: str = "uri") -> ArtifactLocation:
    """Split an ``s3://`` or ``file://`` URI; :class:`InvalidArgument` naming ``field`` otherwise."""
    if uri.startswith("s3://"):
        parts = urlsplit(uri)
        if not parts.netloc:
            raise InvalidArgument.field(field, f"s3 URI {uri!r} names no bucket")
        return ArtifactLocation("s3", parts.netloc, unquote(parts.path).strip("/"))
    if uri.startswith("file://"):
        rest = unquote(uri[len("file://") :])
        if rest.startswith("localhost/"):
            rest = rest[len("localhost") :]
        if not rest:
            raise InvalidArgument.field(field, f"file URI {uri!r} names no path")
        return ArtifactLocation("file", "", rest)
    raise InvalidArgument.field(field, f"must start with s3:// or file:// (got {uri!r})")


def s3_client(settings: TesseraSettings) -> Minio:
    """A :class:`Minio` client for ``settings.s3_endpoint`` with bounded timeouts and retries."""
    if not settings.s3_endpoint:
        raise SettingsError(f"{ENV_PREFIX}S3_ENDPOINT: required when {ENV_PREFIX}ARTIFACTS_URI is s3://...")
    http = urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=S3_CONNECT_TIMEOUT_S, read=S3_READ_TIMEOUT_S),
        maxsize=10,
        cert_reqs="CERT_REQUIRED",
        ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
        retries=urllib3.Retry(total=S3_RETRIES, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]),
    )
    return Minio(
        settings.s3_endpoint,
        access_key=settings.s3_access_key,
        secret_key=settings.s3_secret_key.get_secret_value(),
        secure=settings.s3_secure,
        region=settings.s3_region,  # known region: no GetBucketLocation round trip
        http_client=http,
    )


def open_store(settings: TesseraSettings, uri: str | None = None) -> ArtifactStore:
    """The store rooted at ``uri`` (default ``settings.artifacts_uri``), configured from ``settings``."""
    root = uri or settings.artifacts_uri
    try:
        location = parse_artifact_uri(root, "artifacts_uri")
        if location.scheme == "s3":
            return S3ArtifactStore(
                s3_client(settings), location.bucket, location.path, part_size=settings.s3_part_size
            )
        return LocalArtifactStore(Path(location.path))
    except InvalidArgument as exc:
        if uri is not None:
            raise
        raise SettingsError(f"{ENV_PREFIX}ARTIFACTS_URI: {exc}") from None


def store_for_uri(uri: str, settings: TesseraSettings | None = None) -> tuple[ArtifactStore, str]:
    """The store holding the object ``uri`` names, and its key there.

    ``s3://bucket/key`` -> a store on ``settings``' S3 endpoint rooted at the bucket (settings
    required). ``file:///root/key`` -> the local store whose root holds the key's checksum sidecar
    (``<root>/.meta/<key>.json``): the nearest ancestor directory that has one.
    """
    location = parse_artifact_uri(uri)
    if location.scheme == "s3":
        if settings is None:
            raise InvalidArgument.field("uri", f"reading {uri!r} needs S3 settings (endpoint, credentials)")
        validate_key(location.path, "uri")
        return open_store(settings, f"s3://{location.bucket}"), location.path
    path = Path(location.path).resolve()
    for root in path.parents:
        key = path.relative_to(root).as_posix()
        if (root / META_SEGMENT / f"{key}.json").is_file():
            return LocalArtifactStore(root), validate_key(key, "uri")
    raise InvalidArgument.field("uri", f"{uri!r} is not an object of a local artifact store (no checksum sidecar)")


def open_uri(uri: str, settings: TesseraSettings | None = None, *, expected_sha256: str = "") -> Iterator[bytes]:
    """Stream the object an ``ArtifactRef`` names, verified against its stored SHA-256.

    With ``expected_sha256`` (the ref's ``sha256``) the bytes must also hash to it: an object
    replaced since the ref was made raises :class:`IntegrityError` (before any byte when its
    recorded digest already differs, else at the end of the stream).
    """
    store, key = store_for_uri(uri, settings)
    if not expected_sha256:
        return store.open(key)
    expected = expected_sha256.lower()
    recorded = store.stat(key).sha256
    if recorded != expected:
        raise IntegrityError(f"{uri!r} has sha256 {recorded}, the reference says {expected}")
    return _matching(uri, store.open(key), expected)


def _matching(uri: str, chunks: Iterator[bytes], expected: str) -> Iterator[bytes]:
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
        yield chunk
    if digest.hexdigest() != expected:
        raise IntegrityError(f"{uri!r} streamed sha256 {digest.hexdigest()}, the reference says {expected}")
