"""Fixtures shared by the compression integration tests: the running service, its S3 store and model repository
(module scope: each test module gets its own service process against the session's dev stack)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tessera.cli.up import RunningService, start_services
from tessera.core.artifacts.base import ArtifactStore
from tessera.core.artifacts.factory import open_store
from tessera.core.inference import ModelRepository
from tessera.demo.pipeline import settings_for_stack
from tessera.devstack import DevStack


@pytest.fixture(scope="module")
def service(dev_stack: DevStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    running = start_services(dev_stack, tmp_path_factory.mktemp("cmp-logs"), only=["compression"])[0]
    yield running
    running.process.stop()


@pytest.fixture(scope="module")
def store(dev_stack: DevStack) -> ArtifactStore:
    return open_store(settings_for_stack(dev_stack))


@pytest.fixture(scope="module")
def models(dev_stack: DevStack, store: ArtifactStore) -> ModelRepository:
    return ModelRepository(store, settings_for_stack(dev_stack).model_repository_prefix)
