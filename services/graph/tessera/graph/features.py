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


def _walk(adj: sp.csr_matrix, start: int, length: int, p: float, q: float, rng: np.random.Generator) -> list[int]:
    """One node2vec walk from ``start``: next-step weights are w/p back to the previous node, w to its
    neighbours, w/q further away."""
    walk = [start]
    prev = -1
    cur = start
    for _ in range(length - 1):
        lo, hi = adj.indptr[cur], adj.indptr[cur + 1]
        if lo == hi:
            break
        nbrs, weights = adj.indices[lo:hi], adj.data[lo:hi].astype(np.float64)
        if prev >= 0:
            prev_nbrs = adj.indices[adj.indptr[prev]: adj.indptr[prev + 1]]
            bias = np.where(np.isin(nbrs, prev_nbrs, assume_unique=True), 1.0, 1.0 / q)
            bias[nbrs == prev] = 1.0 / p
            weights = weights * bias
        nxt = int(nbrs[np.searchsorted(np.cumsum(weights), rng.random() * weights.sum(), side="right")
                       .clip(max=len(nbrs) - 1)])
        prev, cur = cur, nxt
        walk.append(cur)
    return walk


def random_walks(adj: sp.csr_matrix, walks_per_node: int, length: int, p: float, q: float,
                 seed: int) -> list[list[str]]:
    """``walks_per_node`` walks of up to ``length`` nodes from every node, as token lists for Word2Vec."""
    rng = np.random.default_rng(seed)
    walks = []
    for _ in range(walks_per_node):
        for start in rng.permutation(adj.shape[0]):
            walks.append([str(v) for v in _walk(adj, int(start), length, p, q, rng)])
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
