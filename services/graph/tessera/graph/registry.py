"""Trained graph models as published: the ONNX scorer in the Triton model repository, card and embeddings beside it.

The scorer is Triton model ``<name>`` (version ``v``) in the repository of :class:`ModelRepository`; its
card (:class:`GraphModelCard`, JSON) and the node-feature table (``embeddings.npy``, (n_nodes, d) float32, row
``g`` = global node ``g``) live outside Triton's repository at ``<prefix>/<name>/<v>/``.
"""

from __future__ import annotations

import io
from dataclasses import replace

import numpy as np

from tessera.core.artifacts.base import ArtifactInfo, ArtifactStore
from tessera.core.errors import NotFound
from tessera.core.inference import ModelRepository
from tessera.graph.bundle import CARD, GraphModelCard

EMBEDDINGS = "embeddings.npy"


def card_key(prefix: str, name: str, version: int) -> str:
    return f"{prefix.strip('/')}/{name}/{version}/{CARD}"


def embeddings_key(prefix: str, name: str, version: int) -> str:
    return f"{prefix.strip('/')}/{name}/{version}/{EMBEDDINGS}"


def publish_model(repo: ModelRepository, prefix: str, card: GraphModelCard, onnx_bytes: bytes,
                  embeddings: np.ndarray) -> tuple[GraphModelCard, ArtifactInfo, ArtifactInfo]:
    """Publish the scorer as the next version of ``card.name``, then its embeddings and card (written last, so a
    card that exists always has its model). Returns (card with its version, card artifact, model artifact)."""
    published = repo.publish(card.name, onnx_bytes)
    final = replace(card, version=published.version)
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(embeddings, dtype=np.float32), allow_pickle=False)
    repo.store.put_bytes(embeddings_key(prefix, card.name, published.version), buffer.getvalue(),
                         media_type="application/x-npy")
    info = repo.store.put_bytes(card_key(prefix, card.name, published.version), final.to_json().encode(),
                                media_type="application/json")
    return final, info, published.model


def card_versions(store: ArtifactStore, prefix: str, name: str) -> list[int]:
    start = f"{prefix.strip('/')}/{name}/"
    found = []
    for info in store.list(start):
        head, _, tail = info.key[len(start):].partition("/")
        if tail == CARD and head.isdigit():
            found.append(int(head))
    return sorted(found)


def load_card(store: ArtifactStore, prefix: str, name: str, version: int | None = None) -> GraphModelCard:
    """The card of ``name`` at ``version`` (default: newest); :class:`NotFound` naming the model."""
    versions = card_versions(store, prefix, name)
    if not versions or (version is not None and version not in versions):
        raise NotFound(f"graph model {name!r}" + (f" version {version}" if version else "")
                       + " not found: train one with the Train RPC or `tessera graph train`")
    return GraphModelCard.from_json(store.get_bytes(card_key(prefix, name, version or versions[-1])))


def load_embeddings(store: ArtifactStore, prefix: str, card: GraphModelCard) -> np.ndarray:
    """(n_nodes, d) float32 node features of a published model."""
    return np.load(io.BytesIO(store.get_bytes(embeddings_key(prefix, card.name, card.version))), allow_pickle=False)
