"""Unstructured and semi-structured pruning on a tiny CNN trained on a 4-class synthetic image task."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tessera.compression.pruning import (
    GradualConfig,
    LotteryConfig,
    MagnitudeConfig,
    MovementConfig,
    NMConfig,
    TrainData,
    check_supported,
    cubic_sparsity,
    gradual_magnitude_prune,
    is_nm_sparse,
    lottery_ticket,
    magnitude_prune,
    movement_prune,
    nm_mask,
    nm_prune,
)
from tessera.compression.pruning.layers import compressible_layers
from tessera.compression.pruning.lottery import _rewind, _snapshot
from tessera.core.errors import InvalidArgument


def quadrant_data(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """1x8x8 images, class = the bright quadrant (4 classes), plus noise."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 4, (n,), generator=g)
    x = 0.3 * torch.randn(n, 1, 8, 8, generator=g)
    for i, label in enumerate(y.tolist()):
        r, c = divmod(label, 2)
        x[i, 0, 4 * r:4 * r + 4, 4 * c:4 * c + 4] += 1.0
    return x, y


def tiny_cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 4 * 4, 16), nn.ReLU(), nn.Linear(16, 4),
    )


X, Y = quadrant_data(256, 0)
X_TEST, Y_TEST = quadrant_data(256, 1)
DATA = TrainData([(X[i:i + 32], Y[i:i + 32]) for i in range(0, 256, 32)])


def accuracy(model: nn.Module) -> float:
    with torch.no_grad():
        return float((model(X_TEST).argmax(1) == Y_TEST).float().mean())


@pytest.fixture(scope="module")
def trained() -> nn.Module:
    from tessera.compression.pruning.config import FinetuneConfig
    from tessera.compression.pruning.finetune import train

    model = tiny_cnn()
    train(model, DATA, FinetuneConfig(finetune_epochs=6, lr=0.01, optimizer="adam"))
    assert accuracy(model) > 0.9
    return model


def test_global_magnitude_reaches_sparsity_and_leaves_input_untouched(trained: nn.Module) -> None:
    before = [p.clone() for p in trained.parameters()]
    result = magnitude_prune(trained, MagnitudeConfig(sparsity=0.7, finetune_epochs=1, lr=0.005), DATA, accuracy)
    assert result.sparsity == pytest.approx(0.7, abs=0.005)
    assert all(torch.equal(a, b) for a, b in zip(before, trained.parameters(), strict=True))
    assert not any(name.endswith("_orig") for name, _ in result.model.named_parameters())  # masks baked in
    assert result.accuracy is not None and result.accuracy > 0.85
    # global: layers end at different sparsities (small first conv is kept denser than the big Linear)
    assert len({round(s, 2) for s in result.layer_sparsity.values()}) > 1


def test_layerwise_magnitude_prunes_every_layer_equally(trained: nn.Module) -> None:
    result = magnitude_prune(trained, MagnitudeConfig(sparsity=0.5, scope="layer", finetune_epochs=0))
    for value in result.layer_sparsity.values():
        assert value == pytest.approx(0.5, abs=0.03)


def test_config_out_of_range_names_the_field() -> None:
    with pytest.raises(InvalidArgument) as error:
        MagnitudeConfig(sparsity=1.5)
    assert error.value.violations[0].field == "config.sparsity"
    with pytest.raises(InvalidArgument) as error:
        GradualConfig(initial_sparsity=0.6, final_sparsity=0.3)
    assert error.value.violations[0].field == "config.final_sparsity"
    with pytest.raises(InvalidArgument) as error:
        NMConfig.parse({"n": 4, "m": 4})
    assert error.value.violations[0].field == "config.n"
    with pytest.raises(InvalidArgument) as error:
        MagnitudeConfig.parse({"sparsity": 0.5, "bogus": 1})
    assert error.value.violations[0].field == "config.bogus"


def test_finetuning_without_data_is_refused(trained: nn.Module) -> None:
    with pytest.raises(InvalidArgument) as error:
        magnitude_prune(trained, MagnitudeConfig(sparsity=0.5, finetune_epochs=2))
    assert error.value.violations[0].field == "data"


