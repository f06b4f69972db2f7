"""The compression service's part of ``make demo``: the capacity-planning estimate, then a small CNN trained
on real Fashion-MNIST images, registered, compressed by probabilistic weight fixing through the Compress job,
and the compressed version served by Triton next to in-process onnxruntime."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import grpc
import numpy as np

from tessera.cli.up import start_services
from tessera.core.artifacts.factory import open_store
from tessera.core.inference import ModelRepository
from tessera.core.inference.onnxruntime_backend import OnnxRuntimeBackend
from tessera.core.inference.triton_backend import TritonBackend
from tessera.core.jobs import state_name
from tessera.demo.pipeline import settings_for_stack
from tessera.devstack import DevStack
from tessera.v1 import common_pb2, common_pb2_grpc, compression_pb2, compression_pb2_grpc

NOTE = ("demo scale: a CNN trained for 1 epoch on 6,000 Fashion-MNIST images, PWF with a 3-round schedule "
        "(quality is measured by tools/bench/compression_*.py, not here)")
MODEL = "demo-cnn"
PWF = {"schedule": [0.5, 0.9, 1.0], "first_epochs": 0.2, "epochs_per_round": 0.2, "train_samples": 3000,
       "eval_samples": 2000, "batch_size": 64, "latency_repeats": 3}


@dataclass
class CompressionReport:
    estimate: str = ""
    source: str = ""
    job: str = ""
    result: str = ""
    served: str = ""
    ok: bool = False

    def lines(self) -> list[str]:
        return [NOTE, f"EstimateTrainingAccuracy: {self.estimate}", f"registered: {self.source}",
                f"Compress job (pwf): {self.job}", f"  result: {self.result}", f"  served: {self.served}"]


def _register(stack: DevStack) -> tuple[int, float]:
    """Train the reference CNN briefly on real images and register it (the Compress job's input)."""
    import torch

    from tessera.compression.datasets import load_dataset
    from tessera.compression.registry import InputSpec, ModelRegistry, build_architecture
    from tessera.compression.training import TrainConfig, TrainData, evaluate_accuracy, train

    torch.manual_seed(0)
    splits = load_dataset("fashion-mnist", train_limit=6000, test_limit=2000, seed=0)
    kwargs = {"in_channels": splits.train.input_shape[0], "num_classes": splits.train.num_classes}
    model = build_architecture("resnet_cnn", kwargs)
    train(model, TrainData(splits.train.loader(128, shuffle=True, seed=0)),
          TrainConfig(epochs=1.0, lr=0.05, schedule="cosine"))
    accuracy = evaluate_accuracy(model, splits.test.loader(256))
    settings = settings_for_stack(stack)
    repo = ModelRepository(open_store(settings), settings.model_repository_prefix)
    done = ModelRegistry(repo).register(MODEL, model, "resnet_cnn", kwargs,
                                        InputSpec(splits.train.input_shape, splits.train.num_classes),
                                        metrics={"accuracy": accuracy, "dataset": "fashion-mnist"})
    return done.version, accuracy


def run_compression(stack: DevStack, log_dir: Path) -> CompressionReport:
    report = CompressionReport()
    service = start_services(stack, log_dir, only=["compression"])[0]
    try:
        with grpc.insecure_channel(f"127.0.0.1:{service.grpc_port}") as channel:
            stub, jobs = compression_pb2_grpc.CompressionStub(channel), common_pb2_grpc.JobsStub(channel)
            est = stub.EstimateTrainingAccuracy(compression_pb2.EstimateTrainingAccuracyRequest(d=10, n=200, l=8))
            report.estimate = (f"d=10, N=200, L=8 -> {est.training_accuracy:.3f} ({est.regions:.0f} regions, "
                               f"{est.points_per_region:.2f} points per region; no training)")
            version, accuracy = _register(stack)
            report.source = f"{MODEL} v{version}, test accuracy {accuracy:.1%} on 2,000 held-out images"
            output = f"{MODEL}-pwf"
            started = time.monotonic()
            job = stub.Compress(compression_pb2.CompressRequest(
                model=compression_pb2.ModelRef(name=MODEL), dataset=compression_pb2.DatasetRef(name="fashion-mnist"),
                method=compression_pb2.COMPRESSION_METHOD_PWF, config_json=json.dumps(PWF), output_model=output,
                seed=0), timeout=60)
            final = list(jobs.WatchJob(common_pb2.WatchJobRequest(id=job.id), timeout=1200))[-1]
            report.job = f"{state_name(final.state)} in {time.monotonic() - started:.1f}s"
            if final.state != common_pb2.JOB_STATE_SUCCEEDED:
                report.job += f": {final.error.message}"
                return report
            settings = settings_for_stack(stack)
            store = open_store(settings)
            data = json.loads(store.get_bytes(final.results[1].uri.split("/", 3)[3]))
            report.result = (f"{output} v{data['output_model']['version']}: accuracy {data['accuracy']:.1%} "
                             f"(source {data['baseline']['accuracy']:.1%}), {data['unique_values']} unique weight "
                             f"values, {data['compressed_bytes'] / 1024:.0f} KiB encoded vs "
                             f"{data['fp32_bytes'] / 1024:.0f} KiB fp32")
            repo = ModelRepository(store, settings.model_repository_prefix)
            batch = {"input": np.random.default_rng(0).normal(size=(4, 1, 28, 28)).astype(np.float32)}
            assert stack.triton is not None
            with TritonBackend(stack.triton.grpc_url, index_wait_s=30) as triton:
                triton.load(output)
                served = triton.infer(output, batch)["output"]
            local = OnnxRuntimeBackend(repo).infer(output, batch)["output"]
            diff = float(np.abs(served - local).max())
            report.served = f"Triton vs in-process onnxruntime max |diff| {diff:.1e}"
            report.ok = diff < 1e-4 and data["unique_values"] < 1000
    finally:
        service.process.stop()
    return report
