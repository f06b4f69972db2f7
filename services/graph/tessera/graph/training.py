"""Training of Hyper-SAGNN: weighted BCE over positives and sampled negatives, Adam, early stopping.

As the reference: ``negatives`` (5) negatives per positive, positives weighted by that number, 90 %
same-type swaps; loss = BCE + ``recon_weight`` (0.01) x autoencoder reconstruction error; a hyperedge
listed several times is trained on (and counted in the features) that many times. A validation split
(``validation_fraction`` of the distinct training hyperedges, with fixed negatives) selects the epoch;
features are built from the remaining edges only. Test edges are never touched here.
"""

from __future__ import annotations

import copy
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from sklearn.metrics import average_precision_score, roc_auc_score
from torch.nn import functional as F

from tessera.core.errors import InvalidArgument
from tessera.graph.batching import pad_sets, size_batches
from tessera.graph.features import cooccurrence_rows, random_walk_embeddings
from tessera.graph.hypergraph import EdgeKey, Hypergraph
from tessera.graph.hypersagnn import AutoencoderFeatures, HyperSAGNN, NetworkConfig, TableFeatures, TableScorer
from tessera.graph.negatives import NegativeSampler, add_outsiders

FEATURES = ("autoencoder", "walk")
DUPLICATES = ("repeat", "once")
OPTIMIZERS = ("auto", "adam", "rmsprop")


@dataclass(frozen=True)
class TrainConfig:
    """Training settings (defaults from the reference ``main_torch.py`` where it has them)."""

    features: str = "autoencoder"
    network: NetworkConfig = field(default_factory=NetworkConfig)
    negatives: int = 5
    same_type_ratio: float = 0.9
    batch_size: int = 96
    learning_rate: float = 1e-3
    # "auto": Adam for autoencoder features, RMSprop for walk features, as the reference's main_torch.py
    optimizer: str = "auto"
    recon_weight: float = 0.01
    max_epochs: int = 30
    patience: int = 5
    validation_fraction: float = 0.1
    outsider_negatives: bool = False  # also train on (hyperedge + one foreign node) sets as negatives
    # "repeat": a hyperedge listed k times is k positives per epoch and counts k times in the co-occurrence features,
    # as the reference trains on its rows (drug lists 61,713 distinct triples 137,404 times); "once": deduplicated.
    # The validation split is over distinct hyperedges either way, so no validation edge is ever trained on.
    duplicates: str = "repeat"
    walk_length: int = 40
    walks_per_node: int = 10
    walk_window: int = 10
    walk_p: float = 2.0
    walk_q: float = 0.25
    max_batches_per_epoch: int = 0  # 0: all; > 0 caps an epoch (reduced-scale runs)
    max_seconds: float = 0.0  # 0: no limit; > 0: no new epoch starts once training has run this long
    device: str = "cpu"  # torch device of training ("cuda", "cuda:1"); the returned model is on the CPU
    seed: int = 0

    def validate(self) -> None:
        if self.features not in FEATURES:
            raise InvalidArgument.field("features", f"{self.features!r} is not one of {FEATURES}")
        if self.negatives < 1 or self.batch_size < 1 or self.max_epochs < 1:
            raise InvalidArgument.field("negatives", "negatives, batch_size and max_epochs must be >= 1")
        if self.optimizer not in OPTIMIZERS:
            raise InvalidArgument.field("optimizer", f"{self.optimizer!r} is not one of {OPTIMIZERS}")
        if self.duplicates not in DUPLICATES:
            raise InvalidArgument.field("duplicates", f"{self.duplicates!r} is not one of {DUPLICATES}")
        if not 0.0 <= self.same_type_ratio <= 1.0:
            raise InvalidArgument.field("same_type_ratio", "must lie in [0, 1]")
        if self.max_seconds < 0:
            raise InvalidArgument.field("max_seconds", f"{self.max_seconds} is negative (0 means no limit)")
        try:
            device = torch.device(self.device)
        except RuntimeError as exc:
            raise InvalidArgument.field("device", f"{self.device!r} is not a torch device: {exc}") from exc
        if device.type == "cuda" and not torch.cuda.is_available():
            raise InvalidArgument.field("device", f"{self.device!r} asked for, but this machine has no CUDA device")
        if device.type not in ("cpu", "cuda"):
            raise InvalidArgument.field("device", f"{self.device!r}: only cpu and cuda are supported")

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class EpochReport:
    epoch: int
    loss: float
    val_auc: float
    val_aupr: float
    seconds: float


@dataclass
class TrainResult:
    model: HyperSAGNN
    history: list[EpochReport]
    best_epoch: int
    val_auc: float
    val_aupr: float
    known: set[EdgeKey]


Progress = Callable[[EpochReport], None]


