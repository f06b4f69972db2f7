"""The graph service's work, independent of gRPC: find a published model, check and score candidate sets, embed nodes.

Scoring runs the exported network (``ids`` (N, L) int64 + ``mask`` (N, L) float32 -> ``score`` (N,),
``node_scores`` (N, L)) through Triton (``TritonBackend``) when ``TESSERA_TRITON_URL`` is set, else through
in-process onnxruntime (``OnnxRuntimeBackend``) over the same model repository. Sets of mixed sizes share
one padded batch; requests larger than ``graph_infer_batch`` sets go as several calls, sets sorted by size so
each call pads little (results are returned in request order).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tessera.core.errors import InvalidArgument
from tessera.core.inference.repository import validate_model_name
from tessera.core.runtime import ServiceRuntime
from tessera.graph.batching import pad_sets
from tessera.graph.bundle import GraphModelCard, Member, SetEncoder
from tessera.graph.export import INPUT_IDS, INPUT_MASK, OUTPUT_NODES, OUTPUT_SCORE
from tessera.graph.registry import load_card, load_embeddings
from tessera.graph.settings import GraphSettings


@dataclass(frozen=True)
class SetScores:
    """``scores`` (n,) hyperedge probabilities; ``node_scores[i]`` (len(set i),) per-member probabilities."""

    scores: np.ndarray
    node_scores: list[np.ndarray]

    def outsiders(self) -> list[int]:
        """Index of the lowest-scoring member of each set (the predicted outsider)."""
        return [int(np.argmin(s)) for s in self.node_scores]


@dataclass(frozen=True)
class NodeVectors:
    """The requested nodes (type name, id within the type, name or '') and their features (n, d) float32."""

    nodes: list[Member]
    vectors: np.ndarray


class GraphService:
    def __init__(self, runtime: ServiceRuntime):
        self.runtime = runtime
        self.settings: GraphSettings = runtime.settings  # type: ignore[assignment]
        self._loaded: set[tuple[str, int]] = set()
        self._embeddings: dict[tuple[str, int], np.ndarray] = {}
        self._lock = threading.Lock()

    def card(self, model: str = "") -> GraphModelCard:
        """The newest published card of ``model`` (default: ``graph_default_model``); NotFound naming it."""
        name = validate_model_name(model or self.settings.graph_default_model, "model")
        return load_card(self.runtime.store, self.settings.graph_models_prefix, name)

    def _ensure_loaded(self, card: GraphModelCard) -> None:
        with self._lock:  # load each version once per process (Triton: explicit model control)
            if (card.name, card.version) in self._loaded:
                return
            self.runtime.inference.load(card.name, str(card.version))
            self._loaded.add((card.name, card.version))

    def encode(self, card: GraphModelCard, sets: Sequence[Sequence[Member]]) -> list[np.ndarray]:
        """Global ids of each set, checked against the card (InvalidArgument naming ``sets[i]...``)."""
        if not sets:
            raise InvalidArgument.field("sets", "give at least one candidate set")
        if len(sets) > self.settings.graph_max_sets:
            raise InvalidArgument.field("sets", f"{len(sets)} sets; at most {self.settings.graph_max_sets} per call")
        return SetEncoder(card).encode(sets)

    def score(self, card: GraphModelCard, sets: Sequence[Sequence[Member]]) -> SetScores:
        """Score candidate sets of any sizes with the published scorer of ``card``."""
        encoded = self.encode(card, sets)
        self._ensure_loaded(card)
        order = np.argsort([len(s) for s in encoded], kind="stable")
        scores = np.empty(len(encoded), dtype=np.float32)
        members: list[np.ndarray] = [np.empty(0, dtype=np.float32)] * len(encoded)
        step = self.settings.graph_infer_batch
        for start in range(0, len(order), step):
            idx = order[start: start + step]
            ids, mask = pad_sets([encoded[i] for i in idx])
            out = self.runtime.inference.infer(card.name, {INPUT_IDS: ids, INPUT_MASK: mask}, str(card.version))
            batch_scores = np.asarray(out[OUTPUT_SCORE]).reshape(len(idx))
            batch_nodes = np.asarray(out[OUTPUT_NODES]).reshape(len(idx), ids.shape[1])
            for row, i in enumerate(idx):
                scores[i] = batch_scores[row]
                members[i] = batch_nodes[row, : len(encoded[i])].copy()
        return SetScores(scores, members)

    def embeddings(self, card: GraphModelCard) -> np.ndarray:
        """(n_nodes, d) features of every node of a published model (cached per version)."""
        key = (card.name, card.version)
        with self._lock:
            table = self._embeddings.get(key)
        if table is None:
            table = load_embeddings(self.runtime.store, self.settings.graph_models_prefix, card)
            with self._lock:
                self._embeddings[key] = table
        return table

    def embed(self, card: GraphModelCard, nodes: Sequence[Member]) -> NodeVectors:
        """Features of ``nodes`` (all nodes, type by type, when empty); InvalidArgument naming ``nodes[i]``."""
        table = self.embeddings(card)
        if not nodes:
            every = [Member(name, local, card.node_labels[t][local] if card.node_labels else "")
                     for t, (name, count) in enumerate(zip(card.type_names, card.node_counts, strict=True))
                     for local in range(count)]
            return NodeVectors(every, table)
        encoder = SetEncoder(card)
        rows, resolved = [], []
        for i, member in enumerate(nodes):
            t, glob = encoder.locate(member, f"nodes[{i}]")
            local = glob - int(encoder.offsets[t])
            label = card.node_labels[t][local] if card.node_labels else member.name
            resolved.append(Member(card.type_names[t], local, label))
            rows.append(glob)
        return NodeVectors(resolved, table[np.asarray(rows, dtype=np.int64)])
