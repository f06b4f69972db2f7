"""The reference's assignment rules on a hand-made neighbour graph."""

from __future__ import annotations

import numpy as np

from tessera.clustering.expansion import Adjacency, expand_clusters


def graph(n: int, edges: list[tuple[int, int]]) -> Adjacency:
    first = np.array([a for a, _ in edges], dtype=np.int64)
    second = np.array([b for _, b in edges], dtype=np.int64)
    return Adjacency.from_pairs(n, first, second)


def test_noise_found_first_is_absorbed_only_by_a_seed() -> None:
    # 0 (one neighbour) is visited first: noise. 1 seeds cluster 0 with 2, 3, 4; 3 is core and
    # has 0 as a neighbour, but 0 is reached by expansion, not as a seed's neighbour: it stays
    # noise, as in the reference. 6 is noise when visited, then 7 seeds a cluster containing it.
    edges = [(0, 3), (1, 2), (1, 3), (1, 4), (3, 4), (2, 4), (6, 7), (7, 8), (7, 9)]
    result = expand_clusters(graph(10, edges), minimum_neighbors=3)
    labels = result.labels
    assert labels[0] == -1 and labels[5] == -1
    assert labels[1] == labels[2] == labels[3] == labels[4] == 0
    assert labels[7] == labels[8] == labels[9] == labels[6] == 1
    assert result.n_clusters == 2
    assert result.core[3] and result.core[1] and not result.core[0] and not result.core[6]


def test_weights_count_toward_core() -> None:
    edges = [(0, 1), (0, 2)]
    unweighted = expand_clusters(graph(3, edges), minimum_neighbors=3)
    weighted = expand_clusters(graph(3, edges), minimum_neighbors=3, weights=np.array([1.0, 2.0, 1.0]))
    assert unweighted.n_clusters == 0
    assert weighted.n_clusters == 1 and weighted.core[0]
