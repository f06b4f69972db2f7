"""The ``ArtifactStore`` interface shared by the S3 and local-directory backends."""

from __future__ import annotations

import abc
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from tessera.v1 import common_pb2

SHA256_METADATA_KEY = "sha256"  # stored as x-amz-meta-sha256 on S3, in a sidecar locally
DEFAULT_MEDIA_TYPE = "application/octet-stream"
CHUNK_BYTES = 1024 * 1024


class ByteStream(Protocol):
    """What ``put_stream`` reads from: files, ``BytesIO``, sockets' ``makefile('rb')``, HTTP bodies.

    ``read(n)`` returns up to ``n`` bytes, ``b""`` at the end. Streams that also offer
    ``seekable()``/``tell()``/``seek()`` may be read twice (the S3 backend hashes them first).
    """

    def read(self, n: int = -1, /) -> bytes: ...


@dataclass(frozen=True)
class ArtifactInfo:
    """What the store knows about one object."""

    key: str
    uri: str
    size: int  # bytes
    sha256: str  # lowercase hex
    media_type: str

    def to_proto(self) -> common_pb2.ArtifactRef:
        return common_pb2.ArtifactRef(uri=self.uri, sha256=self.sha256, size=self.size, media_type=self.media_type)


class ArtifactStore(abc.ABC):
    """Immutable-by-convention object store addressed by validated relative keys.

    Every object's SHA-256 is computed while writing and kept in its metadata; every read
    verifies it and raises :class:`tessera.core.errors.IntegrityError` on a mismatch.
    """

    @property
    @abc.abstractmethod
    def root_uri(self) -> str:
        """``s3://bucket/prefix`` or ``file:///abs/path``."""

    @abc.abstractmethod
    def put_stream(
        self, key: str, stream: ByteStream, *, size: int = -1, media_type: str = DEFAULT_MEDIA_TYPE
    ) -> ArtifactInfo:
        """Store the stream's bytes under ``key`` (multipart for large objects; ``size=-1`` if unknown)."""

    @abc.abstractmethod
    def open(self, key: str) -> Iterator[bytes]:
        """Yield the object's bytes in chunks, verifying SHA-256 at the end (raises on mismatch)."""

    @abc.abstractmethod
    def stat(self, key: str) -> ArtifactInfo:
        """Metadata of ``key``; raises :class:`tessera.core.errors.NotFound` if absent."""

    @abc.abstractmethod
    def list(self, prefix: str = "") -> Iterator[ArtifactInfo]:
        """Objects whose key starts with ``prefix``, in key order."""

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        """Remove ``key``; absent keys are not an error."""

    def uri_for(self, key: str) -> str:
        return f"{self.root_uri.rstrip('/')}/{key}"

    # Conveniences built on the primitives above.
    def put_bytes(self, key: str, data: bytes, *, media_type: str = DEFAULT_MEDIA_TYPE) -> ArtifactInfo:
        import io

        return self.put_stream(key, io.BytesIO(data), size=len(data), media_type=media_type)

    def get_bytes(self, key: str) -> bytes:
        return b"".join(self.open(key))

    def get_to_file(self, key: str, path: str) -> ArtifactInfo:
        with open(path, "wb") as fh:
            for chunk in self.open(key):
                fh.write(chunk)
        return self.stat(key)

    def exists(self, key: str) -> bool:
        from tessera.core.errors import NotFound

        try:
            self.stat(key)
        except NotFound:
            return False
        return True


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
