"""Tiny hypergraphs with planted structure: hyperedges only join nodes of one community."""

from __future__ import annotations

import numpy as np

from tessera.graph.hypergraph import Hypergraph


def planted_typed(n_per_type: int = 24, groups: int = 4, n_edges: int = 400, seed: int = 0) -> Hypergraph:
    """3 node types; each hyperedge takes one node per type, all from the same community (id % groups)."""
    rng = np.random.default_rng(seed)
    edges = set()
    while len(edges) < n_edges:
        g = rng.integers(groups)
        members = [rng.choice(np.arange(g, n_per_type, groups)) + t * n_per_type for t in range(3)]
        edges.add(tuple(int(m) for m in members))
    return Hypergraph.from_edges(sorted(edges), [n_per_type] * 3, ("a", "b", "c"))


def planted_variable(n_nodes: int = 40, groups: int = 4, n_edges: int = 300, seed: int = 0) -> Hypergraph:
    """One node type; hyperedges of sizes 2-5 inside one community."""
    rng = np.random.default_rng(seed)
    edges = set()
    while len(edges) < n_edges:
        g = rng.integers(groups)
        pool = np.arange(g, n_nodes, groups)
        edges.add(tuple(sorted(int(v) for v in rng.choice(pool, rng.integers(2, 6), replace=False))))
    return Hypergraph.from_edges(sorted(edges), [n_nodes], ("node",))
