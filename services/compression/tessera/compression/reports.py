"""What a compressed model costs and keeps: the figures of every Compress result.

Weights analysed are the Conv/Linear weights (the tensors the methods compress); every other
parameter (biases, norms, embeddings-as-parameters) is counted in the sizes at fp32.

Compressed encoding (Deep Compression style, one shared codebook for the whole network):
``codebook`` (each distinct weight value, fp32) + ``indices`` entropy-coded with one canonical
Huffman code over all weights; its size is the exact Huffman length (sum of code lengths, computed
from the value counts, not approximated by the entropy) plus the code table (one byte of code
length per symbol) + the other parameters at fp32. ``encoded_bytes_lzma`` is the same with the
index stream compressed by lzma instead, as a cross-check.

Per-channel uniform grids (int8/int4 quantisation) would pay for a huge shared codebook, so a second
encoding is measured when every output channel's values are integer multiples of one step: one fp32
step per channel + the integer codes Huffman-coded with one code over the network. ``encoded_bytes``
is the smaller of the two and ``encoding`` names it ("shared-codebook" or "per-channel-grid").
"""

from __future__ import annotations

import heapq
import io
import lzma
import math
import statistics
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import numpy_helper
from pydantic import BaseModel, Field
from torch import nn

from tessera.compression.pruning.layers import COMPRESSIBLE, weight_tensor

INPUT_NAME = "input"
OUTPUT_NAME = "output"


class LayerStats(BaseModel):
    """One Conv/Linear weight tensor: size, zeros, distinct values, entropy (bits per weight)."""

    name: str
    parameters: int
    nonzero: int
    unique_values: int
    entropy_bits: float


class CompressionReport(BaseModel):
    """Figures of one compression result; ``model_dump_json()``/``to_json()`` give the stored JSON."""

    method: str
    accuracy: float | None = Field(None, description="quality on the caller's evaluation set (accuracy or Dice)")
    baseline_accuracy: float | None = None
    accuracy_drop: float | None = Field(None, description="baseline - accuracy, in accuracy units (0.01 = 1 point)")
    unique_values: int = Field(description="distinct Conv/Linear weight values over the whole network")
    unique_values_per_layer: dict[str, int]
    entropy_bits_per_weight: float = Field(description="Shannon entropy of the weight-value distribution")
    sparsity: float = Field(description="fraction of zero Conv/Linear weights")
    parameters: int = Field(description="all parameters of the model as stored")
    compressed_parameters: int = Field(description="Conv/Linear weights (what the methods compress)")
    nonzero_parameters: int = Field(description="nonzero entries over all parameters")
    fp32_bytes: int
    encoded_bytes: int = Field(description="smallest encoding (see ``encoding``) + other parameters at fp32")
    encoding: str = Field("shared-codebook", description="shared-codebook or per-channel-grid")
    encoded_bytes_lzma: int = Field(description="codebook + lzma-coded indices + other parameters at fp32")
    compression_ratio: float = Field(description="fp32_bytes / encoded_bytes")
    latency_ms: float | None = Field(None, description="median ONNX Runtime CPU latency of one batch")
    pruned_parameter_efficiency: float | None = None
    structure: str = "dense"
    layers: list[LayerStats] = Field(default_factory=list)
    steps: list[dict[str, Any]] = Field(default_factory=list)
    info: dict[str, Any] = Field(default_factory=dict)

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)


# ---------------------------------------------------------------- weight statistics


def compressible_weights(model: nn.Module) -> dict[str, np.ndarray]:
    """Effective Conv/Linear weights (prune masks applied) by qualified module name, as float32 arrays."""
    out = {}
    for name, module in model.named_modules():
        if isinstance(module, COMPRESSIBLE):
            out[name] = weight_tensor(module).detach().cpu().numpy().astype(np.float32, copy=False)
    return out


