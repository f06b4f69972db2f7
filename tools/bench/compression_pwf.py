"""Benchmark: probabilistic weight fixing vs k-means weight sharing on Fashion-MNIST, and PWF's scaling.

Data: Fashion-MNIST (Debian package dataset-fashion-mnist, IDX files in /usr/share/datasets/fashion-mnist):
all 60,000 training images, all 10,000 test images. Model: tessera.compression.models.ResNetCNN (78k
Conv/Linear weights), trained here (SGD, cosine schedule; the trained state is cached, see --baseline-cache,
because one epoch takes minutes on one CPU core).

For each PWF configuration (the paper's: centres of at most 4 powers of two; and the documented few-values
one: at most 2 powers of two, ``PWFConfig.few_values()``) the table shows accuracy on the whole test set with
its 95% Wilson interval, then k-means weight sharing (Deep Compression, one global codebook, centroid
fine-tuning with the same number of training images PWF retrains on) at exactly PWF's unique-value count.
Differences are paired on the same 10,000 images: 95% interval of the per-image difference and the
McNemar counts (images only one of the two gets right).

``--deit``: PWF on an untrained DeiT-Tiny-sized ViT (5.7M parameters, 224x224x3 inputs made from Fashion-MNIST
images), a few rounds: time per round (retraining and clustering), peak memory, unique values. It shows the
procedure scales; accuracy means nothing for an untrained model and is not reported.

    .venv/bin/python tools/bench/compression_pwf.py --quick
    .venv/bin/python tools/bench/compression_pwf.py             # full test set, cached baseline
    .venv/bin/python tools/bench/compression_pwf.py --deit --deit-rounds 3
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from tessera.compression.datasets import DatasetSplits, load_fashion_mnist
from tessera.compression.kmeans import KMeansConfig, kmeans_weight_sharing
from tessera.compression.models import build_model, deit_tiny_sized, parameter_count
from tessera.compression.pwf import PWFConfig, RoundInfo, probabilistic_weight_fixing
from tessera.compression.pwf.layers import shared_values, unique_values
from tessera.compression.training import TrainConfig, TrainData, accuracy_evaluator, train

# Subia-Waud & Dasmahapatra, NeurIPS 2023 (abstract): ImageNet, DeiT-Tiny's 5M+ weights in 296 unique values,
# top-1 +1.6 points over the previous best weight-sharing method. No figures exist for Fashion-MNIST.
PAPER = ("DeiT-Tiny / ImageNet (paper)", 296, "+1.6 pt top-1 vs previous best weight sharing")
Z95 = 1.959964


def wilson(correct: int, total: int) -> tuple[float, float]:
    """95% Wilson score interval of an accuracy ``correct / total``."""
    p = correct / total
    centre = (p + Z95**2 / (2 * total)) / (1 + Z95**2 / total)
    half = Z95 * math.sqrt(p * (1 - p) / total + Z95**2 / (4 * total**2)) / (1 + Z95**2 / total)
    return centre - half, centre + half


def paired(first: torch.Tensor, second: torch.Tensor) -> tuple[float, float, int, int]:
    """Accuracy difference first - second on the same images: (mean, 95% half-width, only-first, only-second)."""
    difference = first.double() - second.double()
    half = Z95 * float(difference.std(unbiased=True)) / math.sqrt(len(difference))
    return float(difference.mean()), half, int((first & ~second).sum()), int((second & ~first).sum())


@torch.no_grad()
def correct_per_image(model: nn.Module, splits: DatasetSplits) -> torch.Tensor:
    """Bool (N,): which test images ``model`` classifies correctly."""
    model.eval()
    hits = [model(inputs).argmax(1) == labels for inputs, labels in splits.test.loader(batch_size=1000)]
    return torch.cat(hits)


def entropy_bits(values: torch.Tensor) -> float:
    """Shannon entropy (bits per weight) of the distribution of shared values."""
    _, counts = torch.unique(values, return_counts=True)
    probabilities = counts.double() / counts.sum()
    return float(-(probabilities * torch.log2(probabilities)).sum())


# How each architecture's baseline is trained here (the small ViT needs Adam and more epochs than the CNN).
BASELINE_RECIPES: dict[str, dict[str, Any]] = {
    "resnet_cnn": {"epochs": 2.0, "lr": 0.05, "weight_decay": 5e-4, "schedule": "cosine"},
    "vit": {"epochs": 15.0, "optimizer": "adam", "lr": 1e-3, "weight_decay": 0.0, "schedule": "cosine",
            "grad_clip": 1.0},
}
ARCHITECTURE_NAMES = {"resnet_cnn": "ResNetCNN", "vit": "ViT (DeiT-style, small)"}


def recipe_text(architecture: str, epochs: float) -> str:
    """``"2 epochs SGD lr 0.05 cosine"``: how the baseline of ``architecture`` was trained."""
    recipe = BASELINE_RECIPES[architecture]
    return f"{epochs:g} epochs {recipe.get('optimizer', 'sgd').upper()} lr {recipe['lr']:g} {recipe['schedule']}"


def baseline_model(splits: DatasetSplits, train_data: TrainData, epochs: float | None, seed: int,
                   cache: Path | None, architecture: str = "resnet_cnn",
                   dataset: str = "fashion-mnist") -> tuple[nn.Module, dict[str, Any]]:
    """The trained ``architecture`` (``BASELINE_RECIPES``), from ``cache`` when it holds one trained with these
    settings. ``epochs`` None: the recipe's."""
    recipe = BASELINE_RECIPES[architecture]
    epochs = recipe["epochs"] if epochs is None else epochs
    meta: dict[str, Any] = {"architecture": architecture, "train_images": len(splits.train), "epochs": epochs,
                            "seed": seed}
    if dataset != "fashion-mnist":  # caches written before the key existed are all Fashion-MNIST ones
        meta["dataset"] = dataset
    if cache is not None and cache.exists():
        saved = torch.load(cache, weights_only=True)
        if {key: saved["meta"].get(key) for key in meta} == meta:
            model = build_model(architecture)
            model.load_state_dict(saved["state_dict"])
            return model, {**saved["meta"], "cached": str(cache)}
    torch.manual_seed(seed)
    model = build_model(architecture)  # initialised under the seed
    started = time.perf_counter()
    train(model, train_data, TrainConfig(**{**recipe, "epochs": epochs}))
    meta["train_seconds"] = round(time.perf_counter() - started, 1)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"state_dict": model.state_dict(), "meta": meta}, cache)
    return model, meta


