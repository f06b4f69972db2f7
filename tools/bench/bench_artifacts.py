"""Artifact store throughput: put/get MiB/s of 1 MiB and 64 MiB objects, S3 (moto) vs local directory.

Usage: ``.venv/bin/python tools/bench/bench_artifacts.py [--reps-small 10] [--reps-large 5]``

Starts moto's S3 server (``tessera.devstack.s3.MotoS3Server``) on a free port and a local store in a
temporary directory; data is ``os.urandom`` bytes (incompressible). moto is an in-memory S3
emulator written in Python, not MinIO: its figures show the client path (minio SDK, multipart,
SHA-256 hashing and verification) over loopback, not what a MinIO cluster would sustain.

Rows:
* ``put`` - ``put_stream`` of a seekable ``BytesIO`` (hash pass, then one upload straight to the key;
  multipart above the 16 MiB default part size),
* ``put (pipe)`` - ``put_stream`` of a non-seekable stream (multipart upload to ``.uploads/<uuid>``
  while hashing, server-side copy to the key with the sha256 metadata, delete),
* ``get`` - ``open()`` streamed to the end, SHA-256 verified, bytes discarded.

Each figure is the median of the repetitions, MiB/s = object size / wall time of one call.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from functools import partial
from pathlib import Path

from tessera.core.artifacts import ArtifactStore, LocalArtifactStore, open_store
from tessera.core.settings import TesseraSettings, load_settings
from tessera.devstack import DevStack, StackConfig
from tessera.devstack.s3 import MotoS3Server

MiB = 1024 * 1024
REPO_ROOT = Path(__file__).resolve().parents[2]


class Pipe(io.RawIOBase):
    """A non-seekable view of ``data`` (like a socket), read in caller-sized pieces."""

    def __init__(self, data: bytes):
        self._view, self._pos = memoryview(data), 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        end = len(self._view) if n < 0 else self._pos + n
        chunk = bytes(self._view[self._pos : end])
        self._pos += len(chunk)
        return chunk


def mib_per_s(size: int, action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return size / MiB / (time.perf_counter() - start)


def drain(store: ArtifactStore, key: str) -> int:
    return sum(len(chunk) for chunk in store.open(key))


def measure(store: ArtifactStore, size: int, reps: int) -> dict[str, float]:
    """Median MiB/s of put, put (pipe) and get for ``reps`` objects of ``size`` bytes."""
    data = os.urandom(size)
    rates: dict[str, list[float]] = {"put": [], "put (pipe)": [], "get": []}
    for rep in range(reps):
        key, pipe_key = f"bench/{size}/{rep}", f"bench/{size}/{rep}.pipe"
        rates["put"].append(mib_per_s(size, partial(store.put_stream, key, io.BytesIO(data), size=size)))
        rates["get"].append(mib_per_s(size, partial(drain, store, key)))
        rates["put (pipe)"].append(mib_per_s(size, partial(store.put_stream, pipe_key, Pipe(data))))
        assert store.stat(key).size == store.stat(pipe_key).size == size
        store.delete(key)
        store.delete(pipe_key)
    return {op: statistics.median(values) for op, values in rates.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps-small", type=int, default=10, help="repetitions for 1 MiB objects")
    parser.add_argument("--reps-large", type=int, default=5, help="repetitions for 64 MiB objects")
    args = parser.parse_args()

    server = MotoS3Server(REPO_ROOT / ".stack" / "bench").start()
    try:
        stack = DevStack(StackConfig(kafka=False, triton=False)).attach(s3=server)
        env = {k.removeprefix("TESSERA_").lower(): v for k, v in stack.env().items()}
        settings = load_settings(TesseraSettings, **env)
        s3 = open_store(settings, f"{env['artifacts_uri']}/bench-{uuid.uuid4().hex[:8]}")
        with tempfile.TemporaryDirectory(prefix="tessera-bench-") as tmp:
            stores: list[tuple[str, ArtifactStore]] = [("s3 (moto)", s3), ("local", LocalArtifactStore(tmp))]
            results = []
            for name, store in stores:
                for size, reps in ((MiB, args.reps_small), (64 * MiB, args.reps_large)):
                    results.append((name, size, reps, measure(store, size, reps)))
    finally:
        server.stop()

    print(f"artifact store throughput, MiB/s (median), random bytes; part size {settings.s3_part_size // MiB} MiB")
    host = platform.processor() or platform.machine()
    print(f"host: {host}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print("s3 = moto_server (in-memory S3 emulator in Python, not MinIO) on loopback via the minio SDK")
    print()
    print(f"{'backend':<11} {'object':>7} {'reps':>5} {'put':>9} {'put(pipe)':>10} {'get':>9}")
    for name, size, reps, rates in results:
        print(
            f"{name:<11} {size // MiB:>4} MiB {reps:>5} {rates['put']:>9.1f} "
            f"{rates['put (pipe)']:>10.1f} {rates['get']:>9.1f}"
        )


if __name__ == "__main__":
    main()
