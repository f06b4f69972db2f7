"""Serve a Triton model repository kept in S3 (or a directory) with the tritonserver of nvidia-pytriton.

Runs with the PyTriton venv's python (``numpy<2``, onnxruntime, minio; see requirements.txt),
started by ``tessera.devstack.triton.TritonServer``. What it does:

1. starts the real ``tritonserver`` binary shipped in the nvidia-pytriton wheel on loopback ports,
   with ``--model-control-mode=explicit`` and a local mirror directory as its model repository;
2. every ``--poll-s`` seconds mirrors ``<repository>/<name>/config.pbtxt`` and
   ``<repository>/<name>/<version>/model.onnx`` into that directory. That wheel's Triton has only
   the python backend, so each mirrored config is rewritten from ``platform: "onnxruntime_onnx"``
   to ``backend: "python"`` and ``onnx_model.py`` (onnxruntime) is placed as each version's
   ``model.py``. Tensors, ``max_batch_size`` and ``dynamic_batching`` are kept as published.

Nothing is loaded here: clients load models through Triton's model-control API, exactly as with a
production tritonserver reading ``s3://``. A version directory appears atomically (renamed into
place) and before its config, so a load never sees half a model.

S3 settings come from the environment (never argv): TESSERA_S3_ENDPOINT, TESSERA_S3_ACCESS_KEY,
TESSERA_S3_SECRET_KEY, TESSERA_S3_SECURE.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import logging
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import threading
from pathlib import Path
from urllib.parse import unquote, urlsplit

from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

log = logging.getLogger("triton-adapter")
HERE = Path(__file__).resolve().parent
CONFIG_FILE, MODEL_FILE = "config.pbtxt", "model.onnx"
SHA256_META = "x-amz-meta-sha256"


# ----------------------------------------------------------------------------- repository sources


class S3Source:
    """Objects under ``s3://bucket/prefix/`` through the minio SDK; ``tag`` is the ETag."""

    def __init__(self, bucket: str, prefix: str):
        from minio import Minio

        endpoint = os.environ.get("TESSERA_S3_ENDPOINT")
        if not endpoint:
            sys.exit("TESSERA_S3_ENDPOINT is required for an s3:// repository")
        self.client = Minio(
            endpoint,
            access_key=os.environ.get("TESSERA_S3_ACCESS_KEY", "minioadmin"),
            secret_key=os.environ.get("TESSERA_S3_SECRET_KEY", "minioadmin"),
            secure=os.environ.get("TESSERA_S3_SECURE", "false").lower() in ("1", "true", "yes"),
            region=os.environ.get("TESSERA_S3_REGION", "us-east-1"),
        )
        self.bucket, self.prefix = bucket, prefix.strip("/")

    def list(self) -> dict[str, str]:
        start = f"{self.prefix}/" if self.prefix else ""
        return {
            obj.object_name[len(start) :]: str(obj.etag)
            for obj in self.client.list_objects(self.bucket, prefix=start, recursive=True)
            if not obj.is_dir
        }

    def read(self, key: str) -> bytes:
        name = f"{self.prefix}/{key}" if self.prefix else key
        response = self.client.get_object(self.bucket, name)
        try:
            data = response.read()
            expected = response.headers.get(SHA256_META)
        finally:
            response.close()
            response.release_conn()
        if expected and hashlib.sha256(data).hexdigest() != expected:
            raise ValueError(f"{key}: sha256 does not match its metadata")
        return data


class DirSource:
    """Files under a local directory; ``tag`` is size + mtime."""

    def __init__(self, root: Path):
        self.root = root

    def list(self) -> dict[str, str]:
        if not self.root.is_dir():
            return {}
        out = {}
        for path in self.root.rglob("*"):
            if path.is_file() and not any(part.startswith(".") for part in path.relative_to(self.root).parts):
                st = path.stat()
                out[path.relative_to(self.root).as_posix()] = f"{st.st_size}-{st.st_mtime_ns}"
        return out

    def read(self, key: str) -> bytes:
        return (self.root / key).read_bytes()