def show_round(info: RoundInfo) -> None:
    accuracy = f"acc(1k) {info.accuracy:.3f}" if info.accuracy is not None else ""
    print(
        f"    round {info.round:2d}/{info.rounds}: fixed {info.fixed_fraction:6.1%}  values on fixed weights "
        f"{info.centres:4d}  {accuracy}  {info.seconds:5.1f} s (clustering {info.extra['clustering_seconds']:.1f} s)"
        f"  delta {info.extra['delta']:g} terms {info.extra['terms']}", flush=True,
    )


def cnn_bench(args: argparse.Namespace) -> None:
    quick = args.quick
    train_size = args.train_size or (6000 if quick else None)
    test_size = args.test_size or (2000 if quick else None)
    epochs = args.epochs if args.epochs is not None else (3.0 if quick else 2.0)
    round_images = args.round_images or (600 if quick else 2000)
    splits = load_fashion_mnist(train_limit=train_size, test_limit=test_size, seed=args.seed)
    train_data = TrainData(splits.train.loader(batch_size=64, shuffle=True, seed=args.seed))
    print(f"data: Fashion-MNIST, {len(splits.train)} train / {len(splits.test)} test images (28x28 grey, 10 classes)")
    cache = None if args.baseline_cache == "none" else Path(args.baseline_cache or _default_cache(len(splits.train)))
    model, meta = baseline_model(splits, train_data, epochs, args.seed, cache)
    base_hits = correct_per_image(model, splits)
    shared = int(shared_values(model).numel())
    source = f"cached in {meta['cached']}" if "cached" in meta else "trained now"
    print(
        f"baseline ResNetCNN: {parameter_count(model)} parameters ({shared} Conv/Linear weights+biases shared), "
        f"{recipe_text('resnet_cnn', meta['epochs'])} on {meta['train_images']} images "
        f"({meta.get('train_seconds', '?')} s, {source}); test accuracy {float(base_hits.double().mean()):.4f}"
    )
    # Per-round progress on 1,000 test images (cheap); every figure in the table uses the whole test set.
    progress_eval = accuracy_evaluator(splits.test.subset(min(1000, len(splits.test)), args.seed + 7).loader(1000))
    per_epoch = len(splits.train)
    configs = [("few values (<= 2 powers of two)", PWFConfig.few_values())]
    if not quick:
        configs.insert(0, ("paper (<= 4 powers of two)", PWFConfig()))
    rows: list[tuple[str, torch.Tensor, int, float, float]] = [
        ("baseline (fp32)", base_hits, unique_values(model), entropy_bits(shared_values(model)), 0.0)
    ]
    comparisons = []
    for label, preset in configs:
        config = preset.model_copy(update={
            "epochs_per_round": round_images / per_epoch, "first_epochs": round_images / 4 / per_epoch,
            "seed": args.seed,
        })
        retrain_epochs = config.first_epochs + config.epochs_per_round * (len(config.schedule) - 1)
        print(f"PWF, {label}: max terms {config.max_terms}, b {config.lowest_exponent}, lr {config.lr}, "
              f"{round_images} images of retraining per round ({len(config.schedule)} rounds)")
        started = time.perf_counter()
        pwf = probabilistic_weight_fixing(model, config, train_data, progress_eval, show_round)
        pwf_row = (f"PWF {label}", correct_per_image(pwf.model, splits), pwf.unique_values,
                   entropy_bits(shared_values(pwf.model)), time.perf_counter() - started)
        kmeans_config = KMeansConfig(clusters=pwf.unique_values, finetune_epochs=retrain_epochs, gradient="mean",
                                     seed=args.seed)
        started = time.perf_counter()
        kmeans = kmeans_weight_sharing(model, kmeans_config, train_data)
        kmeans_row = (f"k-means global k={pwf.unique_values}, fine-tuned", correct_per_image(kmeans.model, splits),
                      kmeans.unique_values, entropy_bits(shared_values(kmeans.model)), time.perf_counter() - started)
        rows += [pwf_row, kmeans_row]
        comparisons.append((pwf_row, kmeans_row))
    print_table(rows, base_hits, retrain_images=round_images)
    for pwf_row, kmeans_row in comparisons:
        mean, half, only_pwf, only_kmeans = paired(pwf_row[1], kmeans_row[1])
        print(f"{pwf_row[0]} - k-means at {kmeans_row[2]} values: {100 * mean:+.2f} points "
              f"(95% CI {100 * (mean - half):+.2f} .. {100 * (mean + half):+.2f}; images only PWF gets right "
              f"{only_pwf}, only k-means {only_kmeans})")


