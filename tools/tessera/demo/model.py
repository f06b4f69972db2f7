"""The reference CNN: a small residual 2D image classifier, exported to ONNX.

Weights are random but seeded, so every run exports the same model. Input ``image``:
float32 (N, 1, 28, 28) in [0, 1] (Fashion-MNIST sized); output ``logits``: float32 (N, 10).
"""

from __future__ import annotations

import io
from typing import Any

import torch
from torch import nn

INPUT_NAME, OUTPUT_NAME = "image", "logits"
INPUT_SHAPE = (1, 28, 28)
NUM_CLASSES = 10


class _Residual(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1), nn.BatchNorm2d(channels), nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=1), nn.BatchNorm2d(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.body(x))


class ReferenceCNN(nn.Module):
    """stem conv -> 2 residual stages (stride-2 between) -> global average pool -> linear."""

    def __init__(self, width: int = 32):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(INPUT_SHAPE[0], width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
            _Residual(width),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.BatchNorm2d(2 * width), nn.ReLU(),
            _Residual(2 * width),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.head = nn.Linear(2 * width, NUM_CLASSES)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(image))


def reference_cnn(seed: int = 0) -> ReferenceCNN:
    """The model in eval mode with seeded random weights."""
    torch.manual_seed(seed)
    return ReferenceCNN().eval()


def export_onnx(model: nn.Module) -> bytes:
    """ONNX bytes with a dynamic batch axis on input and output (so Triton batches dynamically)."""
    buffer: Any = io.BytesIO()  # torch.onnx.export accepts file-likes; its hints say str | PathLike
    example = torch.zeros(1, *INPUT_SHAPE)
    torch.onnx.export(
        model, (example,), buffer, input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
        dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}}, opset_version=17, dynamo=False,
    )
    return buffer.getvalue()
