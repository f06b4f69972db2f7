"""Shared fixtures: each real component (Kafka-protocol broker, S3 server, Triton) starts once
per session, the first time a test asks for it, and stops at the end of the session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tessera.core.settings import TesseraSettings, load_settings
from tessera.devstack import DevStack, StackConfig
from tessera.devstack.kafka import TansuBroker
from tessera.devstack.s3 import MotoS3Server

REPO_ROOT = Path(__file__).resolve().parent.parent
LOG_DIR = REPO_ROOT / ".stack" / "tests"
# The project's shared/ folder lies beside the repository (also in CI's fresh clone).
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[TansuBroker]:
    broker = TansuBroker(LOG_DIR).start()
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[MotoS3Server]:
    server = MotoS3Server(LOG_DIR).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def dev_stack(kafka_broker: TansuBroker, s3_server: MotoS3Server) -> Iterator[DevStack]:
    """The whole stack: the broker and S3 server above plus Triton reading the S3 model repository."""
    stack = DevStack(StackConfig(log_dir=LOG_DIR)).attach(kafka=kafka_broker, s3=s3_server)
    stack.start()
    yield stack
    stack.stop_own()


def settings_for(stack: DevStack, **extra: object) -> TesseraSettings:
    """Settings pointing at the stack, as a service would load them from its environment."""
    overrides: dict[str, object] = {k.removeprefix("TESSERA_").lower(): v for k, v in stack.env().items()}
    overrides.update(extra)
    return load_settings(TesseraSettings, **overrides)


@pytest.fixture(scope="session")
def kafka_settings(kafka_broker: TansuBroker) -> TesseraSettings:
    return settings_for(DevStack(StackConfig(s3=False, triton=False)).attach(kafka=kafka_broker))


@pytest.fixture(scope="session")
def s3_settings(s3_server: MotoS3Server) -> TesseraSettings:
    return settings_for(DevStack(StackConfig(kafka=False, triton=False)).attach(s3=s3_server))


@pytest.fixture(scope="session")
def stack_settings(dev_stack: DevStack) -> TesseraSettings:
    return settings_for(dev_stack)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No TESSERA_* variable from the outer environment leaks into a test."""
    for key in list(os.environ):
        if key.startswith("TESSERA_"):
            monkeypatch.delenv(key)
    return monkeypatch
