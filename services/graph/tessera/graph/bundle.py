"""A trained model as files: ``model.onnx`` (the scoring network) and ``card.json`` (node space, metrics).

The card carries what a request needs to be checked and turned into ids: node types with their counts
(and names, when nodes were named by strings), the training arity per column when the graph was
fixed-arity, training settings and validation metrics. :class:`SetEncoder` validates candidate sets
against it and pads them for the network.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from tessera.core.errors import InvalidArgument
from tessera.graph.batching import pad_sets
from tessera.graph.hypergraph import Hypergraph

CARD = "card.json"
ONNX = "model.onnx"


@dataclass
class GraphModelCard:
    name: str
    version: int
    type_names: list[str]
    node_counts: list[int]
    column_types: list[int] | None
    node_labels: list[list[str]] | None = None
    features: str = "autoencoder"
    dim: int = 64
    metrics: dict[str, float] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)
    training: dict[str, object] = field(default_factory=dict)

    @classmethod
    def for_graph(cls, name: str, version: int, graph: Hypergraph, **kwargs: object) -> GraphModelCard:
        ct = graph.column_types
        return cls(name, version, list(graph.type_names), list(graph.node_counts), list(ct) if ct else None,
                   [list(v) for v in graph.node_labels] if graph.node_labels else None, **kwargs)  # type: ignore[arg-type]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str | bytes) -> GraphModelCard:
        return cls(**json.loads(text))


def save_bundle(directory: str | Path, card: GraphModelCard, onnx_bytes: bytes) -> Path:
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    (out / ONNX).write_bytes(onnx_bytes)
    (out / CARD).write_text(card.to_json())
    return out


def load_bundle(directory: str | Path) -> tuple[GraphModelCard, bytes]:
    folder = Path(directory)
    if not (folder / CARD).is_file() or not (folder / ONNX).is_file():
        raise InvalidArgument.field("model", f"{folder} holds no {CARD} and {ONNX}")
    return GraphModelCard.from_json((folder / CARD).read_text()), (folder / ONNX).read_bytes()


@dataclass(frozen=True)
class Member:
    """One requested node: its type name ('' = the only type), id within the type, or its name."""

    type: str = ""
    id: int = 0
    name: str = ""


class SetEncoder:
    """Checks candidate sets against a card and encodes them as padded global ids + mask."""

    def __init__(self, card: GraphModelCard):
        self.card = card
        self.offsets = np.concatenate([[0], np.cumsum(card.node_counts)]).astype(np.int64)
        self.type_index = {n: t for t, n in enumerate(card.type_names)}
        self.label_index = ([{label: i for i, label in enumerate(labels)} for labels in card.node_labels]
                            if card.node_labels else None)

    def locate(self, member: Member, where: str) -> tuple[int, int]:
        """(type index, global id) of one requested node; InvalidArgument naming ``where`` when it is unknown."""
        if member.type == "" and len(self.card.type_names) == 1:
            t = 0
        elif member.type in self.type_index:
            t = self.type_index[member.type]
        else:
            raise InvalidArgument.field(f"{where}.type", f"unknown node type {member.type!r}; the model has "
                                        f"{self.card.type_names}")
        if member.name:
            if self.label_index is None or member.name not in self.label_index[t]:
                raise InvalidArgument.field(f"{where}.name", f"unknown node {member.name!r} of type "
                                            f"{self.card.type_names[t]!r}")
            local = self.label_index[t][member.name]
        else:
            local = member.id
        if not 0 <= local < self.card.node_counts[t]:
            raise InvalidArgument.field(f"{where}.id", f"node id {local} out of range [0, {self.card.node_counts[t]}) "
                                        f"for type {self.card.type_names[t]!r}")
        return t, int(self.offsets[t] + local)

    def encode(self, sets: Sequence[Sequence[Member]], field_name: str = "sets") -> list[np.ndarray]:
        """Global ids of each set (member order kept); raises InvalidArgument naming the set and field."""
        out = []
        for i, members in enumerate(sets):
            where = f"{field_name}[{i}]"
            if len(members) < 2:
                raise InvalidArgument.field(f"{where}.nodes", f"a set needs at least two nodes, got {len(members)}")
            pairs = [self.locate(m, f"{where}.nodes[{j}]") for j, m in enumerate(members)]
            ids = np.array([g for _, g in pairs], dtype=np.int64)
            if len(np.unique(ids)) != len(ids):
                raise InvalidArgument.field(f"{where}.nodes", "a node appears twice in the set")
            ct = self.card.column_types
            if ct is not None:
                types = sorted(t for t, _ in pairs)
                if len(members) != len(ct) or types != sorted(ct):
                    raise InvalidArgument.field(f"{where}.nodes", f"the model was trained on fixed-arity sets of types "
                                                f"{[self.card.type_names[t] for t in ct]}")
            out.append(ids)
        return out

    def pad(self, sets: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        return pad_sets(sets)
