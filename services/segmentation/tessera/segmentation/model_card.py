"""A trained cascade as published: two ONNX stages in the Triton repository and a model card.

Stages are Triton models ``<name>-stage1`` and ``<name>-stage2`` (same version number); the card
(JSON) lives outside Triton's repository at ``segmentation/models/<name>/<version>/model_card.json``
and says what the stages expect (contrasts, classes, spacing, normalisation, cascade settings)
and how they were trained and measured.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from tessera.core.artifacts.base import ArtifactStore
from tessera.core.errors import NotFound
from tessera.core.inference import ModelRepository


class ModelCard(BaseModel):
    name: str
    version: int = 0
    task: str = Field(description="tissue | deep")
    contrasts: list[str] = Field(description="Input channel order, e.g. ['T1w', 'T2w', 'FLAIR'].")
    class_names: dict[int, str]
    spacing_mm: float = Field(description="Isotropic grid the stages were trained on (full resolution).")
    normalisation: str = "zscore-head"
    cascade: dict[str, Any] = Field(default_factory=dict, description="CascadeConfig fields.")
    network: dict[str, Any] = Field(default_factory=dict, description="UNetConfig of each stage.")
    training: dict[str, Any] = Field(default_factory=dict, description="TrainConfig and data description.")
    metrics: dict[str, Any] = Field(default_factory=dict, description="Validation Dice, utilisation rates, "
                                    "Dice with each contrast missing.")
    export_max_abs_diff: dict[str, float] = Field(default_factory=dict)

    def stage_model(self, stage: int) -> str:
        return f"{self.name}-stage{stage}"


def card_key(name: str, version: int) -> str:
    return f"segmentation/models/{name}/{version}/model_card.json"


def publish_model(repo: ModelRepository, card: ModelCard, stage1_onnx: bytes, stage2_onnx: bytes) -> ModelCard:
    """Publish both stages at one version (the next free for both) and the card; returns the card."""
    taken = set(repo.versions(card.stage_model(1))) | set(repo.versions(card.stage_model(2)))
    version = max(taken, default=0) + 1
    repo.publish(card.stage_model(1), stage1_onnx, version=version)
    repo.publish(card.stage_model(2), stage2_onnx, version=version)
    published = card.model_copy(update={"version": version})
    repo.store.put_bytes(card_key(card.name, version), published.model_dump_json(indent=2).encode(),
                         media_type="application/json")
    return published


def load_card(store: ArtifactStore, name: str, version: int | None = None) -> ModelCard:
    """The card of ``name`` at ``version`` (default: newest); NotFound naming the model."""
    prefix = f"segmentation/models/{name}/"
    versions = sorted(int(info.key[len(prefix):].split("/")[0]) for info in store.list(prefix)
                      if info.key.endswith("/model_card.json"))
    if not versions or (version is not None and version not in versions):
        raise NotFound(f"segmentation model {name!r}" + (f" version {version}" if version else "")
                       + " not found: train one with the Train RPC or `tessera segmentation train`")
    return ModelCard.model_validate_json(store.get_bytes(card_key(name, version or versions[-1])))
