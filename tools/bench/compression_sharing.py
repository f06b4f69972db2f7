"""Benchmark: PWF vs k-means weight sharing at equal unique-value counts, several counts and seeds, paired CIs.

Data: Fashion-MNIST (Debian package dataset-fashion-mnist, IDX files in /usr/share/datasets/fashion-mnist).
The 60,000 training images are split once (seeded) into a training part and a validation part
(``--validation``, 5,000 by default); the baseline trains on the training part only, and every per-round
figure and any choice is made on the validation part. The 10,000 test images are only used for the final table.

Counts: PWF is not told a count; its candidate centres set it. Four settings, none chosen by a test figure:
centres of one power of two from 2^-7 (``few_values(max_terms=1)``: <= 17 values), one power of two from 2^-15
(<= 33: a log grid reaching further towards 0), sums of two powers of two from 2^-7 (``few_values()``: <= 58),
and the paper's settings (sums of up to four, ``PWFConfig()``: about 150 here). PWF runs first; k-means then
runs at exactly PWF's unique-value count with the same seed and as many fine-tuning images as PWF retrains on,
in two forms:

* global: one codebook for the whole network (what "unique values over the whole CNN" counts);
* per tensor, split: Deep Compression's per-layer codebooks with the same total count shared among the 11
  tensors (at few values some tensors get one or two centroids);

and, for context, per tensor with PWF's count in *each* tensor (Deep Compression's usual reading of "k
clusters"), whose network-wide count is up to 11x larger.

``--tune-centres R`` adds PWF with its finished codebook fine-tuned for R rounds' images, the way Deep
Compression tunes its centroids (zeros stay zero, so the count is unchanged; the centres are no longer powers of
two): it separates PWF's choice of which weights share a value from the power-of-two grid it puts them on.

Differences are paired on the same test images and seeds: the per-image difference averaged over seeds, its
mean and 95% normal interval, and each seed's difference.

    OMP_NUM_THREADS=1 .venv/bin/python tools/bench/compression_sharing.py --quick   # ~4 min on one core
    OMP_NUM_THREADS=1 .venv/bin/python tools/bench/compression_sharing.py --seeds 2 # full data, ~30 min
    OMP_NUM_THREADS=1 .venv/bin/python tools/bench/compression_sharing.py --seeds 2 --global-only --tune-centres 1
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from compression_pwf import _default_cache, baseline_model, entropy_bits, recipe_text
from torch import nn

from tessera.compression import training
from tessera.compression.datasets import DatasetSplits, ImageDataset, load_fashion_mnist
from tessera.compression.kmeans import KMeansConfig, kmeans_weight_sharing
from tessera.compression.models import parameter_count
from tessera.compression.pwf import PWFConfig, RoundInfo, WeightSharingResult, probabilistic_weight_fixing
from tessera.compression.pwf.layers import shared_tensors, shared_values

Z95 = 1.959964
# (label, PWF preset): fixed before any run; the counts PWF lands on follow from the candidate centres.
TARGETS: tuple[tuple[str, PWFConfig], ...] = (
    ("~16: 1 power of two, b=7", PWFConfig.few_values(max_terms=1)),
    ("~32: 1 power of two, b=15", PWFConfig.few_values(max_terms=1, lowest_exponent=15)),
    ("~58: 2 powers of two, b=7", PWFConfig.few_values()),
    ("~150: paper settings", PWFConfig()),
)
TUNED = "PWF, centres tuned"
METHODS = ("PWF", TUNED, "k-means global", "k-means per-tensor split", "k-means per-tensor each")


def carve_validation(train: ImageDataset, count: int, seed: int = 12345) -> tuple[ImageDataset, ImageDataset]:
    """Split ``train`` into (training part, ``count`` validation images), seeded, disjoint."""
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))
    keep, held = order[:-count], order[-count:]
    return (ImageDataset(train.name, train.images[keep], train.labels[keep], train.classes),
            ImageDataset(train.name, train.images[held], train.labels[held], train.classes))


@torch.no_grad()
def hits(model: nn.Module, dataset: ImageDataset) -> torch.Tensor:
    """Bool (N,): which images of ``dataset`` ``model`` classifies correctly (eval mode)."""
    model.eval()
    return torch.cat([model(inputs).argmax(1) == labels for inputs, labels in dataset.loader(batch_size=1000)])


@dataclass
class Outcome:
    """One method at one count and seed: test hits (bool (N,)), validation accuracy, unique values, bits/w."""

    method: str
    seed: int
    test_hits: torch.Tensor
    validation: float
    unique: int
    bits: float
    seconds: float


@dataclass
class Point:
    """Every method at one PWF setting, over the seeds."""

    label: str
    outcomes: list[Outcome] = field(default_factory=list)

    def of(self, method: str) -> list[Outcome]:
        return sorted((o for o in self.outcomes if o.method == method), key=lambda o: o.seed)


@dataclass
class Setup:
    """What every run shares: the trained model, retraining data, validation and test sets, budget."""

    dense: nn.Module
    finetune: ImageDataset
    validation: ImageDataset
    test: ImageDataset
    round_images: int
    batch_size: int = 64
    device: str | None = None  # where the retraining steps run (None: the CPU)

    def data(self, seed: int) -> training.TrainData:
        return training.TrainData(self.finetune.loader(self.batch_size, shuffle=True, seed=seed), device=self.device)


def outcome(setup: Setup, method: str, seed: int, result: WeightSharingResult, seconds: float) -> Outcome:
    model = result.model
    return Outcome(method, seed, hits(model, setup.test), float(hits(model, setup.validation).double().mean()),
                   result.unique_values, entropy_bits(shared_values(model)), seconds)


def run_point(setup: Setup, label: str, preset: PWFConfig, seed: int,
              progress: Callable[[RoundInfo], None] | None = None, global_only: bool = False,
              tune_rounds: float = 0.0) -> list[Outcome]:
    """PWF with ``preset``, then the k-means variants at its count (``global_only``: the global codebook
    only), same seed and retraining images.

    ``tune_rounds`` > 0 adds "PWF, centres tuned": PWF's codebook fine-tuned as Deep Compression tunes its
    centroids (zeros kept at zero, so the count stays) for that many rounds' images, which gives up the
    power-of-two centres; every k-means variant then gets the same extra images.
    """
    per_epoch = len(setup.finetune)
    config = preset.model_copy(update={"epochs_per_round": setup.round_images / per_epoch,
                                       "first_epochs": setup.round_images / 4 / per_epoch, "seed": seed})
    tune_epochs = tune_rounds * config.epochs_per_round
    retrain_epochs = config.first_epochs + config.epochs_per_round * (len(config.schedule) - 1) + tune_epochs
    validate = training.accuracy_evaluator(setup.validation.loader(1000))
    found = []
    started = time.perf_counter()
    pwf = probabilistic_weight_fixing(setup.dense, config, setup.data(seed), validate if progress else None, progress)
    found.append(outcome(setup, "PWF", seed, pwf, time.perf_counter() - started))
    count = max(2, pwf.unique_values)
    if tune_epochs > 0:
        started = time.perf_counter()
        torch.manual_seed(seed)
        tuned = kmeans_weight_sharing(pwf.model, KMeansConfig(clusters=count, finetune_epochs=tune_epochs,
                                                             gradient="mean", keep_zeros=True, seed=seed),
                                      setup.data(seed))
        found.append(outcome(setup, TUNED, seed, tuned, time.perf_counter() - started))
    tensors = len(shared_tensors(setup.dense))
    variants = [("k-means global", {"scope": "global"})]
    if count >= tensors and not global_only:
        variants.append(("k-means per-tensor split", {"scope": "layer", "split": "total"}))
    if not global_only:
        variants.append(("k-means per-tensor each", {"scope": "layer", "split": "each"}))
    for method, scope in variants:
        kmeans_config = KMeansConfig(clusters=count, finetune_epochs=retrain_epochs, gradient="mean", seed=seed,
                                     **scope)  # type: ignore[arg-type]
        started = time.perf_counter()
        torch.manual_seed(seed)
        shared = kmeans_weight_sharing(setup.dense, kmeans_config, setup.data(seed))
        found.append(outcome(setup, method, seed, shared, time.perf_counter() - started))
    for item in found:
        print(f"  [{label}, seed {seed}] {item.method}: {item.unique} values, validation "
              f"{item.validation:.4f}, test {float(item.test_hits.double().mean()):.4f}, {item.seconds:.0f} s",
              flush=True)
    return found


def paired_over_seeds(first: Sequence[Outcome], second: Sequence[Outcome]) -> tuple[float, float, list[float]]:
    """Mean accuracy difference first - second over seeds and images, 95% half-width, per-seed differences.

    Per image the difference is averaged over the seeds both ran, then the interval is over images (so it
    holds the test-set sampling error; with several seeds it also holds part of the seed-to-seed spread).
    """
    seeds = sorted({o.seed for o in first} & {o.seed for o in second})
    firsts = {o.seed: o.test_hits.double() for o in first}
    seconds = {o.seed: o.test_hits.double() for o in second}
    per_image = torch.stack([firsts[s] - seconds[s] for s in seeds]).mean(0)
    half = Z95 * float(per_image.std(unbiased=True)) / math.sqrt(len(per_image))
    return float(per_image.mean()), half, [float((firsts[s] - seconds[s]).mean()) for s in seeds]


def mean_accuracy(outcomes: Sequence[Outcome]) -> float:
    return sum(float(o.test_hits.double().mean()) for o in outcomes) / len(outcomes)


def print_sharing_table(points: Sequence[Point], base_hits: torch.Tensor, base_validation: float,
                        tensors: int) -> None:
    """Side by side at equal counts: accuracy (mean over seeds), unique values, bits/w, PWF minus each k-means."""
    print()
    seeds = len({o.seed for point in points for o in point.outcomes})
    print(f"== Weight sharing at equal unique-value counts: test accuracy %, mean over {seeds} seed(s); baseline fp32 "
          f"{100 * float(base_hits.double().mean()):.2f} (validation {100 * base_validation:.2f}) ==")
    header = (f"{'PWF setting':<28}{'method':<26}{'unique':>7}{'bits/w':>7}{'val %':>7}{'test %':>8}"
              f"{'drop pt':>8}   {'PWF - this, pt (95% CI; per seed)':<40}")
    print(header)
    print("-" * len(header))
    for point in points:
        pwf = point.of("PWF")
        for method in METHODS:
            found = point.of(method)
            if not found:
                continue
            accuracy = mean_accuracy(found)
            unique = "/".join(sorted({str(o.unique) for o in found}, key=int))
            bits = sum(o.bits for o in found) / len(found)
            validation = sum(o.validation for o in found) / len(found)
            drop = 100 * (float(base_hits.double().mean()) - accuracy)
            versus = ""
            if method != "PWF":
                mean, half, per_seed = paired_over_seeds(pwf, found)
                versus = (f"{100 * mean:+.2f} ({100 * (mean - half):+.2f}..{100 * (mean + half):+.2f}; "
                          + ", ".join(f"{100 * d:+.2f}" for d in per_seed) + ")")
            label = point.label if method == "PWF" else ""
            print(f"{label:<28}{method:<26}{unique:>7}{bits:>7.2f}{100 * validation:>7.2f}{100 * accuracy:>8.2f}"
                  f"{drop:>8.2f}   {versus:<40}")
    print("unique: distinct Conv/Linear weight+bias values over the whole network (per seed); 'per-tensor split' "
          f"shares that count among the {tensors} tensors (run only when there are at least as many values), "
          "'per-tensor each' gives every tensor that many (Deep "
          "Compression's per-layer codebooks), so its network-wide count is larger. k-means fine-tunes its "
          "centroids on as many images as PWF retrains on (with its centre tuning, where that ran).")


def print_verdict(points: Sequence[Point]) -> None:
    """The issue's claim, read off the global k-means comparison (the one at equal network-wide counts);
    for PWF and, where it ran, PWF with tuned centres."""
    for point in points:
        kmeans = point.of("k-means global")
        for method in ("PWF", TUNED):
            found = point.of(method)
            if not found:
                continue
            mean, half, _ = paired_over_seeds(found, kmeans)
            if mean - half > 0:
                verdict = f"{method} better (CI above 0)"
            elif mean + half < 0:
                verdict = "k-means better (CI below 0)"
            else:
                verdict = "no significant difference (CI spans 0)"
            counts = "/".join(sorted({str(o.unique) for o in found}, key=int))
            print(f"{point.label}: {method} - k-means global at {counts} values {100 * mean:+.2f} pt "
                  f"(95% CI {100 * (mean - half):+.2f}..{100 * (mean + half):+.2f}): {verdict}")


def points_record(points: Sequence[Point]) -> list[dict[str, object]]:
    """JSON-ready figures of a sweep: per setting, method and seed."""
    return [{"setting": point.label, "method": o.method, "seed": o.seed, "unique_values": o.unique,
             "bits_per_weight": o.bits, "validation_accuracy": o.validation,
             "test_accuracy": float(o.test_hits.double().mean()), "seconds": o.seconds}
            for point in points for o in point.outcomes]


def sharing_sweep(setup: Setup, seeds: Sequence[int], targets: Sequence[tuple[str, PWFConfig]] = TARGETS,
                  progress: Callable[[RoundInfo], None] | None = None, global_only: bool = False,
                  tune_rounds: float = 0.0) -> list[Point]:
    """Every PWF setting of ``targets`` over ``seeds``, each with k-means at its count."""
    points = []
    for label, preset in targets:
        point = Point(label)
        for seed in seeds:
            point.outcomes += run_point(setup, label, preset, seed, progress, global_only, tune_rounds)
        points.append(point)
    return points


def load_setup(args: argparse.Namespace) -> tuple[Setup, torch.Tensor, float, DatasetSplits]:
    """Data, the validation carve-out and the baseline trained on the rest (cached)."""
    quick = args.quick
    splits = load_fashion_mnist(train_limit=args.train_size or (6000 if quick else None),
                                test_limit=args.test_size or (2000 if quick else None), seed=0)
    train, validation = carve_validation(splits.train, args.validation or (500 if quick else 5000))
    splits = DatasetSplits(train, splits.test)
    finetune = train.subset(args.finetune_images or (2000 if quick else 10_000), seed=1)
    cache = None if args.baseline_cache == "none" else Path(args.baseline_cache or _default_cache(len(train)))
    epochs = args.epochs or (3.0 if quick else 2.0)
    dense, meta = baseline_model(splits, training.TrainData(train.loader(batch_size=64, shuffle=True, seed=0)),
                                 epochs, 0, cache)
    dense.eval()
    base_hits = hits(dense, splits.test)
    base_validation = float(hits(dense, validation).double().mean())
    source = f"cached in {meta['cached']}" if "cached" in meta else f"trained now in {meta.get('train_seconds')} s"
    print(f"data: Fashion-MNIST (/usr/share/datasets/fashion-mnist): {len(train)} training / {len(validation)} "
          f"validation (carved from the training split) / {len(splits.test)} test images; fine-tuning subset "
          f"{len(finetune)}; {torch.get_num_threads()} thread(s)")
    print(f"baseline ResNetCNN: {parameter_count(dense)} parameters, {recipe_text('resnet_cnn', epochs)} on the "
          f"{len(train)} training images ({source}); test {float(base_hits.double().mean()):.4f}, validation "
          f"{base_validation:.4f}", flush=True)
    round_images = args.round_images or (600 if quick else 2000)
    setup = Setup(dense, finetune, validation, splits.test, round_images, device=args.device)
    return setup, base_hits, base_validation, splits


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="6k train / 2k test, one seed, 1 thread")
    parser.add_argument("--train-size", type=int, default=None, help="training images before the carve-out")
    parser.add_argument("--test-size", type=int, default=None)
    parser.add_argument("--validation", type=int, default=None, help="validation images carved out (500 / 5,000)")
    parser.add_argument("--finetune-images", type=int, default=None, help="retraining subset (2,000 / 10,000)")
    parser.add_argument("--round-images", type=int, default=None, help="PWF retraining images per round (600/2000)")
    parser.add_argument("--baseline-cache", default=None, help="file of the trained baseline ('none': retrain)")
    parser.add_argument("--epochs", type=float, default=None, help="baseline training epochs (3 quick, 2 full)")
    parser.add_argument("--device", default=None, help="retraining device, e.g. cuda (the baseline trains on the CPU)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    add_arguments(parser)
    parser.add_argument("--seeds", type=int, default=None, help="seeds per point (1 quick, 2 full)")
    parser.add_argument("--first-seed", type=int, default=0, help="seeds run from here (one process per seed)")
    parser.add_argument("--targets", default=None, help="comma-separated indices into the PWF settings (0,1,2,3)")
    parser.add_argument("--global-only", action="store_true", help="k-means with the global codebook only")
    parser.add_argument("--tune-centres", type=float, default=0.0,
                        help="also PWF with its codebook fine-tuned for this many rounds' images (k-means too)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1 if args.quick or os.environ.get("OMP_NUM_THREADS") == "1" else torch.get_num_threads())
    started = time.perf_counter()
    setup, base_hits, base_validation, _ = load_setup(args)
    targets = TARGETS if args.targets is None else tuple(TARGETS[int(i)] for i in args.targets.split(","))
    seeds = range(args.first_seed, args.first_seed + (args.seeds or (1 if args.quick else 2)))
    print(f"PWF retrains {setup.round_images} images per round; settings: "
          + "; ".join(label for label, _ in targets), flush=True)
    # Seeds outermost, the table reprinted after each: a run cut short still leaves every setting compared.
    points = [Point(label) for label, _ in targets]
    for seed in seeds:
        for point, (label, preset) in zip(points, targets, strict=True):
            point.outcomes += run_point(setup, label, preset, seed, None, args.global_only, args.tune_centres)
        print_sharing_table(points, base_hits, base_validation, len(shared_tensors(setup.dense)))
        print()
        print_verdict(points)
    print(f"total {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
