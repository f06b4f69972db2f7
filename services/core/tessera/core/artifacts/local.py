"""Local-directory backend: the embedded default when no S3 endpoint is configured.

Objects live at ``<root>/<key>``; their metadata (sha256, media type) in a JSON sidecar at
``<root>/.meta/<key>.json``. Writes go to a temporary file and are renamed into place, so a
reader never sees a partial object.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from tessera.core.artifacts.base import CHUNK_BYTES, DEFAULT_MEDIA_TYPE, ArtifactInfo, ArtifactStore, ByteStream
from tessera.core.artifacts.keys import META_SEGMENT, validate_key, validate_prefix
from tessera.core.errors import IntegrityError, InvalidArgument, NotFound

META_DIR = META_SEGMENT


class LocalArtifactStore(ArtifactStore):
    def __init__(self, root: str | Path):
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    @property
    def root_uri(self) -> str:
        return self.root.as_uri()

    def _path(self, key: str) -> Path:
        return self.root / validate_key(key)

    def _meta_path(self, key: str) -> Path:
        return self.root / META_DIR / (validate_key(key) + ".json")

    def put_stream(
        self, key: str, stream: ByteStream, *, size: int = -1, media_type: str = DEFAULT_MEDIA_TYPE
    ) -> ArtifactInfo:
        path, meta_path = self._path(key), self._meta_path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        meta_path.parent.mkdir(parents=True, exist_ok=True)
        digest, written = hashlib.sha256(), 0
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".part-")
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(CHUNK_BYTES):
                    digest.update(chunk)
                    out.write(chunk)
                    written += len(chunk)
                out.flush()
                os.fsync(out.fileno())
            if size >= 0 and written != size:
                raise InvalidArgument.field("size", f"stream for {key!r} gave {written} bytes, declared {size}")
            sha256 = digest.hexdigest()
            meta = {"sha256": sha256, "media_type": media_type, "size": written}
            meta_tmp = meta_path.with_name(f"{meta_path.name}.{uuid.uuid4().hex}.part")  # unique per writer
            meta_tmp.write_text(json.dumps(meta))
            os.replace(meta_tmp, meta_path)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return ArtifactInfo(key, self.uri_for(key), written, sha256, media_type)

    def stat(self, key: str) -> ArtifactInfo:
        path, meta_path = self._path(key), self._meta_path(key)
        if not path.is_file():
            raise NotFound(f"artifact {key!r} not found in {self.root_uri}")
        try:
            meta = json.loads(meta_path.read_text())
        except FileNotFoundError:
            raise IntegrityError(f"artifact {key!r} has no checksum metadata") from None
        return ArtifactInfo(key, self.uri_for(key), path.stat().st_size, meta["sha256"], meta["media_type"])

    def open(self, key: str) -> Iterator[bytes]:
        """Open now (so :class:`NotFound` raises here, not at the first chunk) and return verifying chunks."""
        info = self.stat(key)
        return self._verified_chunks(info, open(self._path(key), "rb"))  # closed by the generator

    def _verified_chunks(self, info: ArtifactInfo, fh: BinaryIO) -> Iterator[bytes]:
        digest = hashlib.sha256()
        with fh:
            while chunk := fh.read(CHUNK_BYTES):
                digest.update(chunk)
                yield chunk
        if digest.hexdigest() != info.sha256:
            raise IntegrityError(
                f"artifact {info.key!r} is corrupt: sha256 {digest.hexdigest()} != recorded {info.sha256}"
            )

    def list(self, prefix: str = "") -> Iterator[ArtifactInfo]:
        validate_prefix(prefix)
        meta_root = self.root / META_DIR
        keys = sorted(
            str(p.relative_to(meta_root))[: -len(".json")]
            for p in meta_root.rglob("*.json")
        ) if meta_root.exists() else []
        for key in keys:
            if key.startswith(prefix) and (self.root / key).is_file():
                yield self.stat(key)

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)
        self._meta_path(key).unlink(missing_ok=True)
