"""Pruning and quantisation baselines of the compression service on Fashion-MNIST (issue 5, part 2-3).

Usage: ``.venv/bin/python tools/bench/compression_pruning.py [--quick] [--epochs 8] [--finetune-epochs 2]
[--train-limit N] [--test-limit N] [--model cnn|resnet] [--threads N] [--out DIR]``

Data: Fashion-MNIST IDX files from Debian's ``dataset-fashion-mnist`` (/usr/share/datasets/fashion-mnist;
60,000 train + 10,000 test 28x28 images, 10 classes), loaded by ``tessera.compression.datasets``. Full scale
uses every image; ``--quick`` a random 4,000 / 2,000 subset, 3 training epochs and 1 fine-tuning epoch
(1 CPU thread, a few minutes). Model: a plain CNN (conv16-BN-ReLU-pool, conv32-BN-ReLU-pool, fc64, fc10;
~106k parameters; ``--model resnet``: the service's ResNetCNN) trained here from scratch with Adam; every
method starts from the same trained weights (the lottery ticket from the same initialisation) and
fine-tunes on the same training batches.

Figures per method, all on the test split: accuracy; unique Conv/Linear weight values over the network;
weight entropy (bits/weight); compressed size = shared fp32 codebook + canonical-Huffman-coded indices (exact
code length), or for per-channel int grids one fp32 step per channel + Huffman-coded integer codes, whichever
is smaller (column "enc"), + other parameters at fp32, vs the fp32 model; sparsity of the Conv/Linear weights; nonzero
parameters; ONNX Runtime CPU latency (1 thread, batch 1, median of 50 runs; the int8 row runs ORT's QDQ
int8 model, all others the exported fp32 graph: zeros and int grids are not faster in dense kernels);
pruned-parameter efficiency (accuracy kept / parameters kept, see tessera.compression.reports).
A JSON of every report and the trade-off PNG go to ``--out``.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from tessera.compression.datasets import load_fashion_mnist
from tessera.compression.plots import plot_tradeoffs
from tessera.compression.pruning import (
    ChannelConfig,
    GradualConfig,
    LotteryConfig,
    MagnitudeConfig,
    MethodResult,
    MovementConfig,
    NMConfig,
    TrainData,
    channel_prune,
    gradual_magnitude_prune,
    lottery_ticket,
    magnitude_prune,
    movement_prune,
    nm_prune,
    prune_then_quantize,
)
from tessera.compression.pruning.config import FinetuneConfig
from tessera.compression.pruning.finetune import train
from tessera.compression.quantize import QuantConfig, quantize_onnx_int8, quantize_weights
from tessera.compression.reports import CompressionReport, build_report, export_onnx, onnx_predict

PEERS = (
    "Published peers (other models/data, for scale only): Han et al. 2015, LeNet-5 on MNIST: 92% of weights "
    "pruned with no accuracy loss; Deep Compression (Han et al. 2016), LeNet-5 on MNIST: 39x smaller "
    "(pruning + quantisation + Huffman) with no accuracy loss; Zhu & Gupta 2017: large-sparse beats small-dense "
    "at equal size, up to 10x fewer nonzeros with minimal loss; 2:4 sparsity (Mishra et al. 2021): ImageNet CNNs "
    "within ~0.5 points after retraining."
)


def small_cnn(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 7 * 7, 64), nn.ReLU(), nn.Linear(64, 10),
    )


def batches(x: torch.Tensor, y: torch.Tensor, size: int, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    return [(x[order[i:i + size]], y[order[i:i + size]]) for i in range(0, len(y), size)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4,000/2,000 images, 3 epochs, 1 fine-tuning epoch")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--finetune-epochs", type=int, default=None)
    parser.add_argument("--train-limit", type=int, default=None)
    parser.add_argument("--test-limit", type=int, default=None)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--model", choices=("cnn", "resnet"), default="cnn",
                        help="plain CNN (channel pruning shrinks it) or tessera.compression.models.ResNetCNN")
    parser.add_argument("--out", type=Path, default=Path(".tessera/bench/compression_pruning"))
    args = parser.parse_args(argv)
    quick = args.quick
    epochs = args.epochs or (3 if quick else 8)
    ft = args.finetune_epochs or (1 if quick else 2)
    train_limit = args.train_limit or (4000 if quick else None)
    test_limit = args.test_limit or (2000 if quick else None)
    torch.set_num_threads(args.threads or (1 if quick else 2))
    started = time.perf_counter()

    splits = load_fashion_mnist(train_limit=train_limit, test_limit=test_limit, seed=0)
    x_train, y_train = splits.train.images, splits.train.labels
    x_test, y_test = splits.test.images, splits.test.labels
    data = TrainData(batches(x_train, y_train, 64, seed=0))
    print(f"data: Fashion-MNIST (/usr/share/datasets/fashion-mnist), train {len(y_train)}, test {len(y_test)}; "
          f"training {epochs} epochs, fine-tuning {ft}; {torch.get_num_threads()} thread(s)")

    def accuracy(model: nn.Module) -> float:
        model.eval()
        with torch.no_grad():
            hits = sum(int((model(x_test[i:i + 500]).argmax(1) == y_test[i:i + 500]).sum())
                       for i in range(0, len(y_test), 500))
        return hits / len(y_test)

    if args.model == "resnet":
        from tessera.compression.models import ResNetCNN

        torch.manual_seed(0)
        init: nn.Module = ResNetCNN(in_channels=1, num_classes=10)
    else:
        init = small_cnn(0)
    dense = copy.deepcopy(init)
    train(dense, data, FinetuneConfig(finetune_epochs=epochs, lr=1e-3, optimizer="adam"))
    base_acc = accuracy(dense)
    base_nnz = sum(int(torch.count_nonzero(p)) for p in dense.parameters())
    print(f"dense {args.model}: test accuracy {100 * base_acc:.2f}% ({time.perf_counter() - started:.0f} s)")
    example = x_test[:1]

    adam = {"lr": 5e-4, "optimizer": "adam", "finetune_epochs": ft}
    steps_per_epoch = len(data.batches)  # type: ignore[arg-type]
    runs: list[tuple[str, Callable[[], MethodResult]]] = [
        ("magnitude-global 80%", lambda: magnitude_prune(dense, MagnitudeConfig(sparsity=0.8, **adam), data, accuracy)),
        ("magnitude-layer 80%", lambda: magnitude_prune(
            dense, MagnitudeConfig(sparsity=0.8, scope="layer", **adam), data, accuracy)),
        ("gmp 80% (cubic)", lambda: gradual_magnitude_prune(dense, GradualConfig(
            final_sparsity=0.8, prune_every=max(1, steps_per_epoch * (ft + 1) // 12), num_events=10,
            **{**adam, "finetune_epochs": ft + 1}), data, accuracy)),
        ("channel-L1 50%", lambda: channel_prune(dense, ChannelConfig(amount=0.5, norm=1, **adam), data,
                                                             accuracy)),
        ("channel-L2 50%", lambda: channel_prune(dense, ChannelConfig(amount=0.5, norm=2, **adam), data,
                                                             accuracy)),
        ("nm 2:4", lambda: nm_prune(dense, NMConfig(n=2, m=4, **adam), data, accuracy)),
        ("movement 80%", lambda: movement_prune(dense, MovementConfig(
            final_sparsity=0.8, update_every=1, **{**adam, "finetune_epochs": ft + 1}),
            data, accuracy)),
        ("lth 3 rounds (78%)", lambda: lottery_ticket(init, LotteryConfig(
            rounds=3, prune_fraction=0.4, rewind_step=steps_per_epoch // 4, finetune_epochs=max(1, epochs // 2),
            lr=1e-3, optimizer="adam"), data, accuracy)),
        ("int8 ptq (weights)", lambda: quantize_weights(dense, QuantConfig(bits=8), evaluate=accuracy)),
        ("int4 ptq (weights)", lambda: quantize_weights(dense, QuantConfig(bits=4), evaluate=accuracy)),
        ("int4 qat (weights)", lambda: quantize_weights(dense, QuantConfig(bits=4, mode="qat", **adam), data,
                                                         accuracy)),
        ("gmp 80% + int4 qat", lambda: prune_then_quantize(
            dense, gradual_magnitude_prune, GradualConfig(
                final_sparsity=0.8, prune_every=max(1, steps_per_epoch * (ft + 1) // 12), num_events=10,
                **{**adam, "finetune_epochs": ft + 1}),
            QuantConfig(bits=4, mode="qat", **adam), data, accuracy)),
    ]
    reports: list[CompressionReport] = [
        build_report(dense, "dense fp32", base_acc, base_acc, base_nnz, example, latency_repeats=50)
    ]
    for name, run in runs:
        t0 = time.perf_counter()
        result = run()
        report = build_report(result.model, name, result.accuracy, base_acc, base_nnz, example,
                              structure=result.structure, latency_repeats=50,
                              steps=[vars(s) for s in result.steps], info={"seconds": time.perf_counter() - t0})
        reports.append(report)
        print(f"  {name}: {100 * (result.accuracy or 0):.2f}% in {time.perf_counter() - t0:.0f} s", flush=True)

    # Real int8 (weights + activations) through ONNX Runtime's static quantiser, calibrated on 512 train images.
    t0 = time.perf_counter()
    int8 = quantize_onnx_int8(export_onnx(dense, example), [x_train[i:i + 64].numpy() for i in range(0, 512, 64)])
    int8_acc = float((onnx_predict(int8, x_test.numpy()).argmax(1) == y_test.numpy()).mean())
    reports.append(build_report(dense, "int8 ORT static (QDQ)", int8_acc, base_acc, base_nnz, example, onnx_model=int8,
                                structure="int8 onnx", latency_repeats=50,
                                info={"seconds": time.perf_counter() - t0}))

    print()
    header = (f"{'method':<28}{'acc %':>7}{'drop':>7}{'unique':>9}{'bits/w':>7}{'size KiB':>10}{'x fp32':>8}"
              f"{'sparse %':>9}{'nonzero':>9}{'lat ms':>8}{'PPE':>7}  enc   structure")
    print(header)
    print("-" * len(header))
    for r in reports:
        print(f"{r.method:<28}{100 * (r.accuracy or 0):>7.2f}{100 * (r.accuracy_drop or 0):>7.2f}"
              f"{r.unique_values:>9d}{r.entropy_bits_per_weight:>7.2f}{r.encoded_bytes / 1024:>10.1f}"
              f"{r.compression_ratio:>8.2f}{100 * r.sparsity:>9.1f}{r.nonzero_parameters:>9d}"
              f"{(r.latency_ms or 0):>8.3f}{(r.pruned_parameter_efficiency or 0):>7.2f}  "
              f"{'grid' if r.encoding == 'per-channel-grid' else 'book':<6}{r.structure}")
    print(f"fp32 model: {reports[0].fp32_bytes / 1024:.1f} KiB, {reports[0].parameters} parameters. "
          "size: book = fp32 codebook + Huffman-coded indices, grid = per-channel fp32 step + Huffman-coded int codes; "
          "+ other params fp32 (a dense fp32 net has ~1 value per weight, so its 'compressed' size exceeds fp32).")
    print(PEERS)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "reports.json").write_text(json.dumps([json.loads(r.to_json()) for r in reports], indent=1))
    title = f"Fashion-MNIST {args.model}: pruning and quantisation"
    png = plot_tradeoffs(reports, args.out / "tradeoffs.png", title=title)
    print(f"reports: {args.out / 'reports.json'}; plot: {png}; total {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    np.set_printoptions(precision=4)
    sys.exit(main())
