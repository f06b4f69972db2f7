"""Typed process configuration read from ``TESSERA_*`` environment variables.

One :class:`TesseraSettings` (or a service's subclass) is built per process, at start, by
:func:`load_settings`; a bad variable stops the process with an error naming that variable.
"""

from __future__ import annotations

from typing import Literal, TypeVar

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "TESSERA_"


class SettingsError(ValueError):
    """A ``TESSERA_*`` variable is missing or invalid; the message names each one."""


class TesseraSettings(BaseSettings):
    """Configuration shared by every Tessera process. Services subclass it for their own fields."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    service_name: str = Field("tessera", description="Name in logs, metrics and event sources.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Log level of the JSON logs.")

    # gRPC server
    grpc_host: str = Field("0.0.0.0", description="Interface the gRPC server binds.")
    grpc_port: int = Field(50051, ge=0, le=65535, description="gRPC port (0 picks a free one).")
    metrics_port: int = Field(9100, ge=0, le=65535, description="Prometheus /metrics port (0 picks a free one).")
    auth_token: SecretStr | None = Field(None, description="When set, calls need 'authorization: Bearer <token>'.")
    max_message_bytes: int = Field(64 * 1024 * 1024, gt=0, description="Max gRPC send/receive message size.")
    shutdown_grace_s: float = Field(30.0, ge=0, description="On SIGTERM, how long in-flight calls may finish.")
    executor_workers: int = Field(8, gt=0, description="Threads for blocking work off the event loop.")

    # Kafka
    kafka_bootstrap: str | None = Field(None, description="host:port[,host:port]; unset disables events.")
    kafka_session_timeout_ms: int = Field(45000, gt=0, description="Consumer group session timeout.")
    kafka_heartbeat_interval_ms: int = Field(3000, gt=0, description="Consumer heartbeat interval.")
    kafka_max_poll_interval_ms: int = Field(300000, gt=0, description="Max time between polls before eviction.")
    event_max_attempts: int = Field(3, ge=1, description="Handler attempts before an event goes to <topic>.dlq.")
    event_retry_backoff_s: float = Field(1.0, ge=0, description="Delay before the first retry; doubles each attempt.")
    kafka_topic_partitions: int = Field(3, ge=1, description="Partitions of topics created on start.")
    kafka_consume: bool = Field(True, description="Start this process's event consumers; false for API-only replicas "
                                "(they still publish events and run the jobs their calls start).")

    # Artifacts
    artifacts_uri: str = Field(
        "file://./.tessera/artifacts",
        description="Artifact store root: s3://bucket[/prefix] or file:///path.",
    )
    s3_endpoint: str | None = Field(None, description="S3/MinIO endpoint host:port (for s3:// stores).")
    s3_access_key: str = Field("minioadmin", description="S3 access key.")
    s3_secret_key: SecretStr = Field(SecretStr("minioadmin"), description="S3 secret key.")
    s3_secure: bool = Field(False, description="Use TLS to the S3 endpoint.")
    s3_region: str = Field("us-east-1", description="S3 region.")
    s3_part_size: int = Field(16 * 1024 * 1024, ge=5 * 1024 * 1024, description="Multipart part size in bytes.")

    # Inference
    triton_url: str | None = Field(None, description="Triton gRPC host:port; unset runs ONNX in-process.")
    model_repository_prefix: str = Field("models", description="Key prefix of the Triton model repository.")

    @field_validator("artifacts_uri")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if not value.startswith(("s3://", "file://")):
            raise ValueError("must start with s3:// or file://")
        return value


S = TypeVar("S", bound=TesseraSettings)


def load_settings(cls: type[S] = TesseraSettings, **overrides: object) -> S:  # type: ignore[assignment]
    """Build settings from the environment, raising :class:`SettingsError` naming bad variables."""
    try:
        return cls(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"])
            problems.append(f"{ENV_PREFIX}{field.upper()}: {err['msg']} (got {err.get('input')!r})")
        raise SettingsError("invalid configuration: " + "; ".join(problems)) from None