def build_model(graph: Hypergraph, edges: Sequence[np.ndarray], config: TrainConfig) -> HyperSAGNN:
    """A fresh network whose features come from ``edges`` (the training hyperedges)."""
    d = config.network.dim
    features: AutoencoderFeatures | TableFeatures
    if config.features == "autoencoder":
        features = AutoencoderFeatures(cooccurrence_rows(graph, edges), d, config.network.dropout_features)
    else:
        vectors = random_walk_embeddings(graph, edges, d, config.walks_per_node, config.walk_length,
                                         config.walk_window, config.walk_p, config.walk_q, seed=config.seed)
        features = TableFeatures(vectors)
    model = HyperSAGNN(features, config.network)
    if torch.device(config.device).type != "cpu" and isinstance(features, AutoencoderFeatures):
        features.densify()  # row gathers on the device instead of scipy densification on the host per batch
    return model.to(config.device)


def make_optimizer(model: HyperSAGNN, config: TrainConfig) -> torch.optim.Optimizer:
    """Adam or RMSprop over every parameter (walk embeddings included: they are fine-tuned, as the reference's)."""
    name = config.optimizer
    if name == "auto":
        name = "adam" if config.features == "autoencoder" else "rmsprop"
    if name == "adam":
        return torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    return torch.optim.RMSprop(model.parameters(), lr=config.learning_rate)


@torch.no_grad()
def predict(model: HyperSAGNN, sets: Sequence[np.ndarray], batch_size: int = 1024) -> np.ndarray:
    """Probability (n,) that each set (global ids) is a hyperedge, in eval mode."""
    was = model.training
    model.eval()
    scorer = TableScorer(model)  # eval-mode features once per node, not once per member of every set
    device = model.device
    out = np.empty(len(sets), dtype=np.float32)
    sizes = np.array([len(s) for s in sets])
    for idx in size_batches(sizes, batch_size):
        ids, mask = pad_sets([sets[i] for i in idx])
        score = scorer(torch.from_numpy(ids).to(device), torch.from_numpy(mask).to(device))[0]
        out[idx] = score.cpu().numpy()
    model.train(was)
    return out


def auc_aupr(model: HyperSAGNN, positives: Sequence[np.ndarray],
             negatives: Sequence[np.ndarray]) -> tuple[float, float]:
    """(ROC AUC, average precision) of positives vs negatives."""
    scores = predict(model, list(positives) + list(negatives))
    return score_auc_aupr(scores[:len(positives)], scores[len(positives):])


def score_auc_aupr(positive_scores: np.ndarray, negative_scores: np.ndarray) -> tuple[float, float]:
    """(ROC AUC, average precision) of scores already computed for positives (P,) and negatives (N,)."""
    scores = np.r_[positive_scores, negative_scores]
    labels = np.r_[np.ones(len(positive_scores)), np.zeros(len(negative_scores))]
    return float(roc_auc_score(labels, scores)), float(average_precision_score(labels, scores))


RARE_DEGREE = 2  # a member in at most this many training hyperedges makes a held-out hyperedge "rare"


def rare_members(graph: Hypergraph, sets: Sequence[np.ndarray], rare_degree: int = RARE_DEGREE) -> np.ndarray:
    """(n,) bool: whether each set has a member in at most ``rare_degree`` of ``graph``'s hyperedges."""
    degree = np.bincount(np.concatenate(graph.edges), minlength=graph.n_nodes)
    return np.array([degree[edge].min() <= rare_degree for edge in sets], dtype=bool)


def auc_by_rarest_member(graph: Hypergraph, positives: Sequence[np.ndarray], positive_scores: np.ndarray,
                         negative_scores: np.ndarray, rare_degree: int = RARE_DEGREE) -> dict[str, tuple[int, float]]:
    """AUC of held-out positives split by their rarest member's degree in ``graph``, each part against all negatives.

    A positive is "rare" when one of its members lies in at most ``rare_degree`` of ``graph``'s hyperedges. The
    AUC is the mean over positives of the share of negatives scored below them (ties half), so the overall AUC is
    the positives-weighted mean of the parts. Returns {"rare": (positives, AUC), "other": (positives, AUC)}; the
    AUC of an empty part is NaN.
    """
    below = np.sort(negative_scores)
    beaten = (np.searchsorted(below, positive_scores, "left")
              + np.searchsorted(below, positive_scores, "right")) / (2 * len(below))
    rare = rare_members(graph, positives, rare_degree)
    return {part: (int(mask.sum()), float(beaten[mask].mean()) if mask.any() else float("nan"))
            for part, mask in (("rare", rare), ("other", ~rare))}


def held_out_metrics(model: HyperSAGNN, graph: Hypergraph, positives: Sequence[np.ndarray],
                     negatives: Sequence[np.ndarray]) -> dict[str, float]:
    """:func:`score_metrics` of a model trained on ``graph``; the sets are scored in one pass."""
    scores = predict(model, list(positives) + list(negatives))
    return score_metrics(graph, positives, scores[:len(positives)], scores[len(positives):])


def score_metrics(graph: Hypergraph, positives: Sequence[np.ndarray], positive_scores: np.ndarray,
                  negative_scores: np.ndarray) -> dict[str, float]:
    """Held-out figures of scores from any model trained on ``graph``: ``auc``, ``aupr``, ``rare_share`` and, for
    each non-empty part of :func:`auc_by_rarest_member`, ``auc_rare`` / ``auc_other``."""
    auc, aupr = score_auc_aupr(positive_scores, negative_scores)
    parts = auc_by_rarest_member(graph, positives, positive_scores, negative_scores)
    metrics = {"auc": auc, "aupr": aupr, "rare_share": parts["rare"][0] / len(positives)}
    metrics.update({f"auc_{part}": part_auc for part, (count, part_auc) in parts.items() if count})
    return metrics