def test_unsupported_layers_are_named() -> None:
    class WithAttention(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.attn = nn.MultiheadAttention(8, 2)
            self.head = nn.Linear(8, 2)

    with pytest.raises(InvalidArgument) as error:
        check_supported(WithAttention())
    assert "attn (MultiheadAttention): in_proj_weight" in str(error.value)
    with pytest.raises(InvalidArgument, match="skip_layers"):
        magnitude_prune(tiny_cnn(), MagnitudeConfig(skip_layers=("nope",), finetune_epochs=0))


def test_cubic_schedule_matches_zhu_gupta() -> None:
    config = GradualConfig(initial_sparsity=0.1, final_sparsity=0.9, start_step=10, prune_every=5, num_events=4)
    assert cubic_sparsity(0, config) == pytest.approx(0.1)
    assert cubic_sparsity(10, config) == pytest.approx(0.1)
    assert cubic_sparsity(20, config) == pytest.approx(0.9 + (0.1 - 0.9) * 0.5**3)
    assert cubic_sparsity(30, config) == pytest.approx(0.9)
    assert cubic_sparsity(1000, config) == pytest.approx(0.9)
    values = [cubic_sparsity(t, config) for t in range(0, 40)]
    assert values == sorted(values)


def test_gradual_pruning_follows_schedule_with_progress(trained: nn.Module) -> None:
    seen = []
    config = GradualConfig(final_sparsity=0.8, prune_every=2, num_events=5, finetune_epochs=2, lr=0.005)
    result = gradual_magnitude_prune(trained, config, DATA, accuracy, progress=seen.append)
    sparsities = [info.sparsity for info in seen]
    assert sparsities == sorted(sparsities) and len(seen) >= 5
    assert result.sparsity == pytest.approx(0.8, abs=0.005)
    assert result.accuracy is not None and result.accuracy > 0.8


def test_nm_mask_keeps_two_largest_of_four() -> None:
    weight = torch.tensor([[0.1, -0.9, 0.3, 0.05, 1.0, 2.0, -3.0, 0.5]])
    assert nm_mask(weight, 2, 4).tolist() == [[0, 1, 1, 0, 0, 1, 1, 0]]
    conv = torch.randn(3, 8, 2, 2)
    mask = nm_mask(conv, 2, 4)
    assert mask.shape == conv.shape and is_nm_sparse(conv * mask, 2, 4) and not is_nm_sparse(conv, 2, 4)


def test_nm_pruning_is_2_to_4_on_eligible_layers(trained: nn.Module) -> None:
    result = nm_prune(trained, NMConfig(n=2, m=4, finetune_epochs=1, lr=0.005), DATA, accuracy)
    assert result.info["dense_layers"] == ["0"]  # 1-input-channel stem cannot hold 2:4 groups
    for name, module in compressible_layers(result.model):
        if name != "0":
            assert is_nm_sparse(module.weight, 2, 4)
    assert result.info["nm_sparsity"] == pytest.approx(0.5)
    assert result.accuracy is not None and result.accuracy > 0.8


def test_movement_pruning_reaches_target_while_finetuning(trained: nn.Module) -> None:
    config = MovementConfig(final_sparsity=0.6, finetune_epochs=3, update_every=2, lr=0.005)
    result = movement_prune(trained, config, DATA, accuracy)
    assert result.sparsity == pytest.approx(0.6, abs=0.01)
    for value in result.layer_sparsity.values():  # movement ranks per layer
        assert value == pytest.approx(0.6, abs=0.05)
    assert result.accuracy is not None and result.accuracy > 0.7


def test_lottery_ticket_rounds_and_rewind() -> None:
    config = LotteryConfig(rounds=2, prune_fraction=0.5, rewind_step=3, finetune_epochs=2, lr=0.01, optimizer="adam")
    result = lottery_ticket(tiny_cnn(), config, DATA, accuracy)
    assert config.final_sparsity == pytest.approx(0.75)
    assert result.sparsity == pytest.approx(0.75, abs=0.005)
    assert [s.step for s in result.steps] == [0, 1, 2]
    assert result.accuracy is not None and result.accuracy > 0.6


def test_rewind_restores_surviving_weights_under_masks() -> None:
    from torch.nn.utils import prune

    model = tiny_cnn()
    snapshot = _snapshot(model)
    prune.l1_unstructured(model[4], "weight", amount=0.5)
    with torch.no_grad():
        model[4].weight_orig.add_(1.0)
    _rewind(model, snapshot)
    assert torch.equal(model[4].weight_orig, snapshot["4.weight"])
    assert torch.equal(model[4].weight, snapshot["4.weight"] * model[4].weight_mask)


def test_registry_runs_methods_by_name(trained: nn.Module) -> None:
    from tessera.compression.pruning import make_config, method_names, run_method

    assert {"magnitude", "gmp", "channel", "nm", "movement", "lth", "int8", "int4"} <= set(method_names())
    with pytest.raises(InvalidArgument) as error:
        make_config("bogus", {})
    assert error.value.violations[0].field == "method"
    with pytest.raises(InvalidArgument) as error:
        make_config("channel", {"norm": 3})
    assert error.value.violations[0].field == "config.norm"
    with pytest.raises(InvalidArgument) as error:
        run_method("gmp", trained, {})
    assert error.value.violations[0].field == "data"
    result = run_method("magnitude", trained, {"sparsity": 0.4, "finetune_epochs": 0})
    assert result.sparsity == pytest.approx(0.4, abs=0.005)
    quantised = run_method("int4", trained, {}, evaluate=accuracy)
    assert quantised.method == "int4-ptq" and quantised.info["bits"] == 4
