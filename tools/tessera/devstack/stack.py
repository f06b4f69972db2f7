"""``DevStack``: start, health-check and stop the broker, the S3 server and Triton together.

Used by ``tessera up``, ``make demo`` and the pytest session fixture. Ports are chosen free at
start; logs go to ``<log_dir>/<component>.log``; :meth:`DevStack.env` gives the ``TESSERA_*``
variables a service needs to use the stack.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tessera.devstack.kafka import DEV_HEARTBEAT_INTERVAL_MS, DEV_SESSION_TIMEOUT_MS, TansuBroker
from tessera.devstack.s3 import ACCESS_KEY, SECRET_KEY, MotoS3Server

if TYPE_CHECKING:
    from tessera.devstack.triton import TritonServer

log = logging.getLogger(__name__)

DEFAULT_BUCKET = "tessera"


@dataclass(frozen=True)
class StackConfig:
    """Which components to start and where their logs go."""

    log_dir: Path = field(default_factory=lambda: Path(".stack"))
    kafka: bool = True
    s3: bool = True
    triton: bool = True
    bucket: str = DEFAULT_BUCKET


class DevStack:
    """The dev stack as one object: ``with DevStack(StackConfig()) as stack: ...``."""

    def __init__(self, config: StackConfig | None = None):
        self.config = config or StackConfig()
        self.kafka: TansuBroker | None = None
        self.s3: MotoS3Server | None = None
        self.triton: TritonServer | None = None
        self._owned: list[object] = []

    def attach(self, kafka: TansuBroker | None = None, s3: MotoS3Server | None = None) -> DevStack:
        """Use components someone else started (and stops), e.g. session fixtures in tests."""
        self.kafka = kafka or self.kafka
        self.s3 = s3 or self.s3
        if s3 is not None:
            self._make_bucket()
        return self

    def start(self) -> DevStack:
        """Start every configured component not already attached, in dependency order."""
        cfg = self.config
        try:
            if cfg.kafka and self.kafka is None:
                self.kafka = TansuBroker(cfg.log_dir).start()
                self._owned.append(self.kafka)
                log.info("kafka broker (tansu) ready at %s", self.kafka.bootstrap)
            if cfg.s3 and self.s3 is None:
                self.s3 = MotoS3Server(cfg.log_dir).start()
                self._owned.append(self.s3)
                self._make_bucket()
                log.info("s3 server (moto) ready at %s", self.s3.endpoint)
            if cfg.triton:
                from tessera.devstack.triton import TritonServer

                self.triton = TritonServer(cfg.log_dir, env=self.env()).start()
                self._owned.append(self.triton)
                log.info("triton ready at %s", self.triton.grpc_url)
        except BaseException:
            self.stop()
            raise
        return self

    def _make_bucket(self) -> None:
        from minio import Minio

        assert self.s3 is not None
        client = Minio(self.s3.endpoint, access_key=ACCESS_KEY, secret_key=SECRET_KEY, secure=False)
        if not client.bucket_exists(self.config.bucket):
            client.make_bucket(self.config.bucket)

    def env(self) -> dict[str, str]:
        """``TESSERA_*`` variables pointing a service at the running components."""
        env: dict[str, str] = {}
        if self.kafka:
            env |= {
                "TESSERA_KAFKA_BOOTSTRAP": self.kafka.bootstrap,
                "TESSERA_KAFKA_SESSION_TIMEOUT_MS": str(DEV_SESSION_TIMEOUT_MS),
                "TESSERA_KAFKA_HEARTBEAT_INTERVAL_MS": str(DEV_HEARTBEAT_INTERVAL_MS),
            }
        if self.s3:
            env |= {
                "TESSERA_ARTIFACTS_URI": f"s3://{self.config.bucket}",
                "TESSERA_S3_ENDPOINT": self.s3.endpoint,
                "TESSERA_S3_ACCESS_KEY": ACCESS_KEY,
                "TESSERA_S3_SECRET_KEY": SECRET_KEY,
                "TESSERA_S3_SECURE": "false",
            }
        if self.triton is not None:
            env["TESSERA_TRITON_URL"] = self.triton.grpc_url
        return env

    def stop_own(self) -> None:
        """Stop what this stack started (not attached components), newest first."""
        for part in reversed(self._owned):
            part.stop()  # type: ignore[attr-defined]
        self._owned.clear()

    def stop(self) -> None:
        self.stop_own()

    def __enter__(self) -> DevStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
