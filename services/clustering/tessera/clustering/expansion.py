"""Cluster expansion over a sparse neighbour graph, with the reference's exact assignment rules.

The reference (scadda 1.0.0) visits points in index order. An unvisited point with fewer than
``minimum_neighbors`` neighbours becomes noise for good; otherwise it opens a new cluster, and
*all* its neighbours join that cluster (even ones labelled noise or taken by an earlier cluster)
and are expanded: every member with enough neighbours adds its still-unvisited neighbours,
which are expanded in turn. Noise met during expansion stays noise. The result of that
expansion does not depend on the order members are expanded in, so it is done here level by
level with array operations on a CSR adjacency instead of a Python stack of indices.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

NOISE = -1
_UNVISITED = -2


@dataclass(frozen=True)
class Adjacency:
    """Symmetric neighbour lists in CSR form: neighbours of k are ``indices[indptr[k]:indptr[k+1]]``."""

    indptr: IntArray
    indices: IntArray

    @classmethod
    def from_pairs(cls, n: int, first: IntArray, second: IntArray) -> Adjacency:
        """Build from undirected pairs (each listed once); memory O(N + pairs)."""
        source = np.concatenate([first, second]).astype(np.int64, copy=False)
        target = np.concatenate([second, first]).astype(np.int64, copy=False)
        order = np.argsort(source, kind="stable")
        counts = np.bincount(source, minlength=n)
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        return cls(indptr, target[order])

    def degree(self) -> IntArray:
        return np.diff(self.indptr)

    def neighbours_of(self, nodes: IntArray) -> IntArray:
        """Concatenated neighbour lists of ``nodes`` (with repeats)."""
        starts = self.indptr[nodes]
        lengths = self.indptr[nodes + 1] - starts
        total = int(lengths.sum())
        if total == 0:
            return np.empty(0, dtype=np.int64)
        offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(total)
        return self.indices[offsets]


@dataclass(frozen=True)
class Expansion:
    """``labels`` (N,): -1 noise, clusters 0..K-1 in order of discovery; ``core`` (N,) bool."""

    labels: IntArray
    core: npt.NDArray[np.bool_]
    n_clusters: int


def expand_clusters(
    adjacency: Adjacency,
    minimum_neighbors: float,
    weights: FloatArray | None = None,
    progress: Callable[[float], None] | None = None,
) -> Expansion:
    """Assign clusters as the reference does. With ``weights``, a point is core when the summed
    weight of its neighbours (itself excluded, like the reference's count) reaches the minimum."""
    n = adjacency.indptr.size - 1
    if weights is None:
        core = adjacency.degree() >= minimum_neighbors
    else:
        neighbour_weight = np.add.reduceat(
            np.append(weights[adjacency.indices], 0.0), np.minimum(adjacency.indptr[:-1], adjacency.indices.size)
        )
        neighbour_weight[adjacency.degree() == 0] = 0.0
        core = neighbour_weight >= minimum_neighbors
    labels = np.full(n, _UNVISITED, dtype=np.int64)
    cluster = -1
    report = max(1, n // 20)
    for point in range(n):
        if progress is not None and point % report == 0:
            progress(point / n)
        if labels[point] != _UNVISITED:
            continue
        if not core[point]:
            labels[point] = NOISE
            continue
        cluster += 1
        labels[point] = cluster
        seeds = adjacency.neighbours_of(np.array([point]))
        labels[seeds] = cluster
        frontier = seeds[core[seeds]]
        while frontier.size:
            reached = adjacency.neighbours_of(frontier)
            fresh = np.unique(reached[labels[reached] == _UNVISITED])
            labels[fresh] = cluster
            frontier = fresh[core[fresh]]
    if progress is not None:
        progress(1.0)
    return Expansion(labels, core, cluster + 1)
