"""Benchmark: probabilistic weight fixing vs k-means weight sharing on Fashion-MNIST.

Trains the ResNet-style CNN (tessera.compression.models.ResNetCNN) on Fashion-MNIST (Debian
package dataset-fashion-mnist, IDX files in /usr/share/datasets/fashion-mnist), compresses it with
PWF (paper settings unless reduced), then with Deep Compression k-means sharing at the same
number of unique values (global codebook, centroid fine-tuning), and prints accuracy and unique
values beside the paper's ImageNet figures. ``--quick``: a random subset and few epochs (< 4 min
on one CPU core); the defaults use all 60,000 + 10,000 images.

    .venv/bin/python tools/bench/compression_pwf.py --quick
"""

from __future__ import annotations

import argparse
import math
import time

import torch

from tessera.compression.datasets import load_fashion_mnist
from tessera.compression.kmeans import KMeansConfig, kmeans_weight_sharing
from tessera.compression.models import ResNetCNN, parameter_count
from tessera.compression.pwf import PWFConfig, RoundInfo, probabilistic_weight_fixing
from tessera.compression.pwf.layers import shared_values, unique_values
from tessera.compression.training import TrainConfig, TrainData, accuracy_evaluator, evaluate_accuracy, train

# Subia-Waud & Dasmahapatra, NeurIPS 2023: ImageNet, whole-network unique values after PWF. The abstract's
# headline: DeiT-Tiny (5M+ weights) in 296 unique values, top-1 +1.6 points over the previous best method.
PAPER = [("DeiT-Tiny / ImageNet (paper)", "296", "+1.6 pt top-1 vs previous best weight-sharing method")]


def entropy_bits(values: torch.Tensor) -> float:
    """Shannon entropy (bits per weight) of the distribution of shared values."""
    _, counts = torch.unique(values, return_counts=True)
    probabilities = counts.double() / counts.sum()
    return float(-(probabilities * torch.log2(probabilities)).sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="subset and few epochs (< 4 min on one core)")
    parser.add_argument("--train-size", type=int, default=None, help="training images (default all 60,000)")
    parser.add_argument("--test-size", type=int, default=None, help="test images (default all 10,000)")
    parser.add_argument("--epochs", type=float, default=None, help="baseline training epochs (default 15)")
    parser.add_argument("--round-epochs", type=float, default=None, help="PWF epochs per round (paper: 3)")
    parser.add_argument("--max-terms", type=int, default=4, help="PWF powers of two per centre (paper: 4)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.quick:
        torch.set_num_threads(1)
    train_size = args.train_size or (4000 if args.quick else None)
    test_size = args.test_size or (1000 if args.quick else None)
    epochs = args.epochs if args.epochs is not None else (5.0 if args.quick else 15.0)
    round_epochs = args.round_epochs if args.round_epochs is not None else (0.25 if args.quick else 3.0)
    torch.manual_seed(args.seed)

    splits = load_fashion_mnist(train_limit=train_size, test_limit=test_size, seed=args.seed)
    train_data = TrainData(splits.train.loader(batch_size=64, shuffle=True, seed=args.seed))
    evaluate = accuracy_evaluator(splits.test.loader(batch_size=500))
    print(f"data: Fashion-MNIST ({len(splits.train)} train / {len(splits.test)} test images, 28x28 grey, 10 classes)")

    model = ResNetCNN()
    started = time.perf_counter()
    train(model, train_data, TrainConfig(epochs=epochs, lr=0.05, weight_decay=5e-4, schedule="cosine"))
    baseline = evaluate_accuracy(model, splits.test.loader(batch_size=500))
    shared = int(shared_values(model).numel())
    print(
        f"baseline ResNetCNN: {parameter_count(model)} parameters ({shared} Conv/Linear weights+biases), "
        f"{epochs:g} epochs SGD cosine, test accuracy {baseline:.4f} ({time.perf_counter() - started:.0f} s), "
        f"{unique_values(model)} unique values"
    )

    def show(info: RoundInfo) -> None:
        print(
            f"  round {info.round:2d}/{info.rounds}: fixed {info.fixed_fraction:6.1%}  centres {info.centres:4d}  "
            f"unique {info.unique_values:6d}  acc {info.accuracy:.4f}  {info.seconds:5.1f} s  "
            f"delta {info.extra['delta']:g} terms {info.extra['terms']}"
        )

    pwf_config = PWFConfig(
        epochs_per_round=round_epochs, first_epochs=0.05, max_terms=args.max_terms, seed=args.seed
    )
    print(f"PWF (lr {pwf_config.lr}, {round_epochs:g} epochs/round, reg 2^-11, b=7, max terms {args.max_terms}):")
    started = time.perf_counter()
    pwf = probabilistic_weight_fixing(model, pwf_config, train_data, evaluate, show)
    pwf_seconds = time.perf_counter() - started
    # Same training budget for the k-means fine-tuning as PWF's retraining in total, at least one epoch.
    kmeans_epochs = max(1, math.ceil(round_epochs * (len(pwf_config.schedule) - 1)))
    kmeans_config = KMeansConfig(clusters=pwf.unique_values, scope="global", finetune_epochs=kmeans_epochs)
    started = time.perf_counter()
    kmeans = kmeans_weight_sharing(model, kmeans_config, train_data, evaluate)
    kmeans_seconds = time.perf_counter() - started
    mean_config = kmeans_config.model_copy(update={"gradient": "mean"})
    started = time.perf_counter()
    kmeans_mean = kmeans_weight_sharing(model, mean_config, train_data, evaluate)
    kmeans_mean_seconds = time.perf_counter() - started
    print(f"k-means after clustering (before fine-tuning): acc {kmeans.rounds[0].accuracy:.4f}")

    rows = [
        ("baseline (fp32)", baseline, unique_values(model), entropy_bits(shared_values(model)), 0.0),
        ("PWF", pwf.accuracy, pwf.unique_values, entropy_bits(shared_values(pwf.model)), pwf_seconds),
        (f"k-means global k={kmeans_config.clusters}, {kmeans_epochs} ep fine-tune", kmeans.accuracy,
         kmeans.unique_values, entropy_bits(shared_values(kmeans.model)), kmeans_seconds),
        (f"k-means global k={kmeans_config.clusters}, mean-gradient fine-tune", kmeans_mean.accuracy,
         kmeans_mean.unique_values, entropy_bits(shared_values(kmeans_mean.model)), kmeans_mean_seconds),
    ]
    print()
    print(f"{'method':44s} {'accuracy':>9s} {'drop':>7s} {'unique':>7s} {'bits/w':>7s} {'seconds':>8s}")
    for name, accuracy, unique, bits, seconds in rows:
        drop = 100 * (baseline - accuracy) if accuracy is not None else float("nan")
        print(f"{name:44s} {accuracy:9.4f} {drop:6.2f}p {unique:7d} {bits:7.2f} {seconds:8.0f}")
    for name, unique_text, figure in PAPER:
        print(f"{name:44s} {'':>9s} {'':>7s} {unique_text:>7s}   {figure}")
    max_terms = max(bin(int(abs(value) * 2**7)).count("1") for value in pwf.codebook)
    print(f"PWF codebook: {len(pwf.codebook)} values, each a sum of <= {max_terms} powers of two; "
          f"range [{min(pwf.codebook):g}, {max(pwf.codebook):g}]")
    best_kmeans = max(kmeans.accuracy or 0.0, kmeans_mean.accuracy or 0.0)
    print(f"PWF - best k-means at equal unique values: {100 * ((pwf.accuracy or 0.0) - best_kmeans):+.2f} points")


if __name__ == "__main__":
    main()
