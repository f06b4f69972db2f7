"""Plain vs balanced training (tessera.segmentation.training) on a synthetic 2-contrast task with a dominant contrast.

Task: 16^3 volumes, labels background / class 1 / class 2 (random spheres). Contrast A shows both classes
cleanly (+-2 over noise 0.3: the easy, dominant cue); contrast B shows the same classes weakly (+-1 over
noise 0.8). A tiny network with one encoder per contrast fused in a decoder learns A greedily. Two networks:
``TinyTwoBranch`` (no fusion parameters: the encoder-only fallback measure) and a small
:class:`MultiContrastUNet3D` behind :class:`NamedContrastUNet` (the paper's fusion-vs-branch measure).
"""

from __future__ import annotations

import itertools
from collections.abc import Collection
from typing import Any

import pytest
import torch
from torch import nn

from tessera.core.errors import InvalidArgument
from tessera.segmentation.balance import MISSING_CONTRAST_FILL, FusionModel, MultiBranchModel
from tessera.segmentation.networks import MultiContrastUNet3D, UNetConfig
from tessera.segmentation.trainer import NamedContrastUNet
from tessera.segmentation.training import (
    TrainConfig,
    TrainResult,
    dice_with_missing,
    per_class_dice,
    train,
    utilisation_from_dice,
)

SIZE = 16
THRESHOLD = 0.1


class TinyTwoBranch(nn.Module):
    """Two 2-layer conv encoders (one per contrast), concatenated, 2-layer conv decoder -> 3 classes."""

    def __init__(self, contrasts: tuple[str, ...] = ("A", "B"), classes: int = 3, width: int = 4):
        super().__init__()
        self.contrasts = contrasts
        self.encoders = nn.ModuleDict({
            c: nn.Sequential(nn.Conv3d(1, width, 3, padding=1), nn.ReLU(),
                             nn.Conv3d(width, width, 3, padding=1), nn.ReLU())
            for c in contrasts
        })
        self.decoder = nn.Sequential(nn.Conv3d(width * len(contrasts), 8, 3, padding=1), nn.ReLU(),
                                     nn.Conv3d(8, classes, 1))

    def branch_parameters(self) -> dict[str, list[nn.Parameter]]:
        return {c: list(e.parameters()) for c, e in self.encoders.items()}

    def forward(self, x: torch.Tensor, drop_contrasts: Collection[str] = (),
                contrast_present: torch.Tensor | None = None) -> torch.Tensor:
        # The caller fills a sample's missing channels (contrast_present == 0) in x: nothing more to do here.
        feats = []
        for i, c in enumerate(self.contrasts):
            xi = x[:, i : i + 1]
            feats.append(self.encoders[c](torch.full_like(xi, MISSING_CONTRAST_FILL) if c in drop_contrasts else xi))
        out: torch.Tensor = self.decoder(torch.cat(feats, 1))
        return out


def _spheres(g: torch.Generator, count: int) -> torch.Tensor:
    z, y, x = torch.meshgrid(*[torch.arange(SIZE, dtype=torch.float32)] * 3, indexing="ij")
    mask = torch.zeros(SIZE, SIZE, SIZE, dtype=torch.bool)
    for _ in range(count):
        c = torch.rand(3, generator=g) * (SIZE - 4) + 2
        r = 1.5 + 2.0 * float(torch.rand(1, generator=g))
        mask |= (z - c[0]) ** 2 + (y - c[1]) ** 2 + (x - c[2]) ** 2 <= r * r
    return mask


