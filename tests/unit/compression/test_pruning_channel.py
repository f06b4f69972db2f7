"""Structured channel pruning: masks vs the physically smaller model, and where shrinking must stop."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tessera.compression.pruning import ChannelConfig, channel_prune
from tessera.compression.pruning.channel import trace_plans


def chain_cnn() -> nn.Module:
    torch.manual_seed(1)
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 12, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(12 * 4 * 4, 16), nn.ReLU(), nn.Linear(16, 3),
    )
    with torch.no_grad():  # non-trivial BN statistics so a wrong slice shows up
        bn = model[1]
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.2, 0.2)
    return model.eval()


class Residual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, 4, 3, padding=1)
        self.body = nn.Conv2d(4, 4, 3, padding=1)
        self.head = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.stem(x))
        h = h + torch.relu(self.body(h))  # the add ties stem's and body's channels together
        return self.head(h.mean(dim=(2, 3)))


X = torch.randn(5, 1, 8, 8)


@pytest.mark.parametrize("norm", [1, 2])
def test_physical_model_is_smaller_and_computes_the_masked_function(norm: int) -> None:
    model = chain_cnn()
    masked = channel_prune(model, ChannelConfig(amount=0.5, norm=norm, physical=False, finetune_epochs=0))
    small = channel_prune(model, ChannelConfig(amount=0.5, norm=norm, physical=True, finetune_epochs=0))
    assert masked.structure == "masks" and small.structure == "physical"
    assert small.info["shrunk_layers"] == ["0", "4", "7"]  # every layer but the output layer
    assert small.info["channels_kept"] == {"0": 4, "4": 6, "7": 8}
    assert small.model[0].weight.shape == (4, 1, 3, 3) and small.model[1].num_features == 4
    assert small.model[4].weight.shape == (6, 4, 3, 3)
    assert small.model[7].weight.shape == (8, 6 * 16) and small.model[9].weight.shape == (3, 8)
    assert small.info["params_after"] < 0.5 * small.info["params_before"]
    with torch.no_grad():
        torch.testing.assert_close(small.model(X), masked.model(X), rtol=1e-5, atol=1e-5)
        # the masked model's pruned channels are exactly zero at the BN output
        assert (masked.model[:3](X)[:, ~masked.model[1].weight.ne(0)] == 0).all()


def test_l1_and_l2_rank_channels_by_their_norm() -> None:
    model = chain_cnn()
    with torch.no_grad():
        weights = model[4].weight  # 12 channels; make the ranking differ between L1 and L2
        weights.zero_()
        for c in range(12):
            weights[c, 0, 0, 0] = 1.0 + 0.1 * c  # one big entry: L2 ~ L1
        weights[:3].fill_(0.1)  # many small entries: L1 = 7.2, L2 = 0.85
    kept = {}
    for norm in (1, 2):
        result = channel_prune(model, ChannelConfig(amount=0.25, norm=norm, physical=False, finetune_epochs=0,
                                                    skip_layers=("0", "7")))
        kept[norm] = set(result.model[4].weight.flatten(1).ne(0).any(1).nonzero().flatten().tolist())
    assert kept[1] >= {0, 1, 2}  # large L1
    assert not kept[2] & {0, 1, 2}  # small L2


def test_residual_add_keeps_masks_and_names_the_reason() -> None:
    plans = trace_plans(Residual(), ["stem", "body"])
    assert not plans["stem"].shrinkable and "add" in plans["stem"].reason
    result = channel_prune(Residual(), ChannelConfig(amount=0.5, finetune_epochs=0))
    assert result.structure == "masks"
    assert set(result.info["masked_layers"]) == {"stem", "body"}
    assert result.model.stem.weight.shape == (4, 1, 3, 3)
    assert int(result.model.stem.weight.flatten(1).ne(0).any(1).sum()) == 2


class Block(nn.Module):
    """ResNet basic block: conv1 -> bn1 -> relu -> conv2 -> bn2, plus identity, then relu."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, 6, 3, padding=1)
        self.conv1 = nn.Conv2d(6, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 6, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(6)
        self.fc = nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.stem(x))
        out = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(h)))))
        return self.fc(torch.relu(out + h).mean(dim=(2, 3)))


def test_residual_block_shrinks_its_inner_conv_only() -> None:
    torch.manual_seed(2)
    model = Block().eval()
    with torch.no_grad():
        model.bn1.running_mean.uniform_(-0.5, 0.5)
        model.bn1.bias.uniform_(-0.3, 0.3)
    masked = channel_prune(model, ChannelConfig(amount=0.5, physical=False, finetune_epochs=0))
    mixed = channel_prune(model, ChannelConfig(amount=0.5, physical=True, finetune_epochs=0))
    assert mixed.structure == "mixed" and mixed.info["shrunk_layers"] == ["conv1"]
    assert set(mixed.info["masked_layers"]) == {"stem", "conv2"}
    assert mixed.model.conv1.weight.shape == (4, 6, 3, 3) and mixed.model.conv2.weight.shape == (6, 4, 3, 3)
    with torch.no_grad():
        torch.testing.assert_close(mixed.model(X), masked.model(X), rtol=1e-5, atol=1e-5)