def open_source(uri: str) -> S3Source | DirSource:
    parts = urlsplit(uri)
    if parts.scheme == "s3":
        return S3Source(parts.netloc, unquote(parts.path))
    if parts.scheme == "file":
        return DirSource(Path(unquote(parts.path)))
    return DirSource(Path(uri))


# ----------------------------------------------------------------------------- mirroring


def python_backend_config(text: str) -> str:
    """The published config with the onnxruntime platform swapped for the python backend."""
    config = model_config_pb2.ModelConfig()
    text_format.Parse(text, config)
    config.platform = ""
    config.backend = "python"
    if not config.instance_group:
        config.instance_group.add(kind=model_config_pb2.ModelInstanceGroup.KIND_CPU, count=1)
    return text_format.MessageToString(config)


class Mirror:
    """Keeps ``target`` (Triton's local repository) equal to the source's models, in Triton's layout."""

    def __init__(self, source: S3Source | DirSource, target: Path):
        self.source, self.target = source, target
        self.seen: dict[str, str] = {}  # key -> tag of what is mirrored

    def sync(self) -> None:
        listing = self.source.list()
        versions: dict[tuple[str, str], str] = {}
        configs: dict[str, str] = {}
        for key, tag in listing.items():
            parts = key.split("/")
            if len(parts) == 3 and parts[2] == MODEL_FILE and parts[1].isdigit() and int(parts[1]) > 0:
                versions[(parts[0], parts[1])] = tag
            elif len(parts) == 2 and parts[1] == CONFIG_FILE:
                configs[parts[0]] = tag
        # Versions first (immutable: fetched once), then configs, so a config never precedes its files.
        for (name, version), tag in sorted(versions.items()):
            key = f"{name}/{version}/{MODEL_FILE}"
            if self.seen.get(key) != tag:
                self._put_version(name, version, self.source.read(key))
                self.seen[key] = tag
                log.info("mirrored %s version %s", name, version)
        for name, tag in sorted(configs.items()):
            key = f"{name}/{CONFIG_FILE}"
            if self.seen.get(key) != tag:
                self._put_file(self.target / name / CONFIG_FILE, python_backend_config(self.source.read(key).decode()))
                self.seen[key] = tag
                log.info("mirrored %s config", name)
        self._drop_removed(set(versions), set(configs))

    def _put_version(self, name: str, version: str, onnx_bytes: bytes) -> None:
        model_dir = self.target / name
        model_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=model_dir, prefix=".staging-"))  # dot: Triton skips it
        (staging / MODEL_FILE).write_bytes(onnx_bytes)
        shutil.copy(HERE / "onnx_model.py", staging / "model.py")
        final = model_dir / version
        if final.exists():
            shutil.rmtree(final)
        staging.rename(final)

    @staticmethod
    def _put_file(path: Path, text: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text)
        tmp.replace(path)

    def _drop_removed(self, versions: set[tuple[str, str]], configs: set[str]) -> None:
        for key in [k for k in self.seen if k.split("/")[0] not in configs and k.endswith(CONFIG_FILE)]:
            del self.seen[key]
        for key in list(self.seen):
            parts = key.split("/")
            if len(parts) == 3 and (parts[0], parts[1]) not in versions:
                shutil.rmtree(self.target / parts[0] / parts[1], ignore_errors=True)
                del self.seen[key]
        names = configs | {name for name, _ in versions}
        for model_dir in self.target.iterdir() if self.target.is_dir() else []:
            if model_dir.is_dir() and model_dir.name not in names:
                shutil.rmtree(model_dir, ignore_errors=True)


# ----------------------------------------------------------------------------- tritonserver


