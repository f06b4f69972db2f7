"""Node features: co-occurrence rows for the autoencoder, or node2vec-style random-walk embeddings.

- :func:`cooccurrence_rows`: per node type, a sparse matrix (nodes of that type, other nodes) counting
  how often two nodes share a hyperedge, self-pairs removed, all-zero columns dropped, each column
  scaled to max 1 (the reference's ``generate_embeddings``). The tied autoencoder reads these rows.
- :func:`random_walk_embeddings`: biased second-order walks (node2vec, return ``p`` / in-out ``q``)
  over the clique expansion, skip-gram Word2Vec (gensim) over the walks, standardised per dimension.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.preprocessing import StandardScaler

from tessera.graph.hypergraph import Hypergraph


def clique_adjacency(graph: Hypergraph, edges: Sequence[np.ndarray] | None = None) -> sp.csr_matrix:
    """(n_nodes, n_nodes) counts of hyperedges shared by each pair of distinct nodes."""
    members = graph.edges if edges is None else edges
    n = graph.n_nodes
    if not members:
        return sp.csr_matrix((n, n), dtype=np.float32)
    cols = np.concatenate(members)
    rows = np.repeat(np.arange(len(members)), [len(e) for e in members])
    incidence = sp.csr_matrix((np.ones(len(cols), np.float32), (cols, rows)), shape=(n, len(members)))
    adj = (incidence @ incidence.T).tocsr()
    adj.setdiag(0)
    adj.eliminate_zeros()
    return adj.astype(np.float32)


def cooccurrence_rows(graph: Hypergraph, edges: Sequence[np.ndarray] | None = None) -> list[sp.csr_matrix]:
    """Per node type ``t``: (node_counts[t], d_t) float32 sparse rows, columns without any entry dropped, max-scaled."""
    adj = clique_adjacency(graph, edges)
    out = []
    for t in range(graph.n_types):
        block = adj[graph.offsets[t]: graph.offsets[t + 1]].tocsc()
        used = np.flatnonzero(np.diff(block.indptr) > 0)
        if not len(used):  # a type never seen in an edge: one empty column keeps the encoder's shape valid
            out.append(sp.csr_matrix((block.shape[0], 1), dtype=np.float32))
            continue
        block = block[:, used]
        col_max = block.max(axis=0).toarray().ravel()
        block = block @ sp.diags(1.0 / col_max)
        out.append(block.tocsr().astype(np.float32))
    return out


def _second_order_step(adj: sp.csr_matrix, cumulative: np.ndarray, keys: np.ndarray, cur: np.ndarray,
                       prev: np.ndarray, p: float, q: float, rng: np.random.Generator) -> np.ndarray:
    """Next node of every walker (rejection sampling, as KnightKing / PecanPy do): a neighbour of ``cur`` drawn with
    probability proportional to its edge weight is kept with probability bias / max bias, bias being 1/p back to
    ``prev``, 1 for a common neighbour of ``prev`` and 1/q further away (1 for first steps, ``prev`` = -1). That
    is node2vec's transition law, w * bias normalised over the neighbours, for all walkers at once.
    ``cumulative``: running sum of ``adj.data``; ``keys``: ``row * n + column`` of every stored entry (sorted)."""
    nxt = np.empty_like(cur)
    todo = np.arange(len(cur))
    bias_max = max(1.0, 1.0 / p, 1.0 / q)
    while len(todo):
        c, b = cur[todo], prev[todo]
        lo, hi = adj.indptr[c], adj.indptr[c + 1]
        before = np.where(lo > 0, cumulative[np.maximum(lo - 1, 0)], 0.0)
        target = before + rng.random(len(todo)) * (cumulative[hi - 1] - before)
        pick = np.clip(np.searchsorted(cumulative, target, side="right"), lo, hi - 1)
        cand = adj.indices[pick]
        first = b < 0
        key = b.astype(np.int64) * adj.shape[0] + cand
        found = np.searchsorted(keys, key)
        linked = (found < len(keys)) & (keys[np.minimum(found, len(keys) - 1)] == key)
        bias = np.where(first, 1.0, np.where(cand == b, 1.0 / p, np.where(linked, 1.0, 1.0 / q)))
        accept = rng.random(len(todo)) * bias_max < bias
        nxt[todo[accept]] = cand[accept]
        todo = todo[~accept]
    return nxt


def random_walks(adj: sp.csr_matrix, walks_per_node: int, length: int, p: float, q: float,
                 seed: int) -> list[list[str]]:
    """``walks_per_node`` node2vec walks of up to ``length`` nodes from every node (p: return, q: in-out), as
    token lists for Word2Vec. A walk stops early at a node without neighbours. All walkers advance together."""
    rng = np.random.default_rng(seed)
    adj = sp.csr_matrix(adj, dtype=np.float64)
    adj.sort_indices()
    rows = np.repeat(np.arange(adj.shape[0], dtype=np.int64), np.diff(adj.indptr))
    keys = rows * adj.shape[0] + adj.indices  # sorted: row-major with sorted columns
    cumulative = np.cumsum(adj.data, dtype=np.float64)
    degree = np.diff(adj.indptr)
    walks: list[list[str]] = []
    for _ in range(walks_per_node):
        starts = rng.permutation(adj.shape[0])
        steps = np.full((len(starts), length), -1, dtype=np.int64)
        steps[:, 0] = starts
        alive = np.flatnonzero(degree[starts] > 0)
        prev = np.full(len(starts), -1, dtype=np.int64)
        for t in range(1, length):
            if not len(alive):
                break
            steps[alive, t] = _second_order_step(adj, cumulative, keys, steps[alive, t - 1], prev[alive], p, q, rng)
            prev[alive] = steps[alive, t - 1]
            alive = alive[degree[steps[alive, t]] > 0]
        walks.extend([str(v) for v in row[row >= 0]] for row in steps)
    return walks


def random_walk_embeddings(graph: Hypergraph, edges: Sequence[np.ndarray] | None = None, dim: int = 64,
                           walks_per_node: int = 10, length: int = 40, window: int = 10, p: float = 2.0,
                           q: float = 0.25, epochs: int = 1, seed: int = 0) -> np.ndarray:
    """(n_nodes, dim) float32 standardised skip-gram embeddings of node2vec walks (defaults: the reference's)."""
    from gensim.models import Word2Vec  # only the walk features need gensim

    adj = clique_adjacency(graph, edges)
    walks = random_walks(adj, walks_per_node, length, p, q, seed)
    model = Word2Vec(walks, vector_size=dim, window=window, min_count=0, sg=1, epochs=epochs, workers=1, seed=seed)
    vectors = np.stack([model.wv[str(i)] for i in range(graph.n_nodes)])
    return StandardScaler().fit_transform(vectors).astype(np.float32)
