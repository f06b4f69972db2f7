"""The hypergraph data model: typed nodes with per-type id spaces and variable-size hyperedges.

Node ``j`` of type ``t`` has the *global* id ``offsets[t] + j``; a hyperedge is a sorted int64 array of
distinct global ids (size >= 2). Sorting gives every set one canonical key, so "is this a known
hyperedge" is a set lookup. When every hyperedge has the same size and, column by column, the same
node type (GPS, MovieLens, drug), the graph is *fixed-arity* and ``column_types`` records the types.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from tessera.core.errors import InvalidArgument

EdgeKey = tuple[int, ...]


def edge_key(edge: np.ndarray) -> EdgeKey:
    """Canonical hashable key of a hyperedge (its sorted global ids)."""
    return tuple(int(v) for v in np.sort(edge))


@dataclass(frozen=True)
class Hypergraph:
    """Typed nodes and hyperedges over global ids.

    ``node_counts[t]``: number of nodes of type ``t``; ``type_names[t]``: its name; ``edges``: one sorted
    int64 array of global ids per hyperedge; ``node_labels[t]`` (optional): the external name of each
    node of type ``t`` (when the input named nodes by strings).
    """

    node_counts: tuple[int, ...]
    type_names: tuple[str, ...]
    edges: tuple[np.ndarray, ...]
    node_labels: tuple[tuple[str, ...], ...] | None = None
    offsets: np.ndarray = field(init=False, repr=False)
    node_types: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if len(self.node_counts) != len(self.type_names) or not self.node_counts:
            raise InvalidArgument.field("type_names", "one name per node type, at least one type")
        if any(c < 1 for c in self.node_counts):
            raise InvalidArgument.field("node_counts", "every node type needs at least one node")
        offsets = np.concatenate([[0], np.cumsum(self.node_counts)]).astype(np.int64)
        object.__setattr__(self, "offsets", offsets)
        object.__setattr__(self, "node_types", np.repeat(np.arange(len(self.node_counts)), self.node_counts))
        for i, edge in enumerate(self.edges):
            if edge.ndim != 1 or len(edge) < 2:
                raise InvalidArgument.field(f"edges[{i}]", "a hyperedge needs at least two nodes")
            if edge.min() < 0 or edge.max() >= self.n_nodes:
                raise InvalidArgument.field(f"edges[{i}]", f"node id out of range [0, {self.n_nodes})")
            if len(np.unique(edge)) != len(edge):
                raise InvalidArgument.field(f"edges[{i}]", "a node appears twice in one hyperedge")

    @classmethod
    def from_edges(cls, edges: Iterable[Sequence[int] | np.ndarray], node_counts: Sequence[int],
                   type_names: Sequence[str] | None = None,
                   node_labels: Sequence[Sequence[str]] | None = None) -> Hypergraph:
        """Build from hyperedges of global ids (each sorted here)."""
        names = tuple(type_names) if type_names is not None else tuple(f"type{t}" for t in range(len(node_counts)))
        arrays = tuple(np.sort(np.asarray(e, dtype=np.int64)) for e in edges)
        labels = tuple(tuple(v) for v in node_labels) if node_labels is not None else None
        return cls(tuple(int(c) for c in node_counts), names, arrays, labels)

    @property
    def n_nodes(self) -> int:
        return int(self.offsets[-1])

    @property
    def n_types(self) -> int:
        return len(self.node_counts)

    @property
    def sizes(self) -> np.ndarray:
        """Size of every hyperedge, (n_edges,)."""
        return np.array([len(e) for e in self.edges], dtype=np.int64)

    @property
    def column_types(self) -> tuple[int, ...] | None:
        """Node type of each column when the graph is fixed-arity with one type per column, else None."""
        if not self.edges:
            return None
        sizes = self.sizes
        if np.any(sizes != sizes[0]):
            return None
        types = self.node_types[np.stack(self.edges)]
        if np.any(types != types[0]):
            return None
        return tuple(int(t) for t in types[0])

    def global_ids(self, node_type: int, local_ids: np.ndarray) -> np.ndarray:
        """Global ids of nodes ``local_ids`` of ``node_type``."""
        return self.offsets[node_type] + np.asarray(local_ids, dtype=np.int64)

    def local_ids(self, global_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(types, per-type ids) of global ids."""
        types = self.node_types[global_ids]
        return types, global_ids - self.offsets[types]

    def keys(self) -> set[EdgeKey]:
        """Canonical keys of all hyperedges."""
        return {tuple(int(v) for v in e) for e in self.edges}

    def with_edges(self, edges: Sequence[np.ndarray]) -> Hypergraph:
        """The same node space with other hyperedges."""
        return Hypergraph(self.node_counts, self.type_names, tuple(edges), self.node_labels)

    def deduplicated(self) -> Hypergraph:
        """Drop repeated hyperedges (first occurrence kept)."""
        seen: set[EdgeKey] = set()
        kept = []
        for e in self.edges:
            k = tuple(int(v) for v in e)
            if k not in seen:
                seen.add(k)
                kept.append(e)
        return self.with_edges(kept)

    def split(self, holdout_fraction: float, seed: int) -> tuple[Hypergraph, Hypergraph]:
        """Random (kept, held-out) split of the hyperedges; the held-out part has ``holdout_fraction`` of them."""
        if not 0.0 < holdout_fraction < 1.0:
            raise InvalidArgument.field("holdout_fraction", "must lie in (0, 1)")
        order = np.random.default_rng(seed).permutation(len(self.edges))
        n_out = max(1, round(holdout_fraction * len(self.edges)))
        out, kept = order[:n_out], order[n_out:]
        return (self.with_edges([self.edges[i] for i in kept]), self.with_edges([self.edges[i] for i in out]))
