"""Reports of models known only as ONNX (int8 of a plain ONNX model, the segmentation path): weights read
back from the graph, the same :class:`~tessera.compression.reports.CompressionReport` as torch methods."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import onnx


def onnx_report(onnx_bytes: bytes, method: str, parameters: int, accuracy: float | None,
                baseline_accuracy: float | None, example: np.ndarray, latency_repeats: int,
                extra_inputs: Mapping[str, np.ndarray] | None = None) -> Any:
    """The report of a model known only as ONNX: its (dequantised) weights, ``parameters`` fp32 values in all;
    ``extra_inputs``: constant values of inputs besides ``example``'s (for the latency run)."""
    from tessera.compression.reports import (
        CompressionReport,
        LayerStats,
        encoding_sizes,
        entropy_bits,
        grid_encoding_bytes,
        onnx_latency_ms,
        onnx_weights,
    )

    weights = onnx_weights(onnx_bytes)
    compressed = sum(w.size for w in weights.values())
    other = max(parameters - compressed, 0)
    flat = np.concatenate([w.ravel() for w in weights.values()]) if weights else np.zeros(0, np.float32)
    _, counts = np.unique(flat, return_counts=True)
    huffman, lzma_size = encoding_sizes(list(weights.values()), other)
    grid = grid_encoding_bytes(list(weights.values()), other)
    encoded = min(huffman, grid) if grid is not None else huffman
    layers = []
    for name, w in weights.items():
        layer_counts = np.unique(w, return_counts=True)[1]
        layers.append(LayerStats(name=name, parameters=int(w.size), nonzero=int(np.count_nonzero(w)),
                                 unique_values=len(layer_counts), entropy_bits=entropy_bits(layer_counts)))
    return CompressionReport(
        method=method, accuracy=accuracy, baseline_accuracy=baseline_accuracy,
        accuracy_drop=None if accuracy is None or baseline_accuracy is None else baseline_accuracy - accuracy,
        unique_values=len(counts), unique_values_per_layer={layer.name: layer.unique_values for layer in layers},
        entropy_bits_per_weight=entropy_bits(counts), sparsity=float((flat == 0).mean()) if flat.size else 0.0,
        parameters=parameters, compressed_parameters=int(compressed),
        nonzero_parameters=int(np.count_nonzero(flat)) + other, fp32_bytes=4 * parameters, encoded_bytes=encoded,
        encoding="per-channel-grid" if grid is not None and grid < huffman else "shared-codebook",
        encoded_bytes_lzma=lzma_size, compression_ratio=4 * parameters / encoded if encoded else float("inf"),
        latency_ms=onnx_latency_ms(onnx_bytes, example, repeats=latency_repeats, extra_inputs=extra_inputs),
        structure="onnx", layers=layers)


def float_parameters(onnx_bytes: bytes) -> int:
    """Values of the float initialisers of an ONNX graph (an fp32 model's parameter count)."""
    graph = onnx.load_from_string(onnx_bytes).graph
    return sum(int(np.prod(t.dims)) for t in graph.initializer if t.data_type == onnx.TensorProto.FLOAT)

