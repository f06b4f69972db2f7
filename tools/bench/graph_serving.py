"""Inference throughput of tools/bench/hypergraph.py: the exported scorer through onnxruntime and through Triton."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tessera.graph.batching import pad_sets
from tessera.graph.export import INPUT_IDS, INPUT_MASK, OUTPUT_SCORE, export_scorer, make_session
from tessera.graph.hypersagnn import HyperSAGNN


def throughput(model, sets: list[np.ndarray], batch: int = 1024) -> float:
    """Sets per second through onnxruntime (one thread), batches of ``batch`` padded sets."""
    session = make_session(export_scorer(model))
    batches = [pad_sets(sets[i: i + batch]) for i in range(0, len(sets), batch)]
    start = time.perf_counter()
    for ids, mask in batches:
        session.run(None, {INPUT_IDS: ids, INPUT_MASK: mask})
    return len(sets) / (time.perf_counter() - start)


@dataclass(frozen=True)
class TritonResult:
    sets_per_s: float
    ort_sets_per_s: float  # same batches, in-process onnxruntime, for the side-by-side
    batch: int
    max_abs_diff: float  # |Triton - onnxruntime| over all scores
    stack_start_s: float
    load_s: float


def triton_throughput(model: HyperSAGNN, sets: list[np.ndarray], batch: int = 64) -> TritonResult:
    """Sets per second of the exported scorer through Triton (gRPC, sequential requests of ``batch`` padded sets).

    The dev stack (moto S3 + tritonserver, no Kafka) is started for the measurement and stopped after it; the model
    goes through the S3 model repository and an explicit load, as in the service. ``batch`` is at most the published
    config's ``max_batch_size`` (64, the service's ``TESSERA_GRAPH_INFER_BATCH`` default).
    """
    # Imported here: a training-only run (e.g. on a GPU machine without the dev stack's packages) does not need them.
    from tessera.core.artifacts.factory import open_store
    from tessera.core.inference import ModelRepository
    from tessera.core.inference.triton_backend import TritonBackend
    from tessera.core.settings import TesseraSettings, load_settings
    from tessera.devstack import DevStack, StackConfig

    onnx_bytes = export_scorer(model)
    batches = [pad_sets(sets[i: i + batch]) for i in range(0, len(sets), batch)]
    t0 = time.perf_counter()
    stack = DevStack(StackConfig(log_dir=Path(".stack") / "bench-graph", kafka=False)).start()
    stack_s = time.perf_counter() - t0
    try:
        assert stack.triton is not None
        overrides: dict[str, object] = {k.removeprefix("TESSERA_").lower(): v for k, v in stack.env().items()}
        settings = load_settings(TesseraSettings, **overrides)
        ModelRepository(open_store(settings), settings.model_repository_prefix).publish("graph-bench", onnx_bytes)
        triton = TritonBackend(stack.triton.grpc_url)
        try:
            t0 = time.perf_counter()
            triton.load("graph-bench")
            load_s = time.perf_counter() - t0
            for ids, mask in batches[:3]:  # warm-up
                triton.infer("graph-bench", {INPUT_IDS: ids, INPUT_MASK: mask})
            start = time.perf_counter()
            scores = [triton.infer("graph-bench", {INPUT_IDS: ids, INPUT_MASK: mask})[OUTPUT_SCORE]
                      for ids, mask in batches]
            triton_s = time.perf_counter() - start
        finally:
            triton.close()
    finally:
        stack.stop()
    session = make_session(onnx_bytes)
    start = time.perf_counter()
    ort_scores = [session.run([OUTPUT_SCORE], {INPUT_IDS: ids, INPUT_MASK: mask})[0] for ids, mask in batches]
    ort_s = time.perf_counter() - start
    diff = float(np.abs(np.concatenate(scores).ravel() - np.concatenate(ort_scores).ravel()).max())
    return TritonResult(len(sets) / triton_s, len(sets) / ort_s, batch, diff, stack_s, load_s)
