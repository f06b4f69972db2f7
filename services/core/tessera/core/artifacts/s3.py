"""S3 backend (minio SDK): MinIO in production, moto's S3 server in tests and the dev stack.

Objects live at ``<prefix>/<key>`` in one bucket. Each carries its SHA-256 as user metadata
(``x-amz-meta-sha256``) and its media type as ``Content-Type``; :meth:`S3ArtifactStore.open`
re-hashes what it streams and raises :class:`IntegrityError` on a mismatch.

Why two upload paths: S3 fixes an object's metadata when its upload *starts*
(PutObject / CreateMultipartUpload), but the SHA-256 of a stream is known only when it *ends*.

* Seekable streams (files, ``BytesIO``; the common case: volumes and models on disk) are hashed
  in a first local pass, rewound, and uploaded once, straight to the final key with the digest in
  its metadata (multipart above ``part_size``). The upload pass hashes again; if the bytes changed
  between the passes the object is deleted and :class:`IntegrityError` raised.
* Other streams (sockets, pipes, generators) are uploaded while hashing to a temporary key
  ``<prefix>/.uploads/<uuid>`` (multipart, ``length=-1``), then server-side copied to the final
  key with ``compose_object`` carrying the digest as replaced metadata, and the temporary object
  is deleted. ``compose_object`` is a plain CopyObject up to 5 GiB and an UploadPartCopy multipart
  copy above it, so objects over S3's 5 GiB single-copy limit work too. The copy costs the server
  one extra write but never buffers the object on this side. A process that dies between upload
  and copy leaves a ``.uploads/`` object behind: give the bucket a lifecycle rule that expires
  ``.uploads/`` (and aborts incomplete multipart uploads) after a day.

``.uploads`` is a reserved first key segment (see :func:`tessera.core.artifacts.keys.validate_key`),
so user keys never collide with temporary ones and :meth:`list` never shows them.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import uuid
from collections.abc import Iterator
from typing import Any, Protocol, TypeGuard

import urllib3
from minio import Minio
from minio.commonconfig import ComposeSource
from minio.error import InvalidResponseError, S3Error, ServerError

from tessera.core.artifacts.base import (
    CHUNK_BYTES,
    DEFAULT_MEDIA_TYPE,
    SHA256_METADATA_KEY,
    ArtifactInfo,
    ArtifactStore,
    ByteStream,
)
from tessera.core.artifacts.keys import UPLOADS_SEGMENT, validate_key, validate_prefix
from tessera.core.errors import FailedPrecondition, IntegrityError, InvalidArgument, NotFound, TesseraError, Unavailable

SHA256_HEADER = f"x-amz-meta-{SHA256_METADATA_KEY}"
MIN_PART_BYTES = 5 * 1024 * 1024  # S3's minimum multipart part size (all parts but the last)
MAX_PARTS = 10_000  # S3's maximum part count per multipart upload
_CREDENTIAL_ERRORS = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"}


class _SeekableStream(ByteStream, Protocol):
    def seekable(self) -> bool: ...
    def tell(self) -> int: ...
    def seek(self, offset: int, whence: int = 0, /) -> int: ...


class _SourceReadError(Exception):
    """The caller's stream failed while we read it; carries the original as ``__cause__``.

    Not an ``OSError``, so the S3 error translation below never mistakes it for the endpoint failing.
    """


class _HashingReader:
    """File-like ``read(n)`` over a stream that hashes and counts the bytes handed to minio."""

    def __init__(self, stream: ByteStream):
        self._stream = stream
        self.digest = hashlib.sha256()
        self.count = 0  # bytes read so far

    def read(self, n: int = -1) -> bytes:
        try:
            chunk = self._stream.read(n)
        except Exception as exc:
            raise _SourceReadError(str(exc)) from exc
        self.digest.update(chunk)
        self.count += len(chunk)
        return chunk


class _VerifyingChunks(Iterator[bytes]):
    """Chunks of one GET response; after the last one, checks the SHA-256 against the metadata.

    The response is closed and its connection released when the iteration ends, fails, or
    :meth:`close` is called (also on garbage collection), so an abandoned read never leaks it.
    """

    def __init__(self, store: S3ArtifactStore, key: str, response: Any, expected_sha256: str):
        self._store, self._key, self._response = store, key, response
        self._expected = expected_sha256
        self._digest = hashlib.sha256()
        self._chunks = response.stream(CHUNK_BYTES)
        self._closed = False

    def __next__(self) -> bytes:
        if self._closed:
            raise StopIteration
        try:
            with self._store._translate("read", self._key):
                chunk = next(self._chunks, None)
        except BaseException:
            self.close()
            raise
        if chunk is not None:
            self._digest.update(chunk)
            return bytes(chunk)
        self.close()
        actual = self._digest.hexdigest()
        if actual != self._expected:
            raise IntegrityError(
                f"artifact {self._key!r} in {self._store.root_uri} is corrupt: "
                f"sha256 {actual} != recorded {self._expected}"
            )
        raise StopIteration

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._response.close()
            self._response.release_conn()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()


class S3ArtifactStore(ArtifactStore):
    """Artifacts in ``s3://<bucket>/<prefix>`` through a configured :class:`minio.Minio` client.

    ``part_size`` (bytes, >= 5 MiB) is the multipart part size; objects up to it go in one PUT.
    Errors: :class:`NotFound` (absent key), :class:`InvalidArgument` (bad key/size),
    :class:`IntegrityError` (checksum mismatch or missing), :class:`FailedPrecondition` (no such
    bucket, credentials refused), :class:`Unavailable` (endpoint unreachable or failing).
    """

    def __init__(self, client: Minio, bucket: str, prefix: str = "", *, part_size: int = 16 * 1024 * 1024):
        if not bucket:
            raise InvalidArgument.field("bucket", "must be a non-empty S3 bucket name")
        if part_size < MIN_PART_BYTES:
            raise InvalidArgument.field("part_size", f"must be at least {MIN_PART_BYTES} bytes (S3's minimum)")
        prefix = prefix.strip("/")
        if prefix:
            validate_key(prefix, "prefix")
        self.client, self.bucket, self.prefix, self.part_size = client, bucket, prefix, part_size

    # ----------------------------------------------------------------- naming and errors

    @property
    def root_uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    @property
    def endpoint(self) -> str:
        """``http(s)://host:port`` of the S3 server, for error messages."""
        base = self.client._base_url  # minio keeps no public accessor for it
        return f"{'https' if base.is_https else 'http'}://{base.host}"

    def _object_name(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _key_of(self, object_name: str) -> str:
        return object_name[len(self.prefix) + 1 :] if self.prefix else object_name

    @contextlib.contextmanager
    def _translate(self, action: str, key: str) -> Iterator[None]:
        """Map minio/urllib3 failures of ``action`` on ``key`` to the domain errors."""
        where = f"{self.root_uri} at {self.endpoint}"
        try:
            yield
        except TesseraError:
            raise
        except S3Error as exc:
            if exc.code == "NoSuchKey":
                raise NotFound(f"artifact {key!r} not found in {self.root_uri}") from None
            if exc.code == "NoSuchBucket":
                raise FailedPrecondition(f"bucket {self.bucket!r} does not exist at {self.endpoint}") from None
            if exc.code in _CREDENTIAL_ERRORS:
                raise FailedPrecondition(
                    f"S3 at {self.endpoint} refused the credentials to {action} {key!r}: {exc.code}"
                ) from None
            raise Unavailable(f"S3 failed to {action} {key!r} in {where}: {exc.code}: {exc.message}") from exc
        except (ServerError, InvalidResponseError) as exc:
            raise Unavailable(f"S3 failed to {action} {key!r} in {where}: {exc}") from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise Unavailable(f"S3 endpoint {self.endpoint} unreachable to {action} {key!r}: {exc}") from exc

    def _info(self, key: str, size: int, sha256: str | None, media_type: str | None) -> ArtifactInfo:
        if not sha256:
            raise IntegrityError(f"artifact {key!r} in {self.root_uri} has no {SHA256_HEADER} metadata")
        return ArtifactInfo(key, self.uri_for(key), size, sha256, media_type or DEFAULT_MEDIA_TYPE)

    # ----------------------------------------------------------------- writing

    def put_stream(
        self, key: str, stream: ByteStream, *, size: int = -1, media_type: str = DEFAULT_MEDIA_TYPE
    ) -> ArtifactInfo:
        validate_key(key)
        try:
            if _is_seekable(stream):
                return self._put_seekable(key, stream, size, media_type)
            return self._put_via_temporary(key, stream, size, media_type)
        except _SourceReadError as exc:
            raise exc.__cause__ or exc from None

    def _put_seekable(self, key: str, stream: _SeekableStream, size: int, media_type: str) -> ArtifactInfo:
        start = stream.tell()
        first_pass, length = hashlib.sha256(), 0
        while chunk := stream.read(CHUNK_BYTES):
            first_pass.update(chunk)
            length += len(chunk)
        _check_size(key, size, length)
        stream.seek(start)
        sha256 = first_pass.hexdigest()
        reader = _HashingReader(stream)
        name = self._object_name(key)
        with self._translate("write", key):
            self.client.put_object(
                self.bucket, name, reader, length,  # type: ignore[arg-type]  # minio only needs read()
                content_type=media_type,
                metadata={SHA256_METADATA_KEY: sha256},
                part_size=_part_size_for(length, self.part_size),
            )
        if reader.digest.hexdigest() != sha256:
            with self._translate("delete", key):
                self.client.remove_object(self.bucket, name)
            raise IntegrityError(f"stream for {key!r} changed while it was being uploaded; nothing was stored")
        return ArtifactInfo(key, self.uri_for(key), length, sha256, media_type)

    def _put_via_temporary(self, key: str, stream: ByteStream, size: int, media_type: str) -> ArtifactInfo:
        temp_name = self._object_name(f"{UPLOADS_SEGMENT}/{uuid.uuid4().hex}")
        reader = _HashingReader(stream)
        try:
            with self._translate("write", key):
                # length=-1: minio reads part_size+1 bytes at a time, multipart once past one part.
                self.client.put_object(
                    self.bucket, temp_name, reader, -1,  # type: ignore[arg-type]  # minio only needs read()
                    content_type=media_type,
                    part_size=self.part_size,
                )
            _check_size(key, size, reader.count)
            sha256 = reader.digest.hexdigest()
            with self._translate("write", key):
                self.client.compose_object(
                    self.bucket,
                    self._object_name(key),
                    [ComposeSource(self.bucket, temp_name)],
                    metadata={"Content-Type": media_type, SHA256_METADATA_KEY: sha256},
                )
        finally:
            with contextlib.suppress(Exception):  # best effort; the lifecycle rule catches leftovers
                self.client.remove_object(self.bucket, temp_name)
        return ArtifactInfo(key, self.uri_for(key), reader.count, sha256, media_type)

    # ----------------------------------------------------------------- reading

    def open(self, key: str) -> Iterator[bytes]:
        """Start the GET now (so :class:`NotFound` raises here) and return verifying chunks."""
        validate_key(key)
        with self._translate("read", key):
            response = self.client.get_object(self.bucket, self._object_name(key))
        expected = response.headers.get(SHA256_HEADER)
        if not expected:
            response.close()
            response.release_conn()
            raise IntegrityError(f"artifact {key!r} in {self.root_uri} has no {SHA256_HEADER} metadata")
        return _VerifyingChunks(self, key, response, expected)

    def stat(self, key: str) -> ArtifactInfo:
        validate_key(key)
        with self._translate("stat", key):
            obj = self.client.stat_object(self.bucket, self._object_name(key))
        metadata = obj.metadata or {}
        return self._info(key, obj.size or 0, metadata.get(SHA256_HEADER), obj.content_type)

    def list(self, prefix: str = "") -> Iterator[ArtifactInfo]:
        """Objects under ``prefix`` in key order; one HEAD per object for its sha256 and media type.

        Plain S3 ListObjectsV2 returns no user metadata (MinIO's ``metadata=true`` extension does,
        but moto and AWS do not), hence the HEADs.
        """
        validate_prefix(prefix)
        with self._translate("list", prefix):
            objects = self.client.list_objects(self.bucket, prefix=self._object_name(prefix), recursive=True)
            names = [obj.object_name for obj in objects if obj.object_name is not None]
        for name in sorted(names):
            key = self._key_of(name)
            if key.split("/", 1)[0] == UPLOADS_SEGMENT:
                continue
            try:
                yield self.stat(key)
            except NotFound:  # deleted between the listing and the HEAD
                continue

    def delete(self, key: str) -> None:
        validate_key(key)
        with self._translate("delete", key):
            self.client.remove_object(self.bucket, self._object_name(key))  # S3 DELETE is idempotent


def _is_seekable(stream: ByteStream) -> TypeGuard[_SeekableStream]:
    try:
        return bool(stream.seekable()) and stream.tell() >= 0  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):
        return False


def _check_size(key: str, declared: int, actual: int) -> None:
    if declared >= 0 and declared != actual:
        raise InvalidArgument.field("size", f"stream for {key!r} gave {actual} bytes, declared {declared}")


def _part_size_for(length: int, part_size: int) -> int:
    """``part_size``, raised (to a whole MiB) where needed to stay within S3's 10,000 parts."""
    mib = 1024 * 1024
    return max(part_size, math.ceil(length / MAX_PARTS / mib) * mib)
