"""A tiny ONNX-exportable 3D segmentation net with a known answer, shared by the compression tests.

Three classes from one channel: background (x < -0.3), class 1 (-0.3 <= x < 0.3) and class 2 (x >= 0.3),
computed by a 3x3x3 conv (the centre tap carries the signal, small random taps around it) and a 1x1x1 conv;
volumes uniform in [-1, 1] so every class is present and the labels are exact.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

GRID = (6, 8, 8)  # D, H, W


def threshold_segmenter() -> nn.Module:
    """[N, 1, D, H, W] -> logits [N, 3, D, H, W], in eval mode."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv3d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv3d(4, 3, 1))
    first, second = model[0], model[2]
    assert isinstance(first, nn.Conv3d) and isinstance(second, nn.Conv3d)
    with torch.no_grad():
        first.weight.normal_(0.0, 0.002)
        first.weight[:, 0, 1, 1, 1] = torch.tensor([-1.0, 1.0, -1.0, 1.0])
        first.bias.copy_(torch.tensor([-0.3, -0.3, 0.3, 0.3]))  # relu(-x-0.3), relu(x-0.3), relu(0.3-x), relu(x+0.3)
        second.weight.zero_()
        second.bias.zero_()
        second.weight[0, 0] = 20.0  # background: large when x < -0.3
        second.weight[2, 1] = 20.0  # class 2: large when x > 0.3
        second.weight[1, 2] = second.weight[1, 3] = 0.5  # class 1: 0.3 on [-0.3, 0.3]...
        second.weight[1, 0] = second.weight[1, 1] = -20.0  # ...and pushed down outside it
    return model.eval()


def threshold_volumes(count: int = 4, shape: tuple[int, int, int] = GRID) -> tuple[np.ndarray, np.ndarray]:
    """x (N, 1, D, H, W) float32 uniform in [-1, 1] and its exact labels y (N, D, H, W) int64."""
    x = np.random.default_rng(0).uniform(-1.0, 1.0, size=(count, 1, *shape)).astype(np.float32)
    return x, np.digitize(x[:, 0], [-0.3, 0.3]).astype(np.int64)