def make_task(n: int, seed: int) -> list[dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    items = []
    for _ in range(n):
        c1 = _spheres(g, 3)
        c2 = _spheres(g, 3) & ~c1
        label = torch.zeros(SIZE, SIZE, SIZE, dtype=torch.long)
        label[c1], label[c2] = 1, 2
        channels = []
        for amplitude, noise in ((2.0, 0.3), (1.0, 0.8)):  # A: strong and clean; B: weak and noisy
            v = torch.randn(SIZE, SIZE, SIZE, generator=g) * noise
            v[c1] += amplitude
            v[c2] -= amplitude
            channels.append(v)
        image = torch.stack(channels)
        image = (image - image.mean(dim=(1, 2, 3), keepdim=True)) / image.std(dim=(1, 2, 3), keepdim=True)
        items.append({"image": image, "label": label[None]})
    return items


Run = tuple[TrainResult, dict[str, list[float]], list[tuple[float, str]]]


def _unet() -> NamedContrastUNet:
    return NamedContrastUNet(MultiContrastUNet3D(UNetConfig(in_contrasts=2, num_classes=3, depth=1, base_width=4)),
                             ("A", "B"))


def _run(balance: bool, unet: bool = False, contrast_dropout: float = 0.0) -> Run:
    torch.manual_seed(0)
    model: MultiBranchModel = _unet() if unet else TinyTwoBranch()
    assert isinstance(model, MultiBranchModel)
    assert isinstance(model, FusionModel) == unet
    config = TrainConfig(epochs=8, steps_per_epoch=25, lr=0.01, batch_size=4, balance=balance,
                         threshold=THRESHOLD, rebalance_window=5, balance_warmup_epochs=1, seed=0,
                         contrast_dropout=contrast_dropout)
    calls: list[tuple[float, str]] = []
    result = train(model, make_task(16, seed=1), make_task(6, seed=2), config,
                   progress=lambda f, m: calls.append((f, m)))
    return result, dice_with_missing(model, make_task(6, seed=3)), calls


@pytest.fixture(scope="module")
def plain() -> tuple[TrainResult, dict[str, list[float]], list[tuple[float, str]]]:
    return _run(balance=False)


@pytest.fixture(scope="module")
def balanced() -> tuple[TrainResult, dict[str, list[float]], list[tuple[float, str]]]:
    return _run(balance=True)


@pytest.fixture(scope="module")
def unet_plain() -> Run:
    return _run(balance=False, unet=True)


@pytest.fixture(scope="module")
def unet_balanced() -> Run:
    return _run(balance=True, unet=True)


def test_plain_training_learns_and_reports_history(plain: Any) -> None:
    result, dice, _calls = plain
    assert len(result.epochs) == 8 and result.total_steps == 200
    assert result.epochs[-1].train_loss < 0.5 * result.epochs[0].train_loss
    assert result.epochs[-1].val_mean_dice > 0.8
    assert len(result.speed_history) == 200  # every step is regular
    assert result.rebalancing_steps == 0
    assert min(dice["none"]) > 0.8


def test_progress_is_monotonic_and_ends_at_one(plain: Any) -> None:
    _, _, calls = plain
    fractions = [f for f, _ in calls]
    assert fractions[0] == 0.0 and fractions[-1] == 1.0
    assert all(b >= a for a, b in itertools.pairwise(fractions))
    assert any("val dice" in m for _, m in calls)


def test_plain_training_is_greedy_towards_the_dominant_contrast(plain: Any) -> None:
    result, dice, _ = plain
    last = result.speed_history[-1]
    assert last.fastest == "A" and last.imbalance > THRESHOLD
    rates = utilisation_from_dice(dice)
    # Without A the model collapses; without B it barely notices.
    assert rates["A"] > 0.8 and rates["B"] < 0.2


def test_balanced_training_rebalances_towards_the_slow_contrast(plain: Any, balanced: Any) -> None:
    result, dice, _ = balanced
    assert result.rebalancing_steps > 20
    assert set(result.rebalancing_focus) == {"B"}
    assert sum(e.rebalancing_steps for e in result.epochs) == result.rebalancing_steps
    assert result.epochs[0].rebalancing_steps == 0  # warm-up epoch
    assert len(result.speed_history) + result.rebalancing_steps == result.total_steps
    assert result.epochs[-1].val_mean_dice > 0.8
    plain_rates = utilisation_from_dice(plain[1])
    balanced_rates = utilisation_from_dice(dice)
    # B is used more, and the rates are closer together.
    assert balanced_rates["B"] > plain_rates["B"] + 0.015
    assert max(balanced_rates.values()) - min(balanced_rates.values()) < (
        max(plain_rates.values()) - min(plain_rates.values()) - 0.015
    )


def test_fusion_measure_finds_the_under_used_contrast(unet_plain: Any) -> None:
    result, dice, _ = unet_plain
    last = result.speed_history[-1]
    assert set(last.fusion_speeds) == {"A", "B"}  # the paper's fusion-vs-branch measure, not the fallback
    # The model learns less from B: its encoder barely moves relative to the decoder weights reading it.
    assert last.slowest == "B" and last.imbalance > 3 * THRESHOLD
    rates = utilisation_from_dice(dice)
    assert rates["A"] > 0.6 and rates["B"] < 0.05


def test_fusion_balanced_training_favours_the_weak_contrast(unet_plain: Any, unet_balanced: Any) -> None:
    result, dice, _ = unet_balanced
    assert result.rebalancing_steps > 50
    assert set(result.rebalancing_focus) == {"B"}
    assert result.epochs[-1].val_mean_dice > 0.8
    plain_rates = utilisation_from_dice(unet_plain[1])
    balanced_rates = utilisation_from_dice(dice)
    assert balanced_rates["B"] > plain_rates["B"] + 0.02
    assert max(balanced_rates.values()) - min(balanced_rates.values()) < (
        max(plain_rates.values()) - min(plain_rates.values()) - 0.03
    )


def test_contrast_dropout_makes_the_dominant_contrast_dispensable(unet_plain: Any) -> None:
    _result, dice, _ = _run(balance=False, unet=True, contrast_dropout=0.2)
    mean = lambda scores: sum(scores) / len(scores)  # noqa: E731
    without_a_plain = mean(unet_plain[1]["A"])
    without_a_dropout = mean(dice["A"])
    assert without_a_plain < 0.4
    assert without_a_dropout > without_a_plain + 0.3
    assert mean(dice["none"]) > 0.9  # still learns the full-input task


def test_per_class_dice_on_hand_values() -> None:
    labels = torch.zeros(1, 1, 2, 2, 2, dtype=torch.long)
    labels[0, 0, 0] = 1  # 4 voxels of class 1, none of class 2
    logits = torch.zeros(1, 3, 2, 2, 2)
    logits[0, 1, 0, 0] = 5.0  # predict class 1 on 2 of its 4 voxels
    scores = per_class_dice(logits, labels)
    assert scores.shape == (1, 2)
    assert float(scores[0, 0]) == pytest.approx(2 * 2 / (2 + 4))
    assert torch.isnan(scores[0, 1])  # class 2 absent from prediction and label: undefined


def test_train_rejects_model_whose_branches_do_not_match_contrasts() -> None:
    model = TinyTwoBranch()
    model.contrasts = ("A", "C")
    with pytest.raises(InvalidArgument, match="branch_parameters"):
        train(model, make_task(2, 0), make_task(1, 1), TrainConfig(epochs=1, steps_per_epoch=1))


def test_named_unet_fusion_parameters_carry_their_gradient_slices() -> None:
    model = _unet()
    for params in model.fusion_parameters().values():
        assert all(p.grad is None for p in params)  # before any backward
    x = torch.randn(2, 2, 8, 8, 8)
    model(x, contrast_present=torch.tensor([[1.0, 0.0], [1.0, 1.0]])).sum().backward()
    fusion = model.fusion_parameters()
    for k, name in enumerate(model.contrasts):
        for sliced, view in zip(fusion[name], model.net.fusion_weights(k), strict=True):
            assert torch.equal(sliced, view.detach()) and sliced.grad is not None
    # Level 0's decoder conv reads cat([upsampled (4), A (4), B (4)]): B's slice is channels 8..12.
    block = model.net.decoder[0]
    assert isinstance(block, nn.Sequential)
    conv = block[0]
    b_grad = fusion["B"][-1].grad
    assert isinstance(conv, nn.Conv3d) and conv.weight.grad is not None and b_grad is not None
    assert torch.equal(b_grad, conv.weight.grad[:, 8:12])


def _predicted_share(model: nn.Module, data: list[dict[str, torch.Tensor]], cls: int) -> float:
    with torch.no_grad():
        return float(torch.cat([model(d["image"][None]).argmax(1) == cls for d in data]).float().mean())


def test_class_weights_favour_the_weighted_class() -> None:
    shares = []
    for weights in (None, (1.0, 1.0, 30.0)):
        torch.manual_seed(0)
        model = TinyTwoBranch()
        train(model, make_task(8, seed=1), [], TrainConfig(epochs=1, steps_per_epoch=15, lr=0.01, batch_size=4,
                                                           class_weights=weights, batch_dice=True))
        shares.append(_predicted_share(model.eval(), make_task(4, seed=3), 2))
    assert shares[1] > shares[0] + 0.02


def test_class_weights_must_match_the_classes_and_be_positive() -> None:
    with pytest.raises(InvalidArgument, match="class_weights"):
        train(TinyTwoBranch(), make_task(2, 0), [], TrainConfig(epochs=1, steps_per_epoch=1, class_weights=(1.0, 2.0)))
    with pytest.raises(ValueError, match="class_weights"):
        TrainConfig(class_weights=(1.0, 0.0, 2.0))
