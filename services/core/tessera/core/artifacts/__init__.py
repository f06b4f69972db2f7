"""Artifact storage: one ``ArtifactStore`` interface, S3 (minio SDK) and local-directory backends.

``open_store(settings)`` builds the configured one; ``open_uri(ref.uri, settings)`` reads an
``ArtifactRef``.
"""

from tessera.core.artifacts.base import ArtifactInfo, ArtifactStore
from tessera.core.artifacts.factory import (
    ArtifactLocation,
    open_store,
    open_uri,
    parse_artifact_uri,
    s3_client,
    store_for_uri,
)
from tessera.core.artifacts.keys import validate_key
from tessera.core.artifacts.local import LocalArtifactStore
from tessera.core.artifacts.s3 import S3ArtifactStore

__all__ = [
    "ArtifactInfo",
    "ArtifactLocation",
    "ArtifactStore",
    "LocalArtifactStore",
    "S3ArtifactStore",
    "open_store",
    "open_uri",
    "parse_artifact_uri",
    "s3_client",
    "store_for_uri",
    "validate_key",
]