def entropy_bits(counts: np.ndarray) -> float:
    """Shannon entropy in bits per symbol of a histogram."""
    total = counts.sum()
    if total == 0:
        return 0.0
    p = counts[counts > 0] / total
    return float(-(p * np.log2(p)).sum())


def huffman_bits(counts: np.ndarray) -> int:
    """Exact total length in bits of the optimal prefix code for these symbol counts.

    The total equals the sum of the merged weights of Huffman's algorithm; one symbol still costs
    one bit per occurrence.
    """
    weights = [int(c) for c in counts if c > 0]
    if len(weights) <= 1:
        return sum(weights)
    heapq.heapify(weights)
    total = 0
    while len(weights) > 1:
        merged = heapq.heappop(weights) + heapq.heappop(weights)
        total += merged
        heapq.heappush(weights, merged)
    return total


def _index_dtype(n_symbols: int) -> type[np.unsignedinteger[Any]]:
    return np.uint8 if n_symbols <= 256 else np.uint16 if n_symbols <= 65536 else np.uint32


def encoding_sizes(weights: Sequence[np.ndarray], other_parameters: int) -> tuple[int, int]:
    """(Huffman bytes, lzma bytes) of codebook + indices + ``other_parameters`` fp32 values."""
    flat = np.concatenate([w.ravel() for w in weights]) if weights else np.zeros(0, np.float32)
    values, indices, counts = np.unique(flat, return_inverse=True, return_counts=True)
    codebook = 4 * len(values)
    table = len(values)  # canonical Huffman: one byte of code length per symbol
    huffman = codebook + table + math.ceil(huffman_bits(counts) / 8) + 4 * other_parameters
    packed = indices.astype(_index_dtype(len(values))).tobytes()
    lzma_size = codebook + len(lzma.compress(packed, preset=9)) + 4 * other_parameters
    return huffman, lzma_size


def channel_grid_codes(
    weights: Sequence[np.ndarray], tolerance: float = 1e-3, max_code: int = 2**15
) -> tuple[np.ndarray, int] | None:
    """Integer codes of weights lying on a per-output-channel uniform grid, and the channel count.

    A channel's step is its smallest gap between distinct values, or max|w| / k for the k of
    symmetric 2..8-bit grids; the channel is on the grid when every value is an integer multiple of
    that step (within ``tolerance`` steps) and no code exceeds ``max_code`` (fp32 weights fail
    both). None when any channel is off-grid.
    """
    codes, channels = [], 0
    for weight in weights:
        rows = weight.reshape(weight.shape[0], -1)
        channels += rows.shape[0]
        for row in rows:
            found = _row_codes(row, tolerance, max_code)
            if found is None:
                return None
            codes.append(found)
    return (np.concatenate(codes) if codes else np.zeros(0, np.int64)), channels


# Symmetric b-bit grids put the largest |w| at code 2^(b-1)-1 or 2^(b-1): steps amax/k are tried.
_GRID_DIVISORS = tuple(sorted({2**b - 1 for b in range(1, 9)} | {2**b for b in range(1, 9)}))


def _row_codes(row: np.ndarray, tolerance: float, max_code: int) -> np.ndarray | None:
    """Integer codes of one channel on its grid (step: the smallest gap, or max|w| / k), or None."""
    values = np.unique(row)
    if len(values) <= 1:
        return np.zeros(row.size, np.int64)
    amax = float(np.abs(values).max())
    for step in (float(np.diff(values).min()), *(amax / k for k in _GRID_DIVISORS)):
        if step <= 0:
            continue
        ratio = row / step
        rounded = np.round(ratio)
        if np.abs(rounded).max() <= max_code and np.abs(ratio - rounded).max() <= tolerance:
            return rounded.astype(np.int64)
    return None


def grid_encoding_bytes(weights: Sequence[np.ndarray], other_parameters: int) -> int | None:
    """Per-channel fp32 steps + Huffman-coded integer codes + code table + other parameters; None off-grid."""
    found = channel_grid_codes(weights)
    if found is None:
        return None
    codes, channels = found
    _, counts = np.unique(codes, return_counts=True)
    return 4 * channels + len(counts) + math.ceil(huffman_bits(counts) / 8) + 4 * other_parameters


