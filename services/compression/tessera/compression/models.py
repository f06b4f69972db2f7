"""Reference networks to compress: a ResNet-style CNN and a DeiT-style vision transformer.

Both are built from Conv2d/Linear (attention included: q, k, v and the output projection are
Linear layers, not ``nn.MultiheadAttention``), plus BatchNorm/LayerNorm, so every compression method
(weight sharing, pruning, quantisation) reaches all their weights. Inputs (N, C, H, W) float32,
outputs (N, num_classes) logits. Both export to ONNX with plain operators.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from tessera.core.errors import InvalidArgument


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and an identity (or 1x1 projection) shortcut."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False), nn.BatchNorm2d(out_channels)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class ResNetCNN(nn.Module):
    """ResNet for small images: 3x3 stem, one stage per width (stride 2 after the first), pool, Linear.

    Defaults (widths 16/32/64, one block per stage) give about 78,000 weights for 28x28 inputs.
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        widths: Sequence[int] = (16, 32, 64),
        blocks_per_stage: int = 1,
    ) -> None:
        super().__init__()
        if not widths or min(widths) < 1 or blocks_per_stage < 1:
            raise InvalidArgument.field("widths", "needs at least one stage of positive width and one block")
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU()
        )
        blocks: list[nn.Module] = []
        channels = widths[0]
        for stage, width in enumerate(widths):
            for index in range(blocks_per_stage):
                stride = 2 if stage > 0 and index == 0 else 1
                blocks.append(BasicBlock(channels, width, stride))
                channels = width
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.pool(self.blocks(self.stem(x)))
        return self.fc(torch.flatten(features, 1))


class Attention(nn.Module):
    """Multi-head self-attention from Linear layers: tokens (N, T, D) -> (N, T, D)."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        if dim % heads:
            raise InvalidArgument.field("heads", f"embed_dim {dim} is not divisible by {heads} heads")
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, dim = x.shape
        qkv = self.qkv(x).reshape(batch, tokens, 3, self.heads, dim // self.heads).permute(2, 0, 3, 1, 4)
        query, key, value = qkv[0], qkv[1], qkv[2]  # each (N, heads, T, D / heads)
        weights = torch.softmax((query @ key.transpose(-2, -1)) * self.scale, dim=-1)
        mixed = (weights @ value).transpose(1, 2).reshape(batch, tokens, dim)
        return self.proj(mixed)


class TransformerBlock(nn.Module):
    """Pre-norm block: x + attn(LN(x)), then x + MLP(LN(x)) with GELU."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        hidden = int(dim * mlp_ratio)
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class VisionTransformer(nn.Module):
    """DeiT-style ViT: Conv2d patch embedding, class token, learned positions, pre-norm blocks, Linear head.

    Defaults suit 28x28 grey images (7x7 patches of 4x4 pixels, 64-wide, 4 blocks: about 135,000
    weights). :func:`deit_tiny_sized` gives DeiT-Tiny's shape (5.7M parameters at 224x224).
    """

    def __init__(
        self,
        image_size: int = 28,
        patch_size: int = 4,
        in_channels: int = 1,
        num_classes: int = 10,
        embed_dim: int = 64,
        depth: int = 4,
        heads: int = 4,
        mlp_ratio: float = 2.0,
    ) -> None:
        super().__init__()
        if image_size % patch_size:
            raise InvalidArgument.field("patch_size", f"{patch_size} does not divide image_size {image_size}")
        if depth < 1:
            raise InvalidArgument.field("depth", "needs at least one transformer block")
        tokens = (image_size // patch_size) ** 2
        self.patch_embed = nn.Conv2d(in_channels, embed_dim, patch_size, stride=patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.randn(1, tokens + 1, embed_dim) * 0.02)
        self.blocks = nn.Sequential(*[TransformerBlock(embed_dim, heads, mlp_ratio) for _ in range(depth)])
        self.norm = nn.LayerNorm(embed_dim)
        self.head = nn.Linear(embed_dim, num_classes)
        self.apply(_init_vit_weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        patches = self.patch_embed(x).flatten(2).transpose(1, 2)  # (N, T, D)
        cls = self.cls_token.expand(patches.shape[0], -1, -1)
        tokens = torch.cat([cls, patches], dim=1) + self.pos_embed
        return self.head(self.norm(self.blocks(tokens))[:, 0])


def _init_vit_weights(module: nn.Module) -> None:
    # DeiT's initialisation: truncated normal (std 0.02) Linear weights, zero biases.
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


def deit_tiny_sized(num_classes: int = 1000) -> VisionTransformer:
    """DeiT-Tiny's shape (224x224 RGB, 16x16 patches, 192 wide, 12 blocks of 3 heads): ~5.7M parameters."""
    return VisionTransformer(224, 16, 3, num_classes, embed_dim=192, depth=12, heads=3, mlp_ratio=4.0)


ARCHITECTURES = ("resnet_cnn", "vit", "deit_tiny")


def build_model(architecture: str, in_channels: int = 1, num_classes: int = 10, image_size: int = 28) -> nn.Module:
    """A fresh (untrained) model by name: ``resnet_cnn``, ``vit`` (small, for ``image_size``), ``deit_tiny``."""
    if architecture == "resnet_cnn":
        return ResNetCNN(in_channels, num_classes)
    if architecture == "vit":
        return VisionTransformer(image_size, 4, in_channels, num_classes)
    if architecture == "deit_tiny":
        return deit_tiny_sized(num_classes)
    known = ", ".join(ARCHITECTURES)
    raise InvalidArgument.field("architecture", f"unknown architecture {architecture!r}; known: {known}")


def parameter_count(model: nn.Module) -> int:
    return sum(parameter.numel() for parameter in model.parameters())
