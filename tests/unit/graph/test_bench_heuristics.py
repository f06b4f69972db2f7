"""The co-occurrence baseline of tools/bench/hypergraph.py: its pair features against networkx's definitions, and that
the fitted baseline separates planted hyperedges from the bench's kind of negatives."""

from __future__ import annotations

import sys
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

from tessera.graph.hypergraph import Hypergraph
from tessera.graph.negatives import NegativeSampler

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tools" / "bench"))
from graph_heuristics import CooccurrenceIndex, heuristic_metrics, set_features


def _random_hypergraph(seed: int, n: int = 40, edges: int = 60) -> Hypergraph:
    rng = np.random.default_rng(seed)
    sets = [rng.choice(n, size=int(rng.integers(2, 5)), replace=False) for _ in range(edges)]
    return Hypergraph.from_edges(sets, [n])


def test_pair_features_match_networkx_on_the_clique_expansion():
    graph = _random_hypergraph(0)
    clique = nx.Graph()
    clique.add_nodes_from(range(graph.n_nodes))
    co = {}
    for edge in graph.edges:
        for i, a in enumerate(edge):
            for b in edge[i + 1:]:
                clique.add_edge(int(a), int(b))
                key = (min(a, b), max(a, b))
                co[key] = co.get(key, 0) + 1
    pairs = [(a, b) for a in range(graph.n_nodes) for b in range(a + 1, graph.n_nodes)]
    a, b = (np.array(x) for x in zip(*pairs, strict=True))
    got = CooccurrenceIndex.of(graph).pair_features(a, b)
    common = np.array([len(list(nx.common_neighbors(clique, u, v))) for u, v in pairs])
    adamic = np.array([score for _, _, score in nx.adamic_adar_index(clique, pairs)])
    jaccard = np.array([score for _, _, score in nx.jaccard_coefficient(clique, pairs)])
    together = np.array([co.get(p, 0) for p in pairs])
    assert together.max() >= 2 and common.max() >= 2  # the fixture exercises repeated pairs and shared neighbours
    np.testing.assert_allclose(got[:, 0], np.log1p(together))
    np.testing.assert_allclose(got[:, 1], np.log1p(common))
    np.testing.assert_allclose(got[:, 2], adamic, rtol=1e-12)
    np.testing.assert_allclose(got[:, 3], jaccard, rtol=1e-12)


def test_set_features_pool_variable_sizes_and_keep_columns_for_fixed_arity():
    graph = _random_hypergraph(1)
    index = CooccurrenceIndex.of(graph)
    sets = [np.array([0, 1]), np.array([2, 3, 4, 5])]
    pooled = set_features(index, sets, per_column=False)
    assert pooled.shape == (2, 1 + 3 * 2 + 3 * 4)
    assert list(pooled[:, 0]) == [2, 4]
    one_pair = index.pair_features(np.array([0]), np.array([1]))[0]
    np.testing.assert_allclose(pooled[0, 7:11], one_pair)  # min over a single pair is that pair
    fixed = set_features(index, [np.array([0, 1, 2]), np.array([3, 4, 5])], per_column=True)
    assert fixed.shape == (2, 3 * 2 + 3 * 4)


@pytest.mark.parametrize("seed", [0, 1])
def test_baseline_separates_planted_cliques_from_swapped_negatives(seed):
    """Hyperedges drawn inside 40 planted groups of six nodes: a held-out hyperedge shares pairs with its group's
    training hyperedges, a negative with a swapped-in outsider mostly does not, so the AUC is far above chance."""
    rng = np.random.default_rng(seed)
    groups = np.arange(240).reshape(40, 6)
    sets = [rng.choice(groups[rng.integers(40)], size=3, replace=False) for _ in range(800)]
    graph = Hypergraph.from_edges(sets, [240]).deduplicated()
    train, test = graph.split(0.2, seed)
    negatives = NegativeSampler(graph, graph.keys()).sample(test.edges, np.random.default_rng(seed))
    metrics = heuristic_metrics(train, test.edges, negatives, test.keys(), seed)
    assert metrics["auc"] > 0.9
    assert 0.0 < metrics["aupr"] <= 1.0
