"""``ModelRepository``: the Triton model repository layout kept in an :class:`ArtifactStore`.

Layout (Triton's, so a production ``tritonserver --model-repository=s3://...`` reads it as is)::

    <prefix>/<name>/config.pbtxt          generated from the newest version's ONNX graph
    <prefix>/<name>/<version>/model.onnx  one directory per version, versions are integers >= 1

Versions are immutable: publishing an existing version raises :class:`AlreadyExists`. A
version's ``model.onnx`` is written before the config, so a reader that sees a config for a
version always finds its model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tritonclient.grpc import model_config_pb2

from tessera.core.artifacts.base import ArtifactInfo, ArtifactStore
from tessera.core.errors import AlreadyExists, InvalidArgument, NotFound
from tessera.core.inference.model_config import DEFAULT_MAX_BATCH_SIZE, config_from_onnx, parse_config

CONFIG_FILE = "config.pbtxt"
MODEL_FILE = "model.onnx"
ONNX_MEDIA_TYPE = "application/onnx"
CONFIG_MEDIA_TYPE = "text/plain"
# Triton's own rule for model names, minus a leading dot (hidden directories are skipped by Triton).
_MODEL_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$")


def validate_model_name(name: str, field: str = "model") -> str:
    if not isinstance(name, str) or not _MODEL_NAME.match(name):
        raise InvalidArgument.field(field, f"{name!r} is not a model name (letters, digits, '.', '_', '-'; <= 128)")
    return name


def parse_version(version: str | int, field: str = "version") -> int:
    """``"3"`` or ``3`` -> 3; :class:`InvalidArgument` for anything but a positive integer."""
    try:
        number = int(version)
    except (TypeError, ValueError):
        raise InvalidArgument.field(field, f"{version!r} is not a model version (a positive integer)") from None
    if number < 1:
        raise InvalidArgument.field(field, f"{version!r} is not a model version (a positive integer)")
    return number


@dataclass(frozen=True)
class PublishedModel:
    """What :meth:`ModelRepository.publish` wrote."""

    name: str
    version: int
    model: ArtifactInfo  # the version's model.onnx
    config: ArtifactInfo  # the model's config.pbtxt


class ModelRepository:
    """Read and write Triton's model repository layout under ``prefix`` in ``store``."""

    def __init__(self, store: ArtifactStore, prefix: str = "models"):
        self.store = store
        self.prefix = prefix.strip("/")

    @property
    def uri(self) -> str:
        """Where the repository lives, e.g. ``s3://tessera/models`` (what Triton's ``--model-repository`` takes)."""
        return self.store.uri_for(self.prefix) if self.prefix else self.store.root_uri

    def _key(self, *parts: str | int) -> str:
        return "/".join([self.prefix, *map(str, parts)] if self.prefix else [str(p) for p in parts])

    def publish(
        self,
        name: str,
        onnx_bytes: bytes,
        version: int | None = None,
        *,
        max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
    ) -> PublishedModel:
        """Write ``onnx_bytes`` as ``version`` (default: newest + 1) of ``name`` and regenerate its config.

        Raises :class:`InvalidArgument` for a bad name/version or bytes that are not ONNX, and
        :class:`AlreadyExists` if that version exists.
        """
        validate_model_name(name)
        config_text = config_from_onnx(name, onnx_bytes, max_batch_size=max_batch_size)  # validates the ONNX
        existing = self.versions(name)
        number = parse_version(version) if version is not None else (existing[-1] + 1 if existing else 1)
        if number in existing:
            raise AlreadyExists(f"model {name!r} version {number} already exists in {self.uri}; versions are immutable")
        model_info = self.store.put_bytes(self._key(name, number, MODEL_FILE), onnx_bytes, media_type=ONNX_MEDIA_TYPE)
        # The config follows the newest version: an older version published later must not replace it.
        if not existing or number > existing[-1]:
            config_info = self.store.put_bytes(
                self._key(name, CONFIG_FILE), config_text.encode(), media_type=CONFIG_MEDIA_TYPE
            )
        else:
            config_info = self.store.stat(self._key(name, CONFIG_FILE))
        return PublishedModel(name, number, model_info, config_info)

    def names(self) -> list[str]:
        """Models that have a config, sorted."""
        start = self._key("") if self.prefix else ""
        found = set()
        for info in self.store.list(start):
            parts = info.key[len(start) :].split("/")
            if len(parts) == 2 and parts[1] == CONFIG_FILE:
                found.add(parts[0])
        return sorted(found)

    def versions(self, name: str) -> list[int]:
        """Published versions of ``name``, ascending (empty if none)."""
        validate_model_name(name)
        start = self._key(name, "")
        numbers = set()
        for info in self.store.list(start):
            parts = info.key[len(start) :].split("/")
            if len(parts) == 2 and parts[1] == MODEL_FILE and parts[0].isdigit() and int(parts[0]) > 0:
                numbers.add(int(parts[0]))
        return sorted(numbers)

    def resolve_version(self, name: str, version: str | int = "") -> int:
        """``version`` as an int, or the newest one for ``""``/``0``; :class:`NotFound` naming the model."""
        available = self.versions(name)
        if not available:
            raise NotFound(f"model {name!r} not found in model repository {self.uri}")
        if version in ("", 0, None):
            return available[-1]
        number = parse_version(version)
        if number not in available:
            raise NotFound(f"model {name!r} has no version {number} in {self.uri} (versions: {available})")
        return number

    def config_text(self, name: str) -> str:
        validate_model_name(name)
        try:
            return self.store.get_bytes(self._key(name, CONFIG_FILE)).decode()
        except NotFound:
            raise NotFound(f"model {name!r} not found in model repository {self.uri} (no {CONFIG_FILE})") from None

    def config(self, name: str) -> model_config_pb2.ModelConfig:
        """The parsed, checked ``config.pbtxt`` of ``name``."""
        return parse_config(self.config_text(name), expected_name=name)

    def model_bytes(self, name: str, version: str | int = "") -> tuple[int, bytes]:
        """``(version, model.onnx bytes)`` of ``version`` (default newest), SHA-256 verified by the store."""
        number = self.resolve_version(name, version)
        return number, self.store.get_bytes(self._key(name, number, MODEL_FILE))
