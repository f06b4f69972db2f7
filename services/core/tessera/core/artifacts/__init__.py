"""Artifact storage: one ``ArtifactStore`` interface, S3 (minio SDK) and local-directory backends."""

from tessera.core.artifacts.base import ArtifactInfo, ArtifactStore
from tessera.core.artifacts.keys import validate_key
from tessera.core.artifacts.local import LocalArtifactStore

__all__ = ["ArtifactInfo", "ArtifactStore", "LocalArtifactStore", "validate_key"]
