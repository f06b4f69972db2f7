"""moto's S3 server (``moto_server``), which the minio SDK talks to unchanged, multipart included."""

from __future__ import annotations

import shutil
import sys
import urllib.request
from pathlib import Path

from tessera.devstack.process import ManagedProcess, free_port

ACCESS_KEY = "tessera-dev"
SECRET_KEY = "tessera-dev-secret"


class MotoS3Server:
    """An in-memory S3 server on a free loopback port."""

    def __init__(self, log_dir: Path, host: str = "127.0.0.1", port: int | None = None):
        self.host = host
        self.port = port or free_port(host)
        exe = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or shutil.which("moto_server")
        argv = [exe] if exe else [sys.executable, "-m", "moto.server"]
        self.process = ManagedProcess("moto-s3", [*argv, "-H", host, "-p", str(self.port)], log_dir)

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout_s: float = 60.0) -> MotoS3Server:
        self.process.start()
        self.process.wait_until(self._ready, timeout_s, "answering HTTP")
        return self

    def _ready(self) -> bool:
        with urllib.request.urlopen(f"http://{self.endpoint}/moto-api/", timeout=2) as resp:
            return bool(resp.status == 200)

    def stop(self) -> None:
        self.process.stop()
