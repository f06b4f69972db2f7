"""Hyper-SAGNN on planted hypergraphs: held-out AUC, outsiders, masking, ONNX export."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tessera.core.errors import InvalidArgument
from tessera.graph.batching import pad_sets
from tessera.graph.export import check_export, export_scorer
from tessera.graph.hypergraph import Hypergraph
from tessera.graph.hypersagnn import NetworkConfig
from tessera.graph.negatives import NegativeSampler
from tessera.graph.outsiders import outsider_accuracy
from tessera.graph.training import (
    TrainConfig,
    auc_aupr,
    auc_by_rarest_member,
    build_model,
    make_optimizer,
    score_auc_aupr,
    train,
)
from tests.unit.graph.synthetic import planted_typed, planted_variable

SMALL = NetworkConfig(dim=16, heads=2, head_dim=8)


@pytest.fixture(scope="module")
def typed_model():
    graph = planted_typed()
    fit, test = graph.split(0.2, seed=3)
    result = train(fit, TrainConfig(network=SMALL, max_epochs=12, patience=4), extra_known=test.keys())
    return graph, fit, test, result


def test_heldout_auc_well_above_chance(typed_model):
    graph, _, test, result = typed_model
    neg = NegativeSampler(graph, graph.keys()).sample(test.edges, np.random.default_rng(9))
    auc, aupr = auc_aupr(result.model, test.edges, neg)
    assert auc > 0.8, auc
    assert aupr > 1 / 6 + 0.3
    assert result.history and 1 <= result.best_epoch <= len(result.history)
    assert result.val_auc == max(r.val_auc for r in result.history)


def test_score_auc_aupr_ranks_positives_against_negatives():
    # 3 of the 4 (positive, negative) pairs are ordered right; precision 1 at 0.9, 2/3 at 0.4.
    auc, aupr = score_auc_aupr(np.array([0.9, 0.4]), np.array([0.5, 0.1]))
    assert auc == pytest.approx(0.75)
    assert aupr == pytest.approx((1.0 + 2 / 3) / 2)


def test_auc_by_rarest_member_splits_positives_by_degree():
    # Node 0 lies in three training edges, nodes 1-3 in one each, node 4 in none. Negatives sorted: 0.1, 0.5.
    graph = Hypergraph.from_edges([[0, 1], [0, 2], [0, 3]], node_counts=[5])
    positives = [np.array([0, 1]), np.array([0, 4])]  # node 4 is in no training edge
    parts = auc_by_rarest_member(graph, positives, np.array([0.9, 0.3]), np.array([0.5, 0.1]), rare_degree=0)
    assert parts == {"rare": (1, 0.5), "other": (1, 1.0)}
    parts = auc_by_rarest_member(graph, positives, np.array([0.9, 0.3]), np.array([0.5, 0.1]), rare_degree=1)
    assert parts == {"rare": (2, 0.75), "other": (0, pytest.approx(float("nan"), nan_ok=True))}


def test_outsider_found_above_chance(typed_model):
    graph, _, test, result = typed_model
    out = outsider_accuracy(result.model, graph, test.edges, seed=1)
    assert out.top1 > out.chance_top1 + 0.2, out


def test_variable_size_walk_features_learn():
    graph = planted_variable()
    fit, test = graph.split(0.2, seed=4)
    # Fixed walk vectors learn more slowly than the autoencoder: small batches and a larger step on tiny data.
    config = TrainConfig(features="walk", network=SMALL, max_epochs=8, batch_size=8, learning_rate=1e-2,
                         walks_per_node=4, walk_length=12, walk_window=4)
    result = train(fit, config, extra_known=test.keys())
    neg = NegativeSampler(graph, graph.keys()).sample(test.edges, np.random.default_rng(5))
    auc, _ = auc_aupr(result.model, test.edges, neg)
    assert auc > 0.7, auc


def test_padding_does_not_change_scores(typed_model):
    _, _, test, result = typed_model
    model = result.model.eval()
    ids, _ = pad_sets([test.edges[0]])
    wide, _ = pad_sets([test.edges[0], np.arange(5)])
    with torch.no_grad():
        alone = model(torch.from_numpy(ids))
        padded = model(torch.from_numpy(wide))
    assert torch.allclose(alone[0][0], padded[0][0], atol=1e-6)
    assert torch.allclose(alone[1][0], padded[1][0, :3], atol=1e-6)
    assert float(padded[1][0, 3:].abs().sum()) == 0.0


def test_onnx_matches_pytorch_on_mixed_sizes(typed_model):
    _, _, test, result = typed_model
    data = export_scorer(result.model)
    ids, mask = pad_sets([test.edges[0], test.edges[1][:2], np.array([0, 30, 50, 70, 5])])
    check = check_export(result.model, data, ids, mask)
    assert check.max_abs_score < 1e-5 and check.max_abs_nodes < 1e-5


def test_training_rejects_empty_and_duplicate_only_data():
    graph = planted_typed(n_edges=5)
    one = graph.with_edges([graph.edges[0]] * 4)
    with pytest.raises(InvalidArgument, match="distinct hyperedge"):
        train(one, TrainConfig(network=SMALL, max_epochs=1))
    with pytest.raises(InvalidArgument, match="features"):
        train(graph, TrainConfig(features="nope"))


def test_feature_dropout_acts_on_stored_entries_like_dense_dropout() -> None:
    import scipy.sparse as sp

    from tessera.graph.hypersagnn import AutoencoderFeatures

    rng = np.random.default_rng(0)
    dense = (rng.random((40, 300)) < 0.05) * rng.uniform(0.5, 2.0, (40, 300))
    dense = dense.astype(np.float32)
    features = AutoencoderFeatures([sp.csr_matrix(dense)], dim=8, dropout=0.5)
    seen: list[torch.Tensor] = []
    features.encoders[0].register_forward_pre_hook(lambda _m, args: seen.append(args[0].clone()))
    features.train()
    features(torch.arange(1, 41))
    x, row = seen[0], torch.from_numpy(dense).float()
    assert x.shape == row.shape
    assert not bool(((x != 0) & (row == 0)).any())  # zeros stay zero
    kept = x != 0
    assert torch.allclose(x[kept], 2.0 * row[kept].to(x.dtype))  # survivors scaled by 1 / (1 - p)
    share = float(kept.sum()) / float((row != 0).sum())
    assert 0.35 < share < 0.65  # about half of the stored entries dropped
    features.eval()
    seen.clear()
    features(torch.arange(1, 41))
    assert torch.allclose(seen[0], row.to(seen[0].dtype))  # no dropout at inference


def test_dense_feature_tables_give_the_sparse_path_features() -> None:
    """The GPU path (``densify``: row gathers from dense buffers) computes what the scipy path computes."""
    import scipy.sparse as sp

    from tessera.graph.hypersagnn import AutoencoderFeatures

    rng = np.random.default_rng(1)
    rows = [sp.csr_matrix(((rng.random((n, w)) < 0.1) * rng.random((n, w))).astype(np.float32))
            for n, w in ((12, 50), (20, 30))]
    features = AutoencoderFeatures(rows, dim=8).eval()
    ids = torch.tensor([[1, 13, 0], [5, 30, 32]])  # both types and padding
    sparse_out, sparse_recon = features(ids)
    assert features.densify()
    assert [tuple(getattr(features, n).shape) for n in features.dense_names] == [(12, 50), (20, 30)]
    assert "dense_rows_0" not in features.state_dict()  # derived from the rows, never saved with the model
    dense_out, dense_recon = features(ids)
    assert torch.allclose(sparse_out, dense_out, atol=1e-6)
    assert torch.allclose(sparse_recon, dense_recon, atol=1e-6)
    assert not AutoencoderFeatures(rows, dim=8).densify(max_bytes=100)  # too large: stays sparse


def test_time_box_stops_after_the_first_epoch_and_bad_settings_name_the_field() -> None:
    graph = planted_typed(n_edges=120)
    result = train(graph, TrainConfig(network=SMALL, max_epochs=50, patience=50, max_seconds=1e-9))
    assert len(result.history) == 1 and result.best_epoch == 1
    with pytest.raises(InvalidArgument, match="max_seconds"):
        TrainConfig(max_seconds=-1.0).validate()
    with pytest.raises(InvalidArgument, match="device"):
        TrainConfig(device="no-such-device").validate()
    if not torch.cuda.is_available():
        with pytest.raises(InvalidArgument, match="no CUDA device"):
            TrainConfig(device="cuda").validate()
    else:  # on a GPU machine: trains there and hands back a CPU model
        result = train(graph, TrainConfig(network=SMALL, max_epochs=2, device="cuda"))
        assert next(result.model.parameters()).device.type == "cpu"


def test_repeated_hyperedges_train_as_often_as_listed_and_never_leak_into_validation() -> None:
    from collections import Counter

    from tessera.graph.training import split_edges

    base = planted_typed(n_edges=60)
    listed = [*base.edges, *base.edges[:10], *base.edges[:10]]  # the first ten listed three times
    graph = base.with_edges(listed)
    distinct, rows, val = split_edges(graph, TrainConfig(validation_fraction=0.2, seed=4))
    assert len(distinct.edges) == 60 and len(val.edges) == 12
    counts = Counter(tuple(int(v) for v in e) for e in rows)
    first_ten = {tuple(int(v) for v in e) for e in base.edges[:10]}
    held = val.keys()
    assert not held & set(counts)  # a validation edge is never a training row, however often it is listed
    assert all(counts[k] == 3 for k in first_ten - held) and len(first_ten - held) > 0
    assert sum(counts.values()) == 48 + 2 * len(first_ten - held)
    _, once, _ = split_edges(graph, TrainConfig(validation_fraction=0.2, seed=4, duplicates="once"))
    assert len(once) == 48
    with pytest.raises(InvalidArgument, match="duplicates"):
        TrainConfig(duplicates="sometimes").validate()


def test_optimizer_follows_the_reference_per_feature_kind_unless_named() -> None:
    graph = planted_typed(n_per_type=8, n_edges=30)
    auto_walk = TrainConfig(features="walk", network=SMALL, walks_per_node=1, walk_length=4, walk_window=2)
    model = build_model(graph, graph.edges, auto_walk)
    assert isinstance(make_optimizer(model, auto_walk), torch.optim.RMSprop)  # main_torch.py: RMSprop for walks
    assert isinstance(make_optimizer(model, TrainConfig(features="walk", optimizer="adam")), torch.optim.Adam)
    ae = TrainConfig(network=SMALL)
    assert isinstance(make_optimizer(build_model(graph, graph.edges, ae), ae), torch.optim.Adam)
    with pytest.raises(InvalidArgument, match="optimizer"):
        TrainConfig(optimizer="sgd").validate()
