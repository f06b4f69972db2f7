"""Per-channel int8/int4 weight quantisation (PTQ, QAT, prune-then-quantise) and ORT static int8."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from tessera.compression.pruning import MagnitudeConfig, TrainData, magnitude_prune, prune_then_quantize
from tessera.compression.pruning.config import FinetuneConfig
from tessera.compression.pruning.finetune import train
from tessera.compression.quantize import QuantConfig, quantize_onnx_int8, quantize_weights
from tessera.compression.reports import export_onnx, onnx_predict, onnx_weights
from tessera.core.errors import InvalidArgument


def blobs(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    centres = torch.tensor([[2.0, 0, 0, 0, 1, 0, 0, 0], [0, 2.0, 0, 0, 0, 1, 0, 0], [0, 0, 2.0, 0, 0, 0, 1, 0]])
    y = torch.randint(0, 3, (n,), generator=g)
    return centres[y] + 0.5 * torch.randn(n, 8, generator=g), y


X, Y = blobs(240, 0)
X_TEST, Y_TEST = blobs(240, 1)
DATA = TrainData([(X[i:i + 40], Y[i:i + 40]) for i in range(0, 240, 40)])


def accuracy(model: nn.Module) -> float:
    with torch.no_grad():
        return float((model(X_TEST).argmax(1) == Y_TEST).float().mean())


@pytest.fixture(scope="module")
def mlp() -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 3))
    train(model, DATA, FinetuneConfig(finetune_epochs=15, lr=0.01, optimizer="adam"))
    assert accuracy(model) > 0.9
    return model


def per_channel_unique(weight: torch.Tensor) -> int:
    return max(len(torch.unique(row)) for row in weight.detach())


@pytest.mark.parametrize("bits", [8, 4])
def test_ptq_puts_each_channel_on_a_symmetric_grid(mlp: nn.Module, bits: int) -> None:
    result = quantize_weights(mlp, QuantConfig(bits=bits, mode="ptq"), evaluate=accuracy)
    for original, quantised in zip(mlp[::2], result.model[::2], strict=True):
        w, q = original.weight.detach(), quantised.weight.detach()
        assert per_channel_unique(q) <= 2**bits
        scale = w.abs().amax(dim=1, keepdim=True) / ((2**bits - 1) / 2)  # torch.ao symmetric scale
        steps = q / scale
        assert torch.allclose(steps, steps.round(), atol=1e-3)  # integer multiples of the channel scale
        assert ((q - w).abs() <= scale / 2 + 1e-6).all()
    assert result.accuracy is not None and result.accuracy >= accuracy(mlp) - (0.02 if bits == 8 else 0.1)


def test_int4_qat_trains_through_fake_quant(mlp: nn.Module) -> None:
    ptq = quantize_weights(mlp, QuantConfig(bits=2, mode="ptq"), evaluate=accuracy)
    qat = quantize_weights(mlp, QuantConfig(bits=2, mode="qat", finetune_epochs=5, lr=0.005, optimizer="adam"),
                           DATA, accuracy)
    assert all(per_channel_unique(m.weight) <= 4 for m in qat.model[::2])
    assert qat.accuracy is not None and ptq.accuracy is not None
    assert qat.accuracy >= ptq.accuracy - 0.01  # training through the grid does not lose to rounding alone
    assert qat.accuracy > 0.8
    with pytest.raises(InvalidArgument) as error:
        QuantConfig(bits=16)
    assert error.value.violations[0].field == "config.bits"


def test_prune_then_quantise_keeps_zeros(mlp: nn.Module) -> None:
    seen = []
    result = prune_then_quantize(
        mlp, magnitude_prune, MagnitudeConfig(sparsity=0.6, finetune_epochs=1, lr=0.005),
        QuantConfig(bits=4, mode="qat", finetune_epochs=2, lr=0.002), DATA, accuracy, progress=seen.append,
    )
    assert result.sparsity >= 0.6 - 0.005
    assert all(per_channel_unique(m.weight) <= 16 for m in result.model[::2])
    assert [s.step for s in seen] == list(range(1, len(seen) + 1))
    assert seen[0].message.startswith("prune") and seen[-1].message.startswith("quantise")
    assert result.method == "magnitude-global+int4-qat"
    assert result.accuracy is not None and result.accuracy > 0.8


def test_onnx_runtime_static_int8(mlp: nn.Module) -> None:
    fp32 = export_onnx(mlp, X[:4])
    int8 = quantize_onnx_int8(fp32, [X[i:i + 40].numpy() for i in range(0, 120, 40)])
    ops = {node.op_type for node in onnx.load_from_string(int8).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    reference = onnx_predict(fp32, X_TEST.numpy())
    outputs = onnx_predict(int8, X_TEST.numpy())
    assert (outputs.argmax(1) == reference.argmax(1)).mean() > 0.95
    weights = onnx_weights(int8)
    assert len(weights) == 3
    for array in weights.values():
        assert max(len(np.unique(row)) for row in array.reshape(array.shape[0], -1)) <= 256
    with pytest.raises(InvalidArgument):
        quantize_onnx_int8(fp32, [])