def print_table(rows: list[tuple[str, torch.Tensor, int, float, float]], base_hits: torch.Tensor,
                retrain_images: int) -> None:
    print()
    print(f"{'method':42s} {'unique':>6s} {'accuracy':>8s} {'95% CI':>15s} {'drop (paired 95% CI)':>24s} "
          f"{'bits/w':>6s} {'s':>5s}")
    for name, hits, unique, bits, seconds in rows:
        accuracy = float(hits.double().mean())
        low, high = wilson(int(hits.sum()), len(hits))
        if hits is base_hits:
            drop = ""
        else:
            mean, half, _, _ = paired(base_hits, hits)
            drop = f"{100 * mean:+.2f} ({100 * (mean - half):+.2f}..{100 * (mean + half):+.2f})"
        print(f"{name:42s} {unique:6d} {accuracy:8.4f} {low:7.4f}-{high:.4f} {drop:>24s} {bits:6.2f} {seconds:5.0f}")
    print(f"{PAPER[0]:42s} {PAPER[1]:6d}   {PAPER[2]}")
    print(f"(drop in points = baseline - method on the same images; k-means fine-tunes on as many images as PWF "
          f"retrains on, {retrain_images} per round)")


class ResizedImages:
    """Fashion-MNIST batches blown up to DeiT-Tiny's input: (N, 3, 224, 224), labels (N,)."""

    def __init__(self, splits: DatasetSplits, batch_size: int, steps: int, seed: int) -> None:
        self.loader = splits.train.loader(batch_size=batch_size, shuffle=True, seed=seed)
        self.steps = steps

    def __len__(self) -> int:
        return self.steps

    def __iter__(self):  # type: ignore[no-untyped-def]
        for step, (images, labels) in enumerate(self.loader):
            if step >= self.steps:
                return
            yield F.interpolate(images, size=224, mode="bilinear").expand(-1, 3, -1, -1).contiguous(), labels