def pruned_parameter_efficiency(
    accuracy: float, baseline_accuracy: float, nonzero: int, baseline_nonzero: int
) -> float:
    """Quality kept per share of parameters kept: (acc / acc_dense) / (nnz / nnz_dense).

    The survey (Hoefler et al. 2021) proposes a pruned-parameter-efficiency figure to compare sparse
    networks against their dense baseline; this is our reading of it (its exact formula was not
    available offline): 1.0 means quality fell in proportion to the parameters removed, 10.0 at 90%
    sparsity with no loss.
    """
    if baseline_accuracy <= 0 or nonzero <= 0 or baseline_nonzero <= 0:
        return float("nan")
    return (accuracy / baseline_accuracy) / (nonzero / baseline_nonzero)


# ---------------------------------------------------------------- ONNX export and latency


def export_onnx(model: nn.Module, example_input: torch.Tensor, opset: int = 17) -> bytes:
    """TorchScript-based ONNX export (batch axis dynamic) of ``model`` in eval mode; returns the bytes."""
    was_training = model.training
    model.eval()
    buffer = io.BytesIO()
    try:
        with torch.no_grad():
            torch.onnx.export(
                model, (example_input,), buffer, dynamo=False, opset_version=opset,  # type: ignore[arg-type]
                input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
            )
    finally:
        model.train(was_training)
    return buffer.getvalue()


