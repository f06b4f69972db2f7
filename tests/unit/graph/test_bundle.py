"""Model card round trip and request checks (ids, types, sizes, arity) with field names."""

from __future__ import annotations

import pytest

from tessera.core.errors import InvalidArgument
from tessera.graph.bundle import GraphModelCard, Member, SetEncoder, load_bundle, save_bundle
from tessera.graph.hypergraph import Hypergraph


@pytest.fixture()
def typed_card():
    graph = Hypergraph.from_edges([[0, 3, 6], [1, 4, 7]], [3, 3, 2], ("user", "item", "tag"))
    return GraphModelCard.for_graph("m", 1, graph, metrics={"val_auc": 0.9})


def test_card_round_trip(tmp_path, typed_card):
    save_bundle(tmp_path / "m", typed_card, b"onnx")
    card, data = load_bundle(tmp_path / "m")
    assert card == typed_card and data == b"onnx" and card.column_types == [0, 1, 2]
    with pytest.raises(InvalidArgument, match="model"):
        load_bundle(tmp_path / "absent")


def test_encoder_maps_types_to_global_ids(typed_card):
    enc = SetEncoder(typed_card)
    (ids,) = enc.encode([[Member("item", 2), Member("user", 1), Member("tag", 0)]])
    assert ids.tolist() == [5, 1, 6]


@pytest.mark.parametrize(("members", "match"), [
    ([Member("user", 0)], r"sets\[0\]\.nodes: .*at least two"),
    ([Member("user", 0), Member("item", 9), Member("tag", 0)], r"sets\[0\]\.nodes\[1\]\.id: node id 9 out of range"),
    ([Member("user", 0), Member("color", 1), Member("tag", 0)], r"sets\[0\]\.nodes\[1\]\.type: unknown node type"),
    ([Member("user", 0), Member("item", 1)], r"fixed-arity"),
    ([Member("user", 0), Member("user", 0), Member("tag", 0)], r"twice"),
])
def test_bad_sets_name_the_set_and_field(typed_card, members, match):
    with pytest.raises(InvalidArgument, match=match):
        SetEncoder(typed_card).encode([members])


def test_named_single_type_model_accepts_mixed_sizes():
    graph = Hypergraph.from_edges([[0, 1], [1, 2, 3]], [4], ("node",), [("a", "b", "c", "d")])
    enc = SetEncoder(GraphModelCard.for_graph("les", 1, graph))
    sets = enc.encode([[Member(name="a"), Member(name="d")], [Member(name="b"), Member(name="c"), Member(name="a")]])
    ids, mask = enc.pad(sets)
    assert ids.shape == (2, 3) and mask.sum() == 5
    with pytest.raises(InvalidArgument, match=r"sets\[0\]\.nodes\[0\]\.name"):
        enc.encode([[Member(name="zz"), Member(name="a")]])
