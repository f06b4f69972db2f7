"""Negative sets for training and evaluation, as the Hyper-SAGNN reference generates them.

For each positive hyperedge, ``per_positive`` negatives of the same size: with probability
``same_type_ratio`` one member is swapped for a random node of the *same type* (hard negatives),
otherwise every member is redrawn at random within its own type (easy negatives). A candidate that
is a known hyperedge, or repeats a node, is redrawn (bounded tries; a positive whose negatives cannot
be found is skipped).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tessera.graph.hypergraph import EdgeKey, Hypergraph

MAX_ROUNDS = 50


@dataclass
class NegativeSampler:
    """Draws negatives in the node space of ``graph``, never a key in ``known``."""

    graph: Hypergraph
    known: set[EdgeKey]
    per_positive: int = 5
    same_type_ratio: float = 0.9

    def _draw(self, edges: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One candidate per row of ``edges`` (n, k) global ids."""
        g = self.graph
        types = g.node_types[edges]
        n, k = edges.shape
        counts = np.asarray(g.node_counts)[types]
        random_all = g.offsets[types] + (rng.random((n, k)) * counts).astype(np.int64)
        out = edges.copy()
        swap = rng.random(n) < self.same_type_ratio
        pos = np.asarray(rng.integers(0, k, n))
        rows = np.flatnonzero(swap)
        out[rows, pos[rows]] = random_all[rows, pos[rows]]
        out[~swap] = random_all[~swap]
        return np.sort(out, axis=1)

    def _valid(self, cand: np.ndarray) -> np.ndarray:
        distinct = np.all(np.diff(cand, axis=1) != 0, axis=1)
        unknown = np.fromiter((tuple(int(v) for v in row) not in self.known for row in cand), bool, len(cand))
        return distinct & unknown

    def sample_fixed(self, edges: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Negatives for same-size positives ``edges`` (n, k): (negatives (m, k), index of their positive (m,))."""
        reps = np.repeat(np.arange(len(edges)), self.per_positive)
        base = edges[reps]
        result = np.empty_like(base)
        pending = np.arange(len(base))
        for _ in range(MAX_ROUNDS):
            if not len(pending):
                break
            cand = self._draw(base[pending], rng)
            ok = self._valid(cand)
            result[pending[ok]] = cand[ok]
            pending = pending[~ok]
        keep = np.ones(len(base), bool)
        keep[pending] = False
        return result[keep], reps[keep]

    def sample(self, edges: Sequence[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
        """Negatives for positives of any sizes (grouped by size internally)."""
        by_size: dict[int, list[int]] = {}
        for i, e in enumerate(edges):
            by_size.setdefault(len(e), []).append(i)
        out: list[np.ndarray] = []
        for idx in by_size.values():
            neg, _ = self.sample_fixed(np.stack([edges[i] for i in idx]), rng)
            out.extend(neg)
        return out


def add_outsiders(edges: np.ndarray, graph: Hypergraph, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Each hyperedge (n, k) plus one random foreign node (any type), shuffled: (sets (n, k+1), outsider column (n,)).

    The outsider identification task of the paper: the model should score the foreign node lowest.
    """
    n, k = edges.shape
    foreign = np.asarray(rng.integers(0, graph.n_nodes, n))
    clash = np.any(edges == foreign[:, None], axis=1)
    while clash.any():
        foreign[clash] = rng.integers(0, graph.n_nodes, int(clash.sum()))
        clash = np.any(edges == foreign[:, None], axis=1)
    sets = np.concatenate([edges, foreign[:, None]], axis=1)
    order = np.argsort(rng.random((n, k + 1)), axis=1)
    sets = np.take_along_axis(sets, order, axis=1)
    outsider = np.argmax(order == k, axis=1)
    return sets, outsider