def ort_session(model_bytes: bytes, threads: int = 1) -> ort.InferenceSession:
    """A CPU InferenceSession with a fixed thread count (latency figures stay comparable)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])


def onnx_predict(model_bytes: bytes, inputs: np.ndarray, threads: int = 1) -> np.ndarray:
    session = ort_session(model_bytes, threads)
    name = session.get_inputs()[0].name
    return np.asarray(session.run(None, {name: inputs.astype(np.float32)})[0])


def onnx_latency_ms(model_bytes: bytes, example_input: np.ndarray, repeats: int = 20, threads: int = 1,
                    extra_inputs: Mapping[str, np.ndarray] | None = None) -> float:
    """Median wall time of one ``session.run`` on ``example_input`` (plus constant ``extra_inputs`` for a
    model with more inputs) after 3 warm-up runs, in ms."""
    session = ort_session(model_bytes, threads)
    feed = {session.get_inputs()[0].name: example_input.astype(np.float32), **(extra_inputs or {})}
    for _ in range(3):
        session.run(None, feed)
    times = []
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        session.run(None, feed)
        times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times)


def onnx_weights(model_bytes: bytes) -> dict[str, np.ndarray]:
    """Weights of an ONNX model as the runtime sees them: int8 initialisers dequantised (QDQ), others as is.

    Keeps initialisers with >= 2 dimensions (Conv/Gemm/MatMul weights); named by initialiser.
    """
    graph = onnx.load_from_string(model_bytes).graph
    inits = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    out: dict[str, np.ndarray] = {}
    quantised = set()
    for node in graph.node:
        if node.op_type != "DequantizeLinear" or node.input[0] not in inits:
            continue
        q = inits[node.input[0]].astype(np.float32)
        scale = inits[node.input[1]].astype(np.float32)
        zero = inits[node.input[2]].astype(np.float32) if len(node.input) > 2 and node.input[2] else 0.0
        axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
        if np.ndim(scale) == 1 and q.ndim > 1:
            shape = [1] * q.ndim
            shape[axis] = -1
            scale = scale.reshape(shape)
            zero = np.reshape(zero, shape) if np.ndim(zero) == 1 else zero
        quantised.add(node.input[0])
        if q.ndim >= 2:
            out[node.input[0]] = ((q - zero) * scale).astype(np.float32)
    for name, array in inits.items():
        if name not in quantised and array.ndim >= 2 and array.dtype == np.float32:
            out[name] = array
    return out


# ---------------------------------------------------------------- the report


def build_report(
    model: nn.Module,
    method: str,
    accuracy: float | None = None,
    baseline_accuracy: float | None = None,
    baseline_nonzero: int | None = None,
    example_input: torch.Tensor | None = None,
    onnx_model: bytes | None = None,
    structure: str = "dense",
    steps: Sequence[Mapping[str, Any]] = (),
    info: Mapping[str, Any] | None = None,
    latency_repeats: int = 20,
) -> CompressionReport:
    """Measure ``model`` (and its ONNX form for latency: ``onnx_model`` if given, else exported).

    With ``onnx_model`` given (an int8 QDQ model), the weight statistics are those of its
    dequantised initialisers, i.e. what that model actually computes with.
    """
    weights = onnx_weights(onnx_model) if onnx_model is not None else compressible_weights(model)
    all_parameters = sum(p.numel() for p in model.parameters())
    compressed = sum(w.size for w in weights.values())
    other = max(all_parameters - sum(w.numel() for w in _torch_weights(model)), 0)
    nonzero = sum(int(np.count_nonzero(w)) for w in weights.values()) + sum(
        int(torch.count_nonzero(p)) for p in _other_parameters(model)
    )
    flat = np.concatenate([w.ravel() for w in weights.values()]) if weights else np.zeros(0, np.float32)
    _, counts = np.unique(flat, return_counts=True)
    huffman, lzma_size = encoding_sizes(list(weights.values()), other)
    grid = grid_encoding_bytes(list(weights.values()), other)
    encoding = "per-channel-grid" if grid is not None and grid < huffman else "shared-codebook"
    encoded = min(huffman, grid) if grid is not None else huffman
    layers = []
    for name, w in weights.items():
        _, layer_counts = np.unique(w, return_counts=True)
        layers.append(LayerStats(name=name, parameters=int(w.size), nonzero=int(np.count_nonzero(w)),
                                 unique_values=len(layer_counts), entropy_bits=entropy_bits(layer_counts)))
    latency = None
    if example_input is not None:
        latency = onnx_latency_ms(onnx_model or export_onnx(model, example_input), example_input.numpy(),
                                  repeats=latency_repeats)
    ppe = None
    if accuracy is not None and baseline_accuracy is not None and baseline_nonzero:
        ppe = pruned_parameter_efficiency(accuracy, baseline_accuracy, nonzero, baseline_nonzero)
    fp32 = 4 * all_parameters
    return CompressionReport(
        method=method, accuracy=accuracy, baseline_accuracy=baseline_accuracy,
        accuracy_drop=None if accuracy is None or baseline_accuracy is None else baseline_accuracy - accuracy,
        unique_values=len(counts), unique_values_per_layer={layer.name: layer.unique_values for layer in layers},
        entropy_bits_per_weight=entropy_bits(counts), sparsity=float((flat == 0).mean()) if flat.size else 0.0,
        parameters=all_parameters, compressed_parameters=int(compressed), nonzero_parameters=nonzero,
        fp32_bytes=fp32, encoded_bytes=encoded, encoding=encoding, encoded_bytes_lzma=lzma_size,
        compression_ratio=fp32 / encoded if encoded else float("inf"), latency_ms=latency,
        pruned_parameter_efficiency=ppe, structure=structure, layers=layers,
        steps=[dict(step) for step in steps], info=dict(info or {}),
    )


def _torch_weights(model: nn.Module) -> list[torch.Tensor]:
    return [weight_tensor(m) for m in model.modules() if isinstance(m, COMPRESSIBLE)]


def _other_parameters(model: nn.Module) -> list[torch.Tensor]:
    compressed = {id(w) for w in _torch_weights(model)}
    return [p for p in model.parameters() if id(p) not in compressed]