def deit_bench(args: argparse.Namespace) -> None:
    torch.manual_seed(args.seed)
    model = deit_tiny_sized(num_classes=10)
    shared = int(shared_values(model).numel())
    splits = load_fashion_mnist(train_limit=args.deit_batch * args.deit_steps * 4, test_limit=10, seed=args.seed)
    data = TrainData(ResizedImages(splits, args.deit_batch, args.deit_steps, args.seed))
    schedule = PWFConfig().schedule
    rounds = args.deit_rounds or len(schedule)
    # The first rounds of the paper's schedule; a last round fixing everything shows the final count.
    chosen = (*schedule[: rounds - 1], 1.0) if rounds < len(schedule) else schedule
    config = PWFConfig(schedule=chosen, first_epochs=1.0, epochs_per_round=1.0, seed=args.seed)
    print(f"DeiT-Tiny-sized ViT, untrained: {parameter_count(model)} parameters, {shared} shared Conv/Linear "
          f"weights+biases; retraining {args.deit_steps} batches of {args.deit_batch} Fashion-MNIST images at "
          f"224x224x3 per round; schedule {list(chosen)} (paper: {list(schedule)})")
    started = time.perf_counter()
    result = probabilistic_weight_fixing(model, config, data, None, show_round)
    total = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(f"DeiT-Tiny-sized: {result.unique_values} unique values over {shared} weights after {len(chosen)} rounds, "
          f"{total:.0f} s in all ({total / len(chosen):.0f} s per round), peak memory (max RSS) {peak:.0f} MiB")
    print(f"{PAPER[0]}: {PAPER[1]} unique values after the full schedule with 3 ImageNet epochs per round")


def _default_cache(train_images: int, architecture: str = "resnet_cnn", dataset: str = "fashion-mnist") -> str:
    root = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "tessera" / "bench"
    data = "" if dataset == "fashion-mnist" else f"{dataset}_"
    return str(root / f"compression_pwf_{architecture}_{data}{train_images}.pt")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="6k train / 2k test subset, few-values config only")
    parser.add_argument("--train-size", type=int, default=None, help="training images (default all 60,000)")
    parser.add_argument("--test-size", type=int, default=None, help="test images (default all 10,000)")
    parser.add_argument("--epochs", type=float, default=None, help="baseline training epochs (default 2)")
    parser.add_argument("--round-images", type=int, default=None, help="PWF retraining images per round (2000)")
    parser.add_argument("--baseline-cache", default=None, help="file for the trained baseline ('none': retrain)")
    parser.add_argument("--deit", action="store_true", help="the untrained DeiT-Tiny-sized scaling run instead")
    parser.add_argument("--deit-rounds", type=int, default=3, help="rounds of the DeiT run (0: all 10)")
    parser.add_argument("--deit-steps", type=int, default=2, help="DeiT retraining batches per round")
    parser.add_argument("--deit-batch", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1 if args.quick or os.environ.get("OMP_NUM_THREADS") == "1" else torch.get_num_threads())
    if args.deit:
        deit_bench(args)
    else:
        cnn_bench(args)


if __name__ == "__main__":
    main()
