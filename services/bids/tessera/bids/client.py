"""Client helpers for the bids gRPC API (used by the CLI, the demo and tests)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from tessera.v1 import bids_pb2, bids_pb2_grpc, common_pb2

CHUNK_BYTES = 1 << 20  # 1 MiB per message, well under the default 64 MiB message limit


def upload_requests(path: Path, chunk_bytes: int = CHUNK_BYTES) -> Iterator[bids_pb2.UploadRequest]:
    """The ``Upload`` stream for a file: ``info`` first, then the bytes in chunks."""
    yield bids_pb2.UploadRequest(info=bids_pb2.UploadInfo(filename=path.name, size=path.stat().st_size))
    with open(path, "rb") as fh:
        while chunk := fh.read(chunk_bytes):
            yield bids_pb2.UploadRequest(chunk=chunk)


def upload_archive(stub: bids_pb2_grpc.BidsStub, path: Path, *, timeout_s: float = 600.0,
                   metadata: list[tuple[str, str]] | None = None) -> common_pb2.ArtifactRef:
    """Stream ``path`` to the service; returns the stored archive's ref for ``StartIngest``."""
    return stub.Upload(upload_requests(path), timeout=timeout_s, metadata=metadata)  # type: ignore[no-any-return]
