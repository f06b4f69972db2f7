"""Report figures (unique values, entropy, Huffman size, sparsity, latency, PPE), JSON and the plot."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from tessera.compression.plots import plot_tradeoffs
from tessera.compression.reports import (
    CompressionReport,
    build_report,
    encoding_sizes,
    entropy_bits,
    export_onnx,
    huffman_bits,
    onnx_predict,
    pruned_parameter_efficiency,
)


def shared_weight_model() -> nn.Module:
    """Conv + Linear whose weights take only the values {-0.5, 0, 0.25, 1} (0 for half of them)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))
    codebook = torch.tensor([-0.5, 0.0, 0.25, 1.0])
    probabilities = torch.tensor([0.25, 0.5, 0.125, 0.125])
    with torch.no_grad():
        for layer in (model[0], model[3]):
            picks = torch.multinomial(probabilities, layer.weight.numel(), replacement=True)
            layer.weight.copy_(codebook[picks].view_as(layer.weight))
    return model


def test_huffman_and_entropy_on_known_counts() -> None:
    assert huffman_bits(np.array([1, 1, 2])) == 6  # code lengths 2, 2, 1
    assert huffman_bits(np.array([5])) == 5
    assert huffman_bits(np.array([4, 4, 4, 4])) == 32
    assert entropy_bits(np.array([4, 4, 4, 4])) == pytest.approx(2.0)
    counts = np.array([50, 25, 12, 13])
    h = entropy_bits(counts)
    assert h * counts.sum() <= huffman_bits(counts) < (h + 1) * counts.sum()


def test_encoding_sizes_count_codebook_indices_and_other_parameters() -> None:
    weights = [np.zeros(1000, np.float32)]
    huffman, lzma_size = encoding_sizes(weights, other_parameters=10)
    assert huffman == 4 * 1 + 1 + math.ceil(1000 / 8) + 40
    assert lzma_size > 44


def test_report_on_a_weight_shared_model() -> None:
    model = shared_weight_model()
    x = torch.randn(2, 1, 8, 8)
    report = build_report(model, "shared", accuracy=0.9, baseline_accuracy=0.95, baseline_nonzero=500,
                          example_input=x, latency_repeats=3)
    assert report.unique_values == 4
    assert set(report.unique_values_per_layer.values()) <= {3, 4}
    assert 1.2 < report.entropy_bits_per_weight < 2.0  # ~1.75 bits for (1/4, 1/2, 1/8, 1/8)
    assert 0.4 < report.sparsity < 0.6
    total = sum(p.numel() for p in model.parameters())
    assert report.parameters == total and report.fp32_bytes == 4 * total
    assert report.compressed_parameters == 36 + 3 * 144
    assert report.nonzero_parameters < total
    assert report.encoded_bytes < report.fp32_bytes / 8  # ~1.75 bits vs 32 bits per weight
    assert report.compression_ratio == pytest.approx(report.fp32_bytes / report.encoded_bytes)
    assert report.latency_ms is not None and report.latency_ms > 0
    assert report.accuracy_drop == pytest.approx(0.05)
    assert report.pruned_parameter_efficiency == pytest.approx((0.9 / 0.95) / (report.nonzero_parameters / 500))
    again = CompressionReport.model_validate(json.loads(report.to_json()))
    assert again == report


def test_dense_model_encoding_is_not_smaller_than_fp32() -> None:
    torch.manual_seed(0)
    model = nn.Linear(64, 64)
    report = build_report(model, "dense")
    assert report.unique_values > 4000  # practically every float distinct (of 4096)
    assert report.encoded_bytes > report.fp32_bytes  # a codebook of every value cannot pay off
    assert report.sparsity == 0.0 and report.latency_ms is None


def test_pruned_parameter_efficiency_definition() -> None:
    assert pruned_parameter_efficiency(0.9, 0.9, 100, 1000) == pytest.approx(10.0)
    assert pruned_parameter_efficiency(0.45, 0.9, 500, 1000) == pytest.approx(1.0)
    assert math.isnan(pruned_parameter_efficiency(0.5, 0.0, 1, 1))


def test_exported_onnx_matches_torch() -> None:
    model = shared_weight_model().eval()
    x = torch.randn(3, 1, 8, 8)
    outputs = onnx_predict(export_onnx(model, x[:1]), x.numpy())  # batch axis is dynamic
    with torch.no_grad():
        np.testing.assert_allclose(outputs, model(x).numpy(), rtol=1e-4, atol=1e-5)


def test_tradeoff_plot_is_a_png(tmp_path) -> None:
    model = shared_weight_model()
    reports = [
        build_report(model, "a", accuracy=0.9, baseline_accuracy=0.95),
        build_report(nn.Linear(8, 8), "b", accuracy=0.8, baseline_accuracy=0.95),
        build_report(nn.Linear(8, 8), "no-accuracy"),
    ]
    path = plot_tradeoffs(reports, tmp_path / "plots" / "tradeoffs.png", title="test")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


def test_per_channel_int_grid_is_encoded_with_channel_steps() -> None:
    from tessera.compression.quantize import QuantConfig, quantize_weights
    from tessera.compression.reports import channel_grid_codes

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 4))
    dense = build_report(model, "fp32")
    assert dense.encoding == "shared-codebook"
    assert channel_grid_codes([model[0].weight.detach().numpy()]) is None
    quantised = quantize_weights(model, QuantConfig(bits=4)).model
    report = build_report(quantised, "int4")
    assert report.encoding == "per-channel-grid"
    codes, channels = channel_grid_codes([quantised[0].weight.detach().numpy()])
    assert channels == 32 and codes.min() >= -8 and codes.max() <= 8
    # 36 channel steps + <= 4 bits per weight (Huffman) + biases, far under the shared codebook
    assert report.encoded_bytes <= 4 * 36 + 17 + (64 * 32 + 32 * 4) // 2 + 4 * 36
    assert report.encoded_bytes < report.encoded_bytes_lzma
