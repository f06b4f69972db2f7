"""Baselines of tools/bench/hypergraph.py, on the same splits and test negatives as our Hyper-SAGNN.

- :func:`baseline`: node2vec-style random-walk embeddings of the training clique expansion, a set represented by the
  mean and the elementwise min of its members' vectors, logistic regression against sampled negatives.
- :func:`hgnnp_baseline`: DHG's HGNN+ (``dhg.nn.HGNNPConv``; ``dhg`` is optional, see :func:`dhg_available`) with an
  MLP over the members, the epoch kept chosen on a validation split.

Both return (test AUC, test AUPR) over the test hyperedges (positives) and the given negatives.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, roc_auc_score

from tessera.graph.features import random_walk_embeddings
from tessera.graph.hypergraph import Hypergraph
from tessera.graph.negatives import NegativeSampler


def baseline(train_g: Hypergraph, test: Hypergraph, negatives: list[np.ndarray], seed: int,
             quick: bool) -> tuple[float, float]:
    """node2vec-style embeddings + logistic regression on [mean, min] of the set's members."""
    vec = random_walk_embeddings(train_g, dim=32 if quick else 64, walks_per_node=2 if quick else 10,
                                 length=20 if quick else 40, window=5 if quick else 10, seed=seed)

    def feats(sets: list[np.ndarray]) -> np.ndarray:
        return np.stack([np.r_[vec[s].mean(0), vec[s].min(0)] for s in sets])

    sampler = NegativeSampler(train_g, train_g.keys() | test.keys())
    pos = list(train_g.edges)
    neg = sampler.sample(pos, np.random.default_rng(seed))
    clf = LogisticRegression(max_iter=500).fit(feats(pos + neg), np.r_[np.ones(len(pos)), np.zeros(len(neg))])
    scores = clf.predict_proba(feats(list(test.edges) + negatives))[:, 1]
    labels = np.r_[np.ones(len(test.edges)), np.zeros(len(negatives))]
    return float(roc_auc_score(labels, scores)), float(average_precision_score(labels, scores))


def hgnnp_baseline(train_g: Hypergraph, test: Hypergraph, negatives: list[np.ndarray], seed: int,
                   epochs: int) -> tuple[float, float]:
    """DHG's HGNN+ (``dhg.nn.HGNNPConv``, two layers over the training hypergraph, learnable 64-d node inputs), a set
    scored by an MLP on the [mean, max] of its members' outputs; weighted BCE over the same kind of negatives (5 per
    positive, fresh each epoch), Adam 1e-3, ``epochs`` epochs, the one kept chosen on the same 10 % validation split
    as ours; (test AUC, test AUPR).
    """
    import dhg  # optional: only this baseline needs it
    from dhg.nn import HGNNPConv

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    graph = train_g.deduplicated()
    fit, val = graph.split(0.1, seed)
    sampler = NegativeSampler(graph, graph.keys() | test.keys())
    val_neg = sampler.sample(val.edges, np.random.default_rng(seed + 1))
    hg = dhg.Hypergraph(graph.n_nodes, [tuple(int(v) for v in e) for e in fit.edges])
    d = 64

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inputs = torch.nn.Embedding(graph.n_nodes, d)
            self.conv1, self.conv2 = HGNNPConv(d, d, drop_rate=0.3), HGNNPConv(d, d, is_last=True)
            self.head = torch.nn.Sequential(torch.nn.Linear(2 * d, d), torch.nn.ReLU(), torch.nn.Linear(d, 1))

        def forward(self, sets: torch.Tensor) -> torch.Tensor:  # (B, k) global ids -> (B,) logits
            x = self.conv2(self.conv1(self.inputs.weight, hg), hg)[sets]
            return self.head(torch.cat([x.mean(1), x.amax(1)], -1)).squeeze(-1)

    net = Net()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)

    @torch.no_grad()
    def scores(sets: list[np.ndarray]) -> np.ndarray:
        net.eval()
        return torch.sigmoid(net(torch.from_numpy(np.stack(sets)))).numpy()

    def metrics(pos: list[np.ndarray], neg: list[np.ndarray]) -> tuple[float, float]:
        s, y = scores(pos + neg), np.r_[np.ones(len(pos)), np.zeros(len(neg))]
        return float(roc_auc_score(y, s)), float(average_precision_score(y, s))

    best: tuple[float, dict[str, torch.Tensor]] | None = None
    for _ in range(epochs):
        pos, neg = list(fit.edges), sampler.sample(fit.edges, rng)
        sets = torch.from_numpy(np.stack(pos + neg))
        labels = torch.from_numpy(np.r_[np.ones(len(pos)), np.zeros(len(neg))].astype(np.float32))
        weights = torch.from_numpy(np.r_[np.full(len(pos), 5.0), np.ones(len(neg))].astype(np.float32))
        net.train()
        # at least ~30 steps an epoch (GPS: 7k sets), at most 4,096 sets a step (drug: 820k sets)
        for idx in torch.randperm(len(sets)).split(min(4096, max(128, len(sets) // 30))):
            loss = torch.nn.functional.binary_cross_entropy_with_logits(net(sets[idx]), labels[idx],
                                                                        weight=weights[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        val_auc = metrics(list(val.edges), val_neg)[0]
        if best is None or val_auc > best[0]:
            best = (val_auc, copy.deepcopy(net.state_dict()))
    assert best is not None
    net.load_state_dict(best[1])
    return metrics(list(test.edges), negatives)


def dhg_available() -> bool:
    """Whether the optional ``dhg`` package (HGNN+) is importable."""
    try:
        import dhg  # noqa: F401
    except ImportError:
        return False
    return True

