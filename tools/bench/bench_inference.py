"""Inference latency and throughput of one reference CNN: Triton vs in-process onnxruntime vs PyTorch eager.

Model: a small ResNet-style 2D CNN (stem conv 3->32 + 3 residual stages 32/64/128 channels with
stride-2 downsampling, global average pool, 10-class linear head; 0.31 M parameters), random
weights (seed 0), built in torch and exported to ONNX with a dynamic batch axis. Input: synthetic
float32 noise of shape [batch, 3, 64, 64], batch 1 and 8. No external data.

Triton is the dev stack's (real tritonserver from nvidia-pytriton, python backend running
onnxruntime on CPU), reached over gRPC by ``TritonBackend``; the model goes through the S3 model
repository (moto) and explicit load, as in production. One client, sequential requests:
latency p50/p99 per request, throughput = images per second.

Run: .venv/bin/python tools/bench/bench_inference.py [--iters N]
"""

from __future__ import annotations

import argparse
import functools
import io
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from tessera.core.artifacts.factory import open_store
from tessera.core.inference import ModelRepository
from tessera.core.inference.onnxruntime_backend import OnnxRuntimeBackend
from tessera.core.inference.triton_backend import TritonBackend
from tessera.core.settings import TesseraSettings, load_settings
from tessera.devstack import DevStack, StackConfig

IMAGE = (3, 64, 64)
CLASSES = 10


class Block(nn.Module):
    """Two 3x3 convs with batch norm and a (projected when the shape changes) skip connection."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout),
        )
        self.skip: nn.Module = (
            nn.Identity() if stride == 1 and cin == cout
            else nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.skip(x))


def reference_cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, 1, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU(inplace=True),
        Block(32, 32, 1), Block(32, 64, 2), Block(64, 128, 2),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, CLASSES),
    ).eval()


def export_onnx(net: nn.Module) -> bytes:
    buf: Any = io.BytesIO()
    torch.onnx.export(net, (torch.randn(1, *IMAGE),), buf, input_names=["image"], output_names=["logits"],
                      dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}}, dynamo=False)
    return bytes(buf.getvalue())


def measure(run: Callable[[], object], iters: int, warmup: int = 5) -> tuple[float, float, float]:
    """(p50 ms, p99 ms, total s) of ``iters`` sequential calls after ``warmup``."""
    for _ in range(warmup):
        run()
    times = []
    start = time.perf_counter()
    for _ in range(iters):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    total = time.perf_counter() - start
    return float(np.percentile(times, 50) * 1e3), float(np.percentile(times, 99) * 1e3), total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=200, help="timed requests per backend and batch size")
    args = parser.parse_args()

    net = reference_cnn()
    onnx_bytes = export_onnx(net)
    params = sum(p.numel() for p in net.parameters())
    t0 = time.perf_counter()
    stack = DevStack(StackConfig(log_dir=Path(".stack") / "bench", kafka=False)).start()
    stack_s = time.perf_counter() - t0
    try:
        assert stack.triton is not None
        triton_start_s = stack.triton.startup_s
        overrides: dict[str, object] = {k.removeprefix("TESSERA_").lower(): v for k, v in stack.env().items()}
        settings = load_settings(TesseraSettings, **overrides)
        repo = ModelRepository(open_store(settings), settings.model_repository_prefix)
        repo.publish("refcnn", onnx_bytes)
        triton = TritonBackend(stack.triton.grpc_url)
        t0 = time.perf_counter()
        triton.load("refcnn")
        load_s = time.perf_counter() - t0
        ort_backend = OnnxRuntimeBackend(repo)
        ort_backend.load("refcnn")

        rows = []
        for batch in (1, 8):
            x = np.random.default_rng(batch).standard_normal((batch, *IMAGE)).astype(np.float32)
            xt = torch.from_numpy(x)
            ref = ort_backend.infer("refcnn", {"image": x})["logits"]
            diff = float(np.abs(triton.infer("refcnn", {"image": x})["logits"] - ref).max())

            def eager(xt: torch.Tensor = xt) -> object:
                with torch.inference_mode():
                    return net(xt)

            runs: dict[str, Callable[[], object]] = {
                "triton (gRPC)": functools.partial(triton.infer, "refcnn", {"image": x}),
                "onnxruntime in-process": functools.partial(ort_backend.infer, "refcnn", {"image": x}),
                "pytorch eager": eager,
            }
            for name, run in runs.items():
                p50, p99, total = measure(run, args.iters)
                rows.append((name, batch, p50, p99, batch * args.iters / total))
        triton.close()
    finally:
        stack.stop()

    print(f"Reference CNN: ResNet-style, {params / 1e6:.2f} M params, random weights (seed 0), "
          f"synthetic float32 input [batch, {', '.join(map(str, IMAGE))}], {args.iters} sequential requests each")
    print(f"CPU threads: torch {torch.get_num_threads()}, cores {os.cpu_count()}; "
          f"Triton: tritonserver from nvidia-pytriton 0.7.0, python backend + onnxruntime (CPU)")
    print(f"Dev stack (moto S3 + Triton) start: {stack_s:.1f} s (Triton {triton_start_s:.1f} s); "
          f"Triton model load: {load_s:.2f} s; max |triton - onnxruntime| at batch 8: {diff:.2e}")
    print()
    print(f"{'backend':<24} {'batch':>5} {'p50 ms':>9} {'p99 ms':>9} {'images/s':>10}")
    for name, batch, p50, p99, rate in rows:
        print(f"{name:<24} {batch:>5} {p50:>9.2f} {p99:>9.2f} {rate:>10.1f}")


if __name__ == "__main__":
    main()
