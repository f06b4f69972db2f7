"""ONNX export of the scoring network and its check against PyTorch.

The exported graph (:class:`~tessera.graph.hypersagnn.TableScorer`) has

- input ``ids`` (N, L) int64: global node id + 1, 0 = padding;
- input ``mask`` (N, L) float32: 1 = member, 0 = padding;
- outputs ``score`` (N,) float32 (hyperedge probability) and ``node_scores`` (N, L) float32 (per member);

N and L dynamic, so one request may mix set sizes. Node features are baked in as a constant table.
The TorchScript exporter (``dynamo=False``) is used, as elsewhere in Tessera: it needs no onnxscript.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
import onnxruntime as ort
import torch

from tessera.core.errors import InvalidArgument
from tessera.graph.hypersagnn import HyperSAGNN, TableScorer

INPUT_IDS = "ids"
INPUT_MASK = "mask"
OUTPUT_SCORE = "score"
OUTPUT_NODES = "node_scores"
OPSET = 17


def export_scorer(model: HyperSAGNN, opset: int = OPSET) -> bytes:
    """ONNX bytes of the model's scoring network in eval mode."""
    scorer = TableScorer(model).eval()
    ids = torch.tensor([[1, 2, 0], [1, 2, 3]], dtype=torch.long)
    mask = (ids != 0).float()
    axes = {0: "batch", 1: "members"}
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about Python ints from shapes are expected
        torch.onnx.export(
            scorer, (ids, mask), buffer, dynamo=False, opset_version=opset,  # type: ignore[arg-type]
            input_names=[INPUT_IDS, INPUT_MASK], output_names=[OUTPUT_SCORE, OUTPUT_NODES],
            dynamic_axes={INPUT_IDS: axes, INPUT_MASK: axes, OUTPUT_SCORE: {0: "batch"}, OUTPUT_NODES: axes},
        )
    return buffer.getvalue()


def make_session(model: bytes) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


@dataclass(frozen=True)
class ExportCheck:
    max_abs_score: float
    max_abs_nodes: float


def check_export(model: HyperSAGNN, onnx_bytes: bytes, ids: np.ndarray, mask: np.ndarray,
                 tolerance: float = 1e-4) -> ExportCheck:
    """Compare onnxruntime with PyTorch on a padded batch; raise when they differ by more than ``tolerance``."""
    scorer = TableScorer(model).eval()
    with torch.no_grad():
        ref_score, ref_nodes = scorer(torch.from_numpy(ids), torch.from_numpy(mask))
    score, nodes = make_session(onnx_bytes).run(None, {INPUT_IDS: ids, INPUT_MASK: mask})
    check = ExportCheck(float(np.abs(score - ref_score.numpy()).max()), float(np.abs(nodes - ref_nodes.numpy()).max()))
    if max(check.max_abs_score, check.max_abs_nodes) > tolerance:
        raise InvalidArgument.field("onnx", f"ONNX differs from PyTorch by {check} (> {tolerance})")
    return check