def _epoch_sets(edges: Sequence[np.ndarray], sampler: NegativeSampler, config: TrainConfig, graph: Hypergraph,
                rng: np.random.Generator) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """(sets, labels, weights) of one epoch: positives (weight = negatives per positive) and fresh negatives."""
    negatives = sampler.sample(edges, rng)
    sets = list(edges) + negatives
    labels = np.r_[np.ones(len(edges)), np.zeros(len(negatives))]
    weights = np.r_[np.full(len(edges), float(config.negatives)), np.ones(len(negatives))]
    if config.outsider_negatives:
        for size in np.unique([len(e) for e in edges]):
            group = np.stack([e for e in edges if len(e) == size])
            extra, _ = add_outsiders(group, graph, rng)
            extra = np.sort(extra, axis=1)
            sets.extend(extra)
            labels = np.r_[labels, np.zeros(len(extra))]
            weights = np.r_[weights, np.ones(len(extra))]
    return sets, labels.astype(np.float32), weights.astype(np.float32)


def split_edges(graph: Hypergraph, config: TrainConfig) -> tuple[Hypergraph, list[np.ndarray], Hypergraph]:
    """(distinct hyperedges, training rows, validation hyperedges) of ``graph``.

    The validation part is ``validation_fraction`` of the *distinct* hyperedges; the training rows are the others,
    each as often as ``graph`` lists it with ``duplicates="repeat"``, once with ``"once"``.
    """
    listed = Counter(tuple(int(v) for v in e) for e in graph.edges)
    distinct = graph.deduplicated()
    if len(distinct.edges) < 2:
        raise InvalidArgument.field("data", f"{len(distinct.edges)} distinct hyperedge(s): training needs at least 2")
    fit, val = distinct.split(config.validation_fraction, config.seed)
    if config.duplicates == "once":
        return distinct, list(fit.edges), val
    return distinct, [e for e in fit.edges for _ in range(listed[tuple(int(v) for v in e)])], val


def train(graph: Hypergraph, config: TrainConfig | None = None, progress: Progress | None = None,
          extra_known: set[EdgeKey] | None = None) -> TrainResult:
    """Train on ``graph``'s hyperedges with a validation split; the best validation-AUC epoch is returned.

    ``extra_known``: keys that must never be drawn as negatives besides the graph's own (e.g. test edges
    when the caller holds them, as the reference does).
    """
    config = config or TrainConfig()
    config.validate()
    graph, fit_edges, val = split_edges(graph, config)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    known = graph.keys() | (extra_known or set())
    sampler = NegativeSampler(graph, known, config.negatives, config.same_type_ratio)
    val_neg = sampler.sample(val.edges, np.random.default_rng(config.seed + 1))
    model = build_model(graph, fit_edges, config)
    optimizer = make_optimizer(model, config)
    history: list[EpochReport] = []
    best: tuple[float, float, int, dict[str, torch.Tensor]] | None = None
    device = torch.device(config.device)
    began = time.perf_counter()
    for epoch in range(1, config.max_epochs + 1):
        start = time.perf_counter()
        if config.max_seconds and epoch > 1 and start - began >= config.max_seconds:
            break
        edges: Sequence[np.ndarray] = fit_edges
        if config.max_batches_per_epoch:  # reduced scale: draw only the positives the capped epoch will see
            n = min(len(edges), config.max_batches_per_epoch * config.batch_size)
            edges = [edges[i] for i in rng.choice(len(edges), n, replace=False)]
        sets, labels, weights = _epoch_sets(edges, sampler, config, graph, rng)
        sizes = np.array([len(s) for s in sets])
        total, batches = 0.0, 0
        model.train()
        for idx in size_batches(sizes, config.batch_size * (1 + config.negatives), rng):
            ids, _ = pad_sets([sets[i] for i in idx])
            score, _, recon = model(torch.from_numpy(ids).to(device))
            bce = F.binary_cross_entropy(score, torch.from_numpy(labels[idx]).to(device),
                                         weight=torch.from_numpy(weights[idx]).to(device))
            loss = bce + config.recon_weight * recon
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(bce.detach())
            batches += 1
            if config.max_batches_per_epoch and batches >= config.max_batches_per_epoch:
                break
        auc, aupr = auc_aupr(model, val.edges, val_neg)
        report = EpochReport(epoch, total / max(batches, 1), auc, aupr, time.perf_counter() - start)
        history.append(report)
        if progress is not None:
            progress(report)
        if best is None or auc > best[0]:
            best = (auc, aupr, epoch, copy.deepcopy(model.state_dict()))
        elif epoch - best[2] >= config.patience:
            break
    assert best is not None
    model.load_state_dict(best[3])
    model.cpu().eval()
    return TrainResult(model, history, best[2], best[0], best[1], known)
