"""Shared fixtures: the dev stack (real Kafka-protocol broker, S3 server, Triton) starts once per session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tessera.core.settings import TesseraSettings, load_settings
from tessera.devstack import DevStack, StackConfig

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def dev_stack() -> Iterator[DevStack]:
    """Tansu + moto S3 + Triton on free ports, logs in .stack/tests/; stopped after the session."""
    stack = DevStack(StackConfig(log_dir=REPO_ROOT / ".stack" / "tests"))
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="session")
def stack_settings(dev_stack: DevStack) -> TesseraSettings:
    """Settings pointing at the dev stack, as a service would load them from its environment."""
    overrides = {k.removeprefix("TESSERA_").lower(): v for k, v in dev_stack.env().items()}
    return load_settings(TesseraSettings, **overrides)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No TESSERA_* variable from the outer environment leaks into a test."""
    for key in list(os.environ):
        if key.startswith("TESSERA_"):
            monkeypatch.delenv(key)
    return monkeypatch