def pytriton_dist() -> tuple[Path, Path]:
    """(tritonserver directory, bundled shared libraries directory) of the installed nvidia-pytriton."""
    spec = importlib.util.find_spec("pytriton")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("nvidia-pytriton is not installed in this interpreter")
    package = Path(next(iter(spec.submodule_search_locations)))
    return package / "tritonserver", package.parent / "nvidia_pytriton.libs"


def prepare_backends(workdir: Path) -> Path:
    """A backend directory with the python backend and the stub built for this interpreter's version."""
    dist, _ = pytriton_dist()
    backends = workdir / "backends"
    python_dir = backends / "python"
    python_dir.mkdir(parents=True, exist_ok=True)
    for item in (dist / "backends" / "python").iterdir():
        if item.is_file():
            shutil.copy(item, python_dir / item.name)
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    shutil.copy(dist / "python_backend_stubs" / version / "triton_python_backend_stub", python_dir)
    return backends


def tritonserver_argv(args: argparse.Namespace, repository: Path, backends: Path) -> list[str]:
    dist, _ = pytriton_dist()
    return [
        str(dist / "bin" / "tritonserver"),
        f"--model-repository={repository}",
        "--model-control-mode=explicit",
        f"--backend-directory={backends}",
        f"--grpc-address={args.host}",
        f"--grpc-port={args.grpc_port}",
        f"--http-address={args.host}",
        f"--http-port={args.http_port}",
        f"--metrics-address={args.host}",
        f"--metrics-port={args.metrics_port}",
        "--allow-gpu-metrics=false",
        # Unique shared-memory names: several dev servers may run on one machine.
        f"--backend-config=python,shm-region-prefix-name=tessera{os.getpid()}",
        "--exit-timeout-secs=10",
        "--log-verbose=0",
    ]


def tritonserver_env() -> dict[str, str]:
    _, libs = pytriton_dist()
    env = dict(os.environ)
    # Without this interpreter's LIBDIR the stub picks up the system's older libpython3.11
    # and dies with "undefined symbol: _PyThreadState ... _recursion_count".
    lib_dirs = [str(libs), str(sysconfig.get_config_var("LIBDIR") or "")]
    env["LD_LIBRARY_PATH"] = ":".join(filter(None, [*lib_dirs, env.get("LD_LIBRARY_PATH", "")]))
    # The stub embeds python and finds its environment (numpy, onnxruntime) from PATH's python3.
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    return env


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repository", required=True, help="s3://bucket/prefix, file:///path or a directory")
    parser.add_argument("--workdir", required=True, type=Path, help="Triton's local repository and backends")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--grpc-port", type=int, required=True)
    parser.add_argument("--http-port", type=int, required=True)
    parser.add_argument("--metrics-port", type=int, required=True)
    parser.add_argument("--poll-s", type=float, default=0.5, help="seconds between repository syncs")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s triton-adapter %(levelname)s %(message)s")

    workdir: Path = args.workdir.resolve()
    repository = workdir / "model-repository"
    shutil.rmtree(repository, ignore_errors=True)
    repository.mkdir(parents=True)
    backends = prepare_backends(workdir)
    mirror = Mirror(open_source(args.repository), repository)

    server = subprocess.Popen(tritonserver_argv(args, repository, backends), env=tritonserver_env())
    stopping = threading.Event()

    def stop(signum: int, _frame: object) -> None:
        log.info("signal %d: stopping tritonserver", signum)
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("tritonserver pid %d, repository %s mirrored to %s", server.pid, args.repository, repository)
    failures = 0
    while not stopping.is_set() and server.poll() is None:
        try:
            mirror.sync()
            failures = 0
        except Exception as exc:  # a flaky store must not take Triton down; keep trying
            failures += 1
            if failures in (1, 10) or failures % 100 == 0:
                log.warning("repository sync failed (%d in a row): %s", failures, exc)
        stopping.wait(args.poll_s)
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    code = server.returncode
    log.info("tritonserver exited with %s", code)
    return 0 if stopping.is_set() else (code or 1)


if __name__ == "__main__":
    sys.exit(main())
