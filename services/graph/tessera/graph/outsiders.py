"""Outsider identification: which member of a set does not belong with the others.

The network's per-node probabilities say how well each member fits the rest of its set; the outsider
is the member with the lowest one (the reference ranks ``1 - p``). Evaluated as in the paper: true
hyperedges plus one random foreign node, top-k accuracy of finding the foreign node.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from tessera.graph.batching import pad_sets
from tessera.graph.hypergraph import Hypergraph
from tessera.graph.hypersagnn import HyperSAGNN
from tessera.graph.negatives import add_outsiders


@torch.no_grad()
def node_scores(model: HyperSAGNN, sets: Sequence[np.ndarray], batch_size: int = 1024) -> list[np.ndarray]:
    """Per-member probability of each set (global ids), one array per set, in eval mode."""
    was = model.training
    model.eval()
    device = model.device
    out: list[np.ndarray] = []
    for start in range(0, len(sets), batch_size):
        chunk = sets[start: start + batch_size]
        ids, _ = pad_sets(chunk)
        _, node, _ = model(torch.from_numpy(ids).to(device))
        node = node.cpu()
        out.extend(node[i, : len(s)].numpy() for i, s in enumerate(chunk))
    model.train(was)
    return out


def predicted_outsiders(scores: Sequence[np.ndarray]) -> np.ndarray:
    """Index of the lowest-scoring member of each set."""
    return np.array([int(np.argmin(s)) for s in scores], dtype=np.int64)


@dataclass(frozen=True)
class OutsiderResult:
    top1: float
    top2: float
    chance_top1: float
    n_sets: int


def outsider_accuracy(model: HyperSAGNN, graph: Hypergraph, edges: Sequence[np.ndarray],
                      seed: int = 0) -> OutsiderResult:
    """Top-1/top-2 accuracy of finding a random foreign node added to each of ``edges`` (all of one size)."""
    rng = np.random.default_rng(seed)
    sets, outsider = add_outsiders(np.stack(edges), graph, rng)
    scores = np.stack(node_scores(model, list(sets)))
    rank = np.argsort(scores, axis=1)
    top1 = float(np.mean(rank[:, 0] == outsider))
    top2 = float(np.mean(np.any(rank[:, :2] == outsider[:, None], axis=1)))
    return OutsiderResult(top1, top2, 1.0 / sets.shape[1], len(sets))
