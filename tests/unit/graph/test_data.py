"""Hypergraph model, loaders (npz, long and fixed-arity tables, Les Misérables), negatives, batching."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from tessera.core.errors import InvalidArgument
from tessera.graph.batching import pad_sets, size_batches
from tessera.graph.features import cooccurrence_rows, random_walk_embeddings, random_walks
from tessera.graph.hypergraph import Hypergraph
from tessera.graph.loaders import load_benchmark, load_lesmis, load_npz, load_table
from tessera.graph.negatives import NegativeSampler, add_outsiders
from tests.conftest import SHARED_DATA
from tests.unit.graph.synthetic import planted_typed, planted_variable

GPS = str(SHARED_DATA / "hypergraph" / "GPS")


def test_benchmark_npz_loads_with_per_type_offsets():
    train, test = load_benchmark(GPS)
    assert train.node_counts == (146, 70, 5)
    assert train.type_names == ("user", "location", "activity")
    assert len(train.edges) == 1154 and len(test.edges) == 282
    assert train.column_types == (0, 1, 2)
    raw = np.load(f"{GPS}/train_data.npz")["train_data"]
    types, local = train.local_ids(train.edges[0])
    assert list(local) == list(raw[0]) and list(types) == [0, 1, 2]


def test_npz_bytes_and_out_of_range_ids_name_the_row():
    buf = io.BytesIO()
    np.savez(buf, train_data=np.array([[0, 1], [2, 5]]), nums_type=np.array([3, 3]))
    with pytest.raises(InvalidArgument, match=r"train_data\[1\]\.type1.*out of range"):
        load_npz(buf.getvalue())


def test_long_csv_and_parquet_give_the_same_variable_size_graph():
    table = pd.DataFrame({"edge_id": [0, 0, 0, 1, 1, 2, 2, 2, 2],
                          "node": [0, 1, 0, 2, 1, 0, 3, 1, 2],
                          "type": ["u", "u", "i", "u", "i", "u", "u", "i", "i"]})
    csv = load_table(table.to_csv(index=False).encode(), "csv")
    pq_buf = io.BytesIO()
    table.to_parquet(pq_buf)
    parquet = load_table(pq_buf.getvalue())
    assert csv.type_names == ("u", "i") and csv.node_counts == (4, 3)
    assert sorted(len(e) for e in csv.edges) == [2, 3, 4]
    assert [list(e) for e in csv.edges] == [list(e) for e in parquet.edges]
    assert csv.column_types is None


def test_long_table_with_string_nodes_keeps_labels_and_rejects_nan():
    g = load_table(b"edge_id,node\na,x\na,y\nb,y\nb,z\nb,x\n", "csv")
    assert g.node_counts == (3,) and g.node_labels == (("x", "y", "z"),)
    with pytest.raises(InvalidArgument, match="NaN"):
        load_table(b"edge_id,node\n1,3\n1,\n", "csv")


def test_fixed_arity_table_types_per_column():
    g = load_table(b"user,item,item\n0,1,2\n1,0,2\n", "csv")
    assert g.type_names == ("user", "item") and g.node_counts == (2, 3)
    assert g.column_types == (0, 1, 1)  # a user and two items per hyperedge
    assert all(len(e) == 3 for e in g.edges)


def test_lesmis_scenes_are_variable_size_homogeneous():
    g = load_lesmis()
    assert g.node_counts == (80,)
    sizes = g.sizes
    assert sizes.min() == 2 and sizes.max() >= 8
    assert 250 < len(g.edges) < 402  # single-character scenes are not hyperedges


def test_bad_hyperedges_are_rejected():
    with pytest.raises(InvalidArgument, match="at least two"):
        Hypergraph.from_edges([[1]], [3])
    with pytest.raises(InvalidArgument, match="twice"):
        Hypergraph.from_edges([[1, 1]], [3])
    with pytest.raises(InvalidArgument, match="out of range"):
        Hypergraph.from_edges([[0, 7]], [3])


def test_negatives_keep_types_and_are_never_known():
    g = planted_typed()
    sampler = NegativeSampler(g, g.keys(), per_positive=5, same_type_ratio=0.9)
    edges = np.stack(g.edges)
    neg, origin = sampler.sample_fixed(edges, np.random.default_rng(0))
    assert len(neg) == 5 * len(edges) and len(origin) == len(neg)
    assert not ({tuple(map(int, n)) for n in neg} & g.keys())
    assert np.all(g.node_types[neg] == np.array([0, 1, 2]))
    changed = (neg != edges[origin]).sum(1)
    assert 0.8 < np.mean(changed == 1) < 0.97  # most negatives swap one node


def test_variable_size_negatives_and_outsiders():
    g = planted_variable()
    neg = NegativeSampler(g, g.keys()).sample(g.edges, np.random.default_rng(1))
    assert sorted({len(n) for n in neg}) == [2, 3, 4, 5]
    assert all(len(np.unique(n)) == len(n) for n in neg)
    three = np.stack([e for e in g.edges if len(e) == 3])
    sets, outsider = add_outsiders(three, g, np.random.default_rng(2))
    assert sets.shape == (len(three), 4)
    for s, o, e in zip(sets, outsider, three, strict=True):
        assert s[o] not in e and sorted(np.delete(s, o)) == sorted(e)


def test_padding_and_size_batches():
    ids, mask = pad_sets([np.array([0, 4]), np.array([1, 2, 3])])
    assert ids.tolist() == [[1, 5, 0], [2, 3, 4]] and mask.tolist() == [[1, 1, 0], [1, 1, 1]]
    sizes = np.array([2, 3, 2, 3, 3])
    batches = list(size_batches(sizes, 2, np.random.default_rng(0)))
    assert sorted(np.concatenate(batches).tolist()) == [0, 1, 2, 3, 4]
    assert all(len(set(sizes[b])) == 1 for b in batches)


def test_features_shapes():
    g = planted_typed(n_per_type=12, n_edges=60)
    rows = cooccurrence_rows(g)
    assert [r.shape[0] for r in rows] == [12, 12, 12]
    assert all(0 < r.max() <= 1.0 for r in rows)
    vectors = random_walk_embeddings(g, dim=8, walks_per_node=2, length=10, window=3)
    assert vectors.shape == (36, 8) and np.allclose(vectors.mean(0), 0, atol=1e-4)


def node2vec_law(adj: np.ndarray, prev: int, cur: int, p: float, q: float) -> np.ndarray:
    """Exact node2vec next-step probabilities from ``cur`` having come from ``prev`` (Grover & Leskovec)."""
    bias = np.where(adj[prev] > 0, 1.0, 1.0 / q)
    bias[prev] = 1.0 / p
    w = adj[cur] * bias
    return w / w.sum()


def test_random_walks_follow_the_node2vec_transition_law():
    rng = np.random.default_rng(3)
    dense = np.triu(rng.integers(1, 4, (7, 7)) * (rng.random((7, 7)) < 0.6), 1).astype(float)
    dense = dense + dense.T
    dense[0, 1] = dense[1, 0] = 2.0  # the pair whose transitions are counted below
    dense[0, 2] = dense[2, 0] = 1.0  # 1's neighbours: 0 (back, 1/p), 2 (common neighbour, 1), 4 (away, 1/q)
    p, q = 2.0, 0.25
    walks = random_walks(sp.csr_matrix(dense), walks_per_node=4000, length=6, p=p, q=q, seed=0)
    counts = np.zeros(7)
    for walk in walks:
        for a, b, c in zip(walk[:-2], walk[1:-1], walk[2:], strict=True):
            if (int(a), int(b)) == (0, 1):
                counts[int(c)] += 1
    assert counts.sum() > 2000
    expected = node2vec_law(dense, 0, 1, p, q)
    assert np.abs(counts / counts.sum() - expected).max() < 0.03, (counts / counts.sum(), expected)
    assert all(len(w) == 6 for w in walks)  # every node has a neighbour: no walk stops early
    lengths = {len(w) for w in random_walks(sp.csr_matrix(np.zeros((3, 3))), 1, 5, p, q, 0)}
    assert lengths == {1}  # isolated nodes: the walk is the start node alone
