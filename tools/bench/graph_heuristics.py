"""Co-occurrence heuristics + gradient boosting: the structural baseline of tools/bench/hypergraph.py.

What a practitioner tries before any embedding: describe a candidate set by how its members co-occur in the training
hyperedges and let a gradient-boosted classifier weigh the signs. For every pair of members (the clique expansion of
the training hypergraph): how many training hyperedges hold both, how many neighbours they share (common neighbours),
the Adamic-Adar sum over those neighbours (rare shared neighbours count more), and the Jaccard overlap of their
neighbour sets; for every member: its hyperedge count and its number of distinct neighbours (log1p of counts). On a
fixed-arity graph (GPS, MovieLens, drug: one node type per column) the features stay per column and per column pair,
so the classifier can tell a (user, tag) pair from a (movie, tag) pair; sets of varied size get the min / mean / max
of each over members and pairs, plus the size.

Protocol (no test edge is seen): 10 % of the distinct training hyperedges are held out as positives with the same kind
of negatives as the test (5 each, one member swapped within its type 90 % of the time, never a known hyperedge); their
features come from the other 90 % of the training rows; scikit-learn's ``HistGradientBoostingClassifier`` is fitted on
them. The test sets are then described by the whole training hypergraph and scored.

Stacked with ours (``extra``): the logit of our model's score becomes one more feature. The classifier is then fitted
on our model's own validation split (``held``: hyperedges ours never trained on, though it chose its epoch on them),
described by ours's training rows, so neither part has seen the sets it is fitted on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from sklearn.ensemble import HistGradientBoostingClassifier

from tessera.graph.features import clique_adjacency
from tessera.graph.hypergraph import EdgeKey, Hypergraph
from tessera.graph.negatives import NegativeSampler
from tessera.graph.training import score_metrics

Scorer = Callable[[Sequence[np.ndarray]], np.ndarray]  # sets -> probabilities (m,)
HOLDOUT = 0.1  # share of the distinct training hyperedges the classifier is fitted on
CHUNK = 20_000  # pairs per sparse row product (bounds memory on drug's hub nodes)


@dataclass(frozen=True)
class CooccurrenceIndex:
    """Clique expansion of a hypergraph: ``counts[a, b]`` = hyperedges holding both a and b (CSR, symmetric, zero
    diagonal); ``neighbours`` its 0/1 pattern; ``degree`` = hyperedges per node; ``spread`` = distinct neighbours."""

    counts: sparse.csr_matrix
    neighbours: sparse.csr_matrix
    degree: np.ndarray
    spread: np.ndarray

    @classmethod
    def of(cls, graph: Hypergraph) -> CooccurrenceIndex:
        counts = clique_adjacency(graph).astype(np.float64)  # the service's own clique expansion
        neighbours = counts.copy()
        neighbours.data[:] = 1.0
        degree = np.bincount(np.concatenate(graph.edges), minlength=graph.n_nodes).astype(np.float64)
        return cls(counts, neighbours, degree, np.asarray(neighbours.sum(1)).ravel())

    def pair_features(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """(m, 4) for node pairs (a[i], b[i]): log1p co-occurrences, log1p common neighbours, Adamic-Adar, Jaccard."""
        # Adamic-Adar weight 1 / log(distinct neighbours); a shared neighbour has at least two, so the floor of 2
        # only keeps the unused entries finite
        weight = 1.0 / np.log(np.maximum(self.spread, 2.0))
        out = np.empty((len(a), 4))
        for start in range(0, len(a), CHUNK):
            sl = slice(start, start + CHUNK)
            shared = self.neighbours[a[sl]].multiply(self.neighbours[b[sl]]).tocsr()
            common = np.asarray(shared.sum(1)).ravel()
            union = self.spread[a[sl]] + self.spread[b[sl]] - common
            out[sl, 0] = np.log1p(np.asarray(self.counts[a[sl], b[sl]]).ravel())
            out[sl, 1] = np.log1p(common)
            out[sl, 2] = shared @ weight
            out[sl, 3] = np.divide(common, union, out=np.zeros_like(common), where=union > 0)
        return out

    def node_features(self, nodes: np.ndarray) -> np.ndarray:
        """(m, 2): log1p hyperedge count and log1p distinct neighbours of each node."""
        return np.stack([np.log1p(self.degree[nodes]), np.log1p(self.spread[nodes])], axis=1)


def set_features(index: CooccurrenceIndex, sets: Sequence[np.ndarray], per_column: bool) -> np.ndarray:
    """Feature rows of candidate sets (sorted global ids). ``per_column``: all sets share one size k and the columns
    keep their order (k node blocks, k(k-1)/2 pair blocks); otherwise min/mean/max over members and pairs."""
    if per_column:
        members = np.stack(sets)
        k = members.shape[1]
        blocks = [index.node_features(members[:, i]) for i in range(k)]
        blocks += [index.pair_features(members[:, i], members[:, j]) for i in range(k) for j in range(i + 1, k)]
        return np.concatenate(blocks, axis=1)
    sizes = np.array([len(s) for s in sets])
    owner = np.repeat(np.arange(len(sets)), sizes)
    nodes = index.node_features(np.concatenate(sets))
    pa, pb, pair_owner = [], [], []
    for i, s in enumerate(sets):
        x, y = np.triu_indices(len(s), 1)
        pa.append(s[x])
        pb.append(s[y])
        pair_owner.append(np.full(len(x), i))
    pairs = index.pair_features(np.concatenate(pa), np.concatenate(pb))
    return np.concatenate([sizes[:, None], _pool(nodes, owner, len(sets)),
                           _pool(pairs, np.concatenate(pair_owner), len(sets))], axis=1)


def _pool(values: np.ndarray, owner: np.ndarray, n: int) -> np.ndarray:
    """Per-owner min, mean and max of ``values`` (m, f) -> (n, 3f)."""
    lo = np.full((n, values.shape[1]), np.inf)
    hi = np.full((n, values.shape[1]), -np.inf)
    np.minimum.at(lo, owner, values)
    np.maximum.at(hi, owner, values)
    mean = np.zeros((n, values.shape[1]))
    np.add.at(mean, owner, values)
    mean /= np.bincount(owner, minlength=n)[:, None]
    return np.concatenate([lo, mean, hi], axis=1)


@dataclass(frozen=True)
class HeuristicModel:
    """A fitted classifier and how to describe sets for it."""

    classifier: HistGradientBoostingClassifier
    index: CooccurrenceIndex
    per_column: bool
    extra: Scorer | None = None

    def features(self, sets: Sequence[np.ndarray], index: CooccurrenceIndex | None = None) -> np.ndarray:
        x = set_features(index or self.index, sets, self.per_column)
        if self.extra is None:
            return x
        p = np.clip(self.extra(sets), 1e-6, 1 - 1e-6)
        return np.concatenate([x, np.log(p / (1 - p))[:, None]], axis=1)

    def scores(self, sets: Sequence[np.ndarray]) -> np.ndarray:
        """Probability that each set is a hyperedge, (m,)."""
        return self.classifier.predict_proba(self.features(sets))[:, 1]


def fit_heuristic(graph: Hypergraph, known: set[EdgeKey], seed: int, held: Hypergraph | None = None,
                  extra: Scorer | None = None, index: CooccurrenceIndex | None = None) -> HeuristicModel:
    """Fit on ``held`` (default: ``HOLDOUT`` of ``graph``'s distinct hyperedges) described by the rest of ``graph``;
    score later sets against all of ``graph``. ``known``: keys never drawn as negatives (the training and test keys,
    as for ours). ``extra``: a model whose score is one more feature (it must not have trained on ``held``).
    ``index``: ``CooccurrenceIndex.of(graph)`` when the caller already has it (it is the same for every seed)."""
    if held is None:
        _, held = graph.deduplicated().split(HOLDOUT, seed)
    held_keys = held.keys()
    rest = graph.with_edges([e for e in graph.edges if tuple(int(v) for v in e) not in held_keys])
    negatives = NegativeSampler(rest, known | graph.keys()).sample(held.edges, np.random.default_rng(seed))
    sets = list(held.edges) + negatives
    per_column = graph.column_types is not None
    labels = np.r_[np.ones(len(held.edges)), np.zeros(len(negatives))]
    model = HeuristicModel(HistGradientBoostingClassifier(max_iter=300, random_state=seed),
                           index or CooccurrenceIndex.of(graph), per_column, extra)
    model.classifier.fit(model.features(sets, CooccurrenceIndex.of(rest)), labels)
    return model


def heuristic_metrics(graph: Hypergraph, positives: Sequence[np.ndarray], negatives: Sequence[np.ndarray],
                      known: set[EdgeKey], seed: int, held: Hypergraph | None = None, extra: Scorer | None = None,
                      index: CooccurrenceIndex | None = None) -> dict[str, float]:
    """Fit (:func:`fit_heuristic`) on ``graph`` and score held-out ``positives`` against ``negatives``: the service's
    :func:`~tessera.graph.training.score_metrics` (``auc``, ``aupr``, ``rare_share``, ``auc_rare`` / ``auc_other``)."""
    model = fit_heuristic(graph, known, seed, held, extra, index)
    scores = model.scores(list(positives) + list(negatives))
    return score_metrics(graph, positives, scores[:len(positives)], scores[len(positives):])
