"""The real Triton Inference Server (binary of the PyPI wheel ``nvidia-pytriton``) serving the S3 model repository.

Triton's wheel needs its own virtual environment (``numpy<2``), created once at
``.stack/pytriton-venv`` (or ``$TESSERA_PYTRITON_VENV``) from ``tools/triton_adapter/requirements.txt``
under the project's constraints. The adapter ``tools/triton_adapter/serve_repository.py`` runs in
that venv: it starts ``tritonserver`` in explicit model-control mode and mirrors the repository
(``$TESSERA_ARTIFACTS_URI/models``) for it. Clients use only Triton's gRPC API.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

from tessera.devstack.process import ManagedProcess, StackError, free_port

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[3]
ADAPTER_DIR = REPO_ROOT / "tools" / "triton_adapter"
REQUIREMENTS = ADAPTER_DIR / "requirements.txt"
CONSTRAINTS = REPO_ROOT / "constraints.txt"
DEFAULT_VENV = REPO_ROOT / ".stack" / "pytriton-venv"
VENV_ENV_VAR = "TESSERA_PYTRITON_VENV"
_MARKER = ".tessera-pytriton-ready"


def _requirements_digest() -> str:
    digest = hashlib.sha256(sys.version.encode())
    for path in (REQUIREMENTS, CONSTRAINTS):
        if path.exists():
            digest.update(path.read_bytes())
    return digest.hexdigest()


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """One process at a time builds the venv (tests and ``make demo`` may start together)."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def ensure_pytriton_venv(venv: Path | None = None, log_path: Path | None = None) -> Path:
    """The PyTriton venv's python, creating/updating the venv when its requirements changed (idempotent)."""
    venv = Path(venv or os.environ.get(VENV_ENV_VAR) or DEFAULT_VENV).resolve()
    python = venv / "bin" / "python"
    marker = venv / _MARKER
    want = _requirements_digest()
    if marker.exists() and marker.read_text() == want and python.exists():
        return python
    with _exclusive(venv.with_name(venv.name + ".lock")):
        if marker.exists() and marker.read_text() == want and python.exists():
            return python
        started = time.monotonic()
        log.info("creating the PyTriton venv at %s (once; a few minutes)", venv)
        out = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
        try:
            # The base interpreter, not this venv's: the python stub must match its libpython.
            base = getattr(sys, "_base_executable", sys.executable)
            steps = [
                [base, "-m", "venv", "--clear", str(venv)],
                [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                 *(["-c", str(CONSTRAINTS)] if CONSTRAINTS.exists() else []), "-r", str(REQUIREMENTS)],
            ]
            for argv in steps:
                if subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, check=False).returncode:
                    raise StackError(f"building the PyTriton venv failed at: {' '.join(argv)}"
                                     + (f"; log {log_path}" if log_path else ""))
        finally:
            if log_path and not isinstance(out, int):
                out.close()
        marker.write_text(want)
        log.info("PyTriton venv ready in %.0f s", time.monotonic() - started)
    return python


def repository_uri(env: Mapping[str, str]) -> str:
    """``<TESSERA_ARTIFACTS_URI>/<TESSERA_MODEL_REPOSITORY_PREFIX>``, e.g. ``s3://tessera/models``."""
    root = env.get("TESSERA_ARTIFACTS_URI", "file://./.tessera/artifacts").rstrip("/")
    prefix = env.get("TESSERA_MODEL_REPOSITORY_PREFIX", "models").strip("/")
    if root.startswith("file://./"):  # the adapter runs elsewhere: make a relative root absolute
        root = Path(root[len("file://") :]).resolve().as_uri()
    return f"{root}/{prefix}" if prefix else root


class TritonServer:
    """Triton on free loopback ports, serving the model repository named by ``env`` (``TESSERA_*``).

    ``startup_s`` records how long :meth:`start` took (venv check + server ready), for CI budgets.
    """

    def __init__(self, log_dir: Path, env: Mapping[str, str] | None = None, host: str = "127.0.0.1",
                 venv: Path | None = None, poll_s: float = 0.5):
        self.log_dir = Path(log_dir)
        self.host = host
        self.env = dict(os.environ if env is None else {**os.environ, **env})
        self.venv = venv
        self.poll_s = poll_s
        self.grpc_port, self.http_port, self.metrics_port = free_port(host), free_port(host), free_port(host)
        self.repository = repository_uri(self.env)
        self.process: ManagedProcess | None = None
        self.workdir = self.log_dir / f"triton-{self.grpc_port}"  # Triton's mirrored repository and backends
        self.startup_s = 0.0

    @property
    def grpc_url(self) -> str:
        return f"{self.host}:{self.grpc_port}"

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.http_port}"

    def start(self, timeout_s: float = 120.0) -> TritonServer:
        started = time.monotonic()
        python = ensure_pytriton_venv(self.venv, self.log_dir / "pytriton-venv.log")
        argv = [
            str(python), str(ADAPTER_DIR / "serve_repository.py"),
            "--repository", self.repository, "--workdir", str(self.workdir), "--host", self.host,
            "--grpc-port", str(self.grpc_port), "--http-port", str(self.http_port),
            "--metrics-port", str(self.metrics_port), "--poll-s", str(self.poll_s),
        ]
        self.process = ManagedProcess("triton", argv, self.log_dir, env=self.env)
        self.process.start()
        self.process.wait_until(self._ready, timeout_s, "serving gRPC")
        self.startup_s = time.monotonic() - started
        log.info("triton ready at %s in %.1f s (repository %s)", self.grpc_url, self.startup_s, self.repository)
        return self

    def _ready(self) -> bool:
        import tritonclient.grpc as grpcclient

        client = grpcclient.InferenceServerClient(self.grpc_url)
        try:
            return bool(client.is_server_ready(client_timeout=2.0))
        finally:
            client.close()

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(grace_s=20.0)
        shutil.rmtree(self.workdir, ignore_errors=True)  # a mirror of the repository: nothing to keep
