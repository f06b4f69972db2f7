"""Segmentation quality and speed bar (issue 4): cascade vs stage 1 vs single-stage FCN, balanced vs plain
training, and CPU inference through onnxruntime / PyTorch eager / MONAI sliding windows.

Usage: ``.venv/bin/python tools/bench/segmentation.py [--spacing 3] [--epochs 6] [--steps 25]
[--test-volumes 10] [--infer-spacing 1] [--task tissue|deep] [--quick]``

Data: ``tessera.segmentation.data.SyntheticBrainDataset``: the two real brains that install offline
(MNI152 2009a from nilearn's package data, Colin27 + AAL from Debian's mricron-data) with synthetic
T1w/T2w/FLAIR contrasts, synthetic lesions (tissue task) and MONAI augmentation. Training uses the train
split; every figure is measured on the test split (held-out sample seeds and lesion placements, augmented so
every volume is a different head). Nothing else is started (Triton is exercised by the integration test).

Reduced scale (2 CPU cores, ~10 minutes): training at ``--spacing`` mm (default 3 mm; the service targets
1 mm), stage 1 at twice that spacing, a few hundred optimiser steps per network, depth-3 width-8 networks.
The figures compare methods under the same budget; they are not converged accuracies.

Part 1. Three networks of the same architecture (MultiContrastUNet3D, 3 branches): stage 1 on whole volumes at
the coarse spacing, stage 2 on random ``--roi`` crops at full spacing (``--stage2-focus`` of them centred on the
hard classes: lesion / deep structures; MONAI ``RandCropByLabelClassesd``; batch Dice), and a single
full-resolution FCN on whole volumes at full spacing. Stage 2 takes ``--stage2-steps-factor`` times the steps of
the others, since a crop costs a fraction of a whole volume; the training compute of each (voxels through the
network) is printed, and the cascade's stays below the single-stage network's. Dice per class (numpy, NaN
where a class is absent from both prediction and truth, averaged over volumes) for the cascade, stage 1 alone
(upsampled) and the single-stage network.
Part 2. Stage 1's setup trained plain and balanced (``TrainConfig(balance=...)``); conditional utilisation
rate per contrast and Dice with each contrast missing (``dice_with_missing``) on the held-out volumes.
Part 3 (``segmentation_inference.py``). One test volume at ``--infer-spacing``: each method
runs in its own subprocess; seconds (median of
``--repeats``) and peak resident memory (VmHWM of that process; delta = growth over its state after
loading the models and the volume, i.e. what the inference itself adds; VmHWM reset via
/proc/self/clear_refs because ``ru_maxrss`` survives exec and would report the parent's peak).
"""

from __future__ import annotations

import argparse
import math
import platform
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from segmentation_inference import THREADS, part3
from torch.utils.data import Dataset

from tessera.segmentation.cascade import CascadeConfig, SegmentationCascade, TorchStage
from tessera.segmentation.data import CONTRASTS, SyntheticBrainDataset
from tessera.segmentation.data.crops import ClassBalancedCrops, focus_ratios
from tessera.segmentation.data.dataset import centre_crop_or_pad
from tessera.segmentation.export import export_stage
from tessera.segmentation.networks import MultiContrastUNet3D, UNetConfig, count_parameters
from tessera.segmentation.trainer import NamedContrastUNet
from tessera.segmentation.training import TrainConfig, dice_with_missing, train, utilisation_from_dice

PAPER = ("Roth et al. (cascaded 3D FCN, pancreas CT): Dice 68.5% (stage 1) -> 82.2% (cascade); "
         "stage 2 classifies ~10% of the voxels.")
PAPER_WU = ("Wu et al. (greedy multi-modal learning, ICML 2022): balanced training (re-balancing steps) narrows "
            "the gap between the modalities' conditional utilisation rates and helps when one modality is missing.")


# ---------------------------------------------------------------- data


def materialise(ds: SyntheticBrainDataset) -> list[dict[str, Any]]:
    """Generate every sample once (the networks then train on a fixed, cached set), zero-padded (centred) to
    one shape: the two template brains differ by a voxel or so, and batches need equal shapes."""
    samples = [ds[i] for i in range(len(ds))]
    shape = [max(int(s["label"].shape[axis + 1]) for s in samples) for axis in range(3)]
    return [{"image": centre_crop_or_pad(s["image"], shape)[0], "label": centre_crop_or_pad(s["label"], shape)[0],
             "seed": s["seed"]} for s in samples]


def dice_per_class(pred: np.ndarray, truth: np.ndarray, num_classes: int) -> list[float]:
    """Dice of classes 1..K-1 (NaN where a class is in neither ``pred`` nor ``truth``)."""
    out = []
    for k in range(1, num_classes):
        p, t = pred == k, truth == k
        denominator = int(p.sum()) + int(t.sum())
        out.append(2.0 * int((p & t).sum()) / denominator if denominator else math.nan)
    return out


def nanmean(rows: list[list[float]]) -> list[float]:
    array = np.array(rows, dtype=np.float64)
    with np.errstate(all="ignore"):
        return [float(np.nanmean(col)) if np.isfinite(col).any() else math.nan for col in array.T]


def fmt(value: float, pct: bool = True) -> str:
    if math.isnan(value):
        return "n/a"
    return f"{100 * value:.1f}" if pct else f"{value:.3f}"


def make_net(contrasts: int, classes: int, args: argparse.Namespace) -> MultiContrastUNet3D:
    return MultiContrastUNet3D(UNetConfig(in_contrasts=contrasts, num_classes=classes, depth=args.depth,
                                          base_width=args.width))


def fit(name: str, net: MultiContrastUNet3D, data: Dataset[Any] | list[dict[str, Any]],
        args: argparse.Namespace, balance: bool = False, contrast_dropout: float = 0.0, step_factor: int = 1,
        batch_dice: bool = False) -> tuple[NamedContrastUNet, float, Any]:
    """Train ``net`` (wrapped by contrast name) for ``epochs x steps x step_factor`` steps; returns model,
    seconds, result."""
    model = NamedContrastUNet(net, CONTRASTS)
    config = TrainConfig(epochs=args.epochs, steps_per_epoch=args.steps * step_factor, lr=2e-3, batch_size=2,
                         balance=balance, contrast_dropout=contrast_dropout, seed=args.seed, batch_dice=batch_dice)
    start = time.perf_counter()
    result = train(model, data, [], config)  # no per-epoch validation: every figure is measured on the test split
    seconds = time.perf_counter() - start
    extra = f", {result.rebalancing_steps} re-balancing steps" if balance else ""
    print(f"  trained {name}: {config.epochs * config.steps_per_epoch} steps in {seconds:.0f} s, "
          f"last-epoch loss {result.epochs[-1].train_loss:.3f}{extra}", flush=True)
    model.eval()
    return model, seconds, result


# ---------------------------------------------------------------- parts 1 and 2


def report_part2(args: argparse.Namespace, coarse: float, coarse_test: list[dict[str, Any]], classes: Sequence[str],
                 models: dict[str, NamedContrastUNet], bal_result: Any) -> dict[str, Any]:
    """Part 2: plain vs balanced (vs balanced + contrast dropout) on stage 1's setup: Dice with each contrast
    missing and the conditional utilisation rates, on the held-out volumes."""
    print(f"\n== Part 2: plain vs balanced training (stage-1 setup, {coarse:g} mm whole volumes, "
          f"{args.epochs * args.steps} steps each), {len(coarse_test)} held-out volumes ==")
    print(f"{'training':<10}{'metric':<34}" + "".join(f"{c:>9}" for c in ("none", *CONTRASTS)))
    part2: dict[str, Any] = {}
    for name, model in models.items():
        missing = dice_with_missing(model, coarse_test)
        util = utilisation_from_dice(missing)
        mean_missing = {m: float(np.nanmean(v)) for m, v in missing.items()}
        print(f"{name:<10}{'mean fg Dice % (contrast missing)':<34}"
              + "".join(f"{fmt(mean_missing[m]):>9}" for m in ("none", *CONTRASTS)))
        for ci, cname in enumerate(classes[1:]):
            print(f"{'':<10}{'  ' + cname + ' Dice %':<34}"
                  + "".join(f"{fmt(missing[m][ci]):>9}" for m in ("none", *CONTRASTS)))
        print(f"{'':<10}{'conditional utilisation rate':<34}{'':>9}"
              + "".join(f"{util[m]:>9.3f}" for m in CONTRASTS)
              + f"   spread {max(util.values()) - min(util.values()):.3f}")
        part2[name] = {"dice_missing": mean_missing, "utilisation": util}
    print(f"balanced run: {bal_result.rebalancing_steps} re-balancing steps, focus {bal_result.rebalancing_focus}")
    print(f"bal+drop: balanced training plus missing-contrast augmentation (each contrast of a sample dropped with "
          f"p={args.dropout:g} on regular steps, filled as at test time): the setting the service trains with")
    print(f"paper, for context: {PAPER_WU}")
    return part2


def part1(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    coarse = 2 * args.spacing
    common: dict[str, Any] = {"task": args.task, "contrasts": CONTRASTS, "seed": args.seed}
    t0 = time.perf_counter()
    fine_train = materialise(SyntheticBrainDataset(spacing_mm=args.spacing, split="train", n=args.train_volumes,
                                                   **common))
    coarse_train = materialise(SyntheticBrainDataset(spacing_mm=coarse, split="train", n=args.train_volumes,
                                                     **common))
    test_ds = SyntheticBrainDataset(spacing_mm=args.spacing, split="test", n=args.test_volumes, augment=True, **common)
    test = materialise(test_ds)
    coarse_test = materialise(SyntheticBrainDataset(spacing_mm=coarse, split="test", n=args.test_volumes,
                                                    augment=True, **common))
    classes = test_ds.labels.classes
    k = len(classes)
    shape = tuple(test[0]["image"].shape[1:])
    print(f"  data: {args.train_volumes} train volumes at {args.spacing:g} mm {shape} and {coarse:g} mm "
          f"{tuple(coarse_train[0]['image'].shape[1:])}, {args.test_volumes} held-out test volumes "
          f"(seeds {test_ds.sample_seed(0)}..{test_ds.sample_seed(len(test_ds) - 1)}); "
          f"generated in {time.perf_counter() - t0:.0f} s", flush=True)

    torch.manual_seed(args.seed)
    focus = list(test_ds.labels.hard_classes)
    stage1, s1_time, _ = fit("stage 1 (coarse, whole volumes)", make_net(3, k, args), coarse_train, args)
    if args.balance_only:  # part 2 alone: the three stage-1 trainings, no full-resolution networks
        stage1_bal, _, bal_result = fit("stage 1 balanced", make_net(3, k, args), coarse_train, args, balance=True)
        stage1_drop, _, _ = fit(f"stage 1 balanced + contrast dropout {args.dropout:g}", make_net(3, k, args),
                                coarse_train, args, balance=True, contrast_dropout=args.dropout)
        part2 = report_part2(args, coarse, coarse_test, classes,
                             {"plain": stage1, "balanced": stage1_bal, "bal+drop": stage1_drop}, bal_result)
        return {"classes": classes, "coarse": coarse, "means": {}, "part2": part2}
    crops = ClassBalancedCrops(fine_train, (args.roi,) * 3, focus_ratios(k, focus, args.stage2_focus), args.seed)
    stage2, s2_time, _ = fit(f"stage 2 (full res, {args.roi}^3 crops, {args.stage2_focus:g} centred on "
                             f"{'/'.join(classes[c] for c in focus)}, batch Dice)", make_net(3, k, args), crops,
                             args, step_factor=args.stage2_steps_factor, batch_dice=True)
    single, single_time, _ = fit("single-stage FCN (full res, whole volumes)", make_net(3, k, args), fine_train, args)
    stage1_bal, _, bal_result = fit("stage 1 balanced (part 2)", make_net(3, k, args), coarse_train, args,
                                    balance=True)
    stage1_drop, _, _ = fit(f"stage 1 balanced + contrast dropout {args.dropout:g} (part 2)", make_net(3, k, args),
                            coarse_train, args, balance=True, contrast_dropout=args.dropout)

    config = CascadeConfig(coarse_spacing_mm=coarse, margin_mm=2 * coarse, roi_size=(args.roi,) * 3, overlap=0.5)
    cascade = SegmentationCascade(TorchStage(stage1.net), TorchStage(stage2.net), config)
    rows: dict[str, list[list[float]]] = {"stage 1 alone (upsampled)": [], "cascade": [], "single-stage FCN": []}
    fractions: list[float] = []
    box_fractions: list[float] = []
    times: dict[str, list[float]] = {"cascade": [], "single": []}
    for sample in test:
        image, truth = sample["image"].numpy(), sample["label"][0].numpy()
        result = cascade(image, (args.spacing,) * 3)
        times["cascade"].append(result.timings_s["total"])
        start = time.perf_counter()
        with torch.inference_mode():
            single_labels = single.net(torch.from_numpy(image)[None])[0].argmax(0).numpy()
        times["single"].append(time.perf_counter() - start)
        rows["stage 1 alone (upsampled)"].append(dice_per_class(result.stage1_labels, truth, k))
        rows["cascade"].append(dice_per_class(result.labels, truth, k))
        rows["single-stage FCN"].append(dice_per_class(single_labels, truth, k))
        fractions.append(result.stage2_fraction)
        box_fractions.append(result.stage2_box_fraction)

    truth_frac = [float((s["label"] == focus[0]).float().mean()) for s in test]
    print(f"\n== Part 1: Dice per class (%), task '{args.task}', {len(test)} held-out volumes at {args.spacing:g} mm "
          f"(stage 1 at {coarse:g} mm), mean over volumes ==")
    header = f"{'method':<28}" + "".join(f"{c:>12}" for c in classes[1:]) + f"{'mean':>8}"
    print(header)
    means = {}
    for name, per_volume in rows.items():
        per_class = nanmean(per_volume)
        means[name] = per_class
        print(f"{name:<28}" + "".join(f"{fmt(v):>12}" for v in per_class) + f"{fmt(float(np.nanmean(per_class))):>8}")
    print(f"stage 2 classifies {100 * statistics.mean(fractions):.1f}% of the voxels (candidate region; min "
          f"{100 * min(fractions):.1f}%, max {100 * max(fractions):.1f}%); its windows cover "
          f"{100 * statistics.mean(box_fractions):.1f}% of the volume (boxes incl. context)")
    print(f"'{classes[focus[0]]}' is {100 * statistics.mean(truth_frac):.3f}% of the voxels on average")
    print(f"inference per volume (PyTorch, {THREADS} threads): cascade {statistics.mean(times['cascade']):.2f} s, "
          f"single-stage whole volume {statistics.mean(times['single']):.2f} s")
    steps = args.epochs * args.steps
    # Training compute in voxels pushed through the network (batch 2): what a step costs scales with it.
    voxels = {"stage 1": steps * 2 * int(np.prod(coarse_train[0]["image"].shape[1:])),
              "stage 2": steps * args.stage2_steps_factor * 2 * args.roi ** 3,
              "single": steps * 2 * int(np.prod(shape))}
    cascade_share = (voxels["stage 1"] + voxels["stage 2"]) / voxels["single"]
    print(f"training: stage 1 {steps} steps {s1_time:.0f} s + stage 2 {steps * args.stage2_steps_factor} steps "
          f"{s2_time:.0f} s = {s1_time + s2_time:.0f} s vs single-stage {steps} steps {single_time:.0f} s; "
          f"voxels through the networks {(voxels['stage 1'] + voxels['stage 2']) / 1e6:.0f} M vs "
          f"{voxels['single'] / 1e6:.0f} M ({100 * cascade_share:.0f}% of the single-stage network's training "
          f"compute); {count_parameters(single.net)} parameters per network")
    print(f"paper, for context: {PAPER}")

    part2 = report_part2(args, coarse, coarse_test, classes,
                         {"plain": stage1, "balanced": stage1_bal, "bal+drop": stage1_drop}, bal_result)

    # Models for part 3.
    torch.save(stage1.net.state_dict(), workdir / "stage1.pt")
    torch.save(stage2.net.state_dict(), workdir / "stage2.pt")
    torch.save(single.net.state_dict(), workdir / "single.pt")
    export_stage(stage1.net, workdir / "stage1.onnx")
    export_stage(stage2.net, workdir / "stage2.onnx")
    return {"classes": classes, "coarse": coarse, "means": means, "part2": part2}


# ---------------------------------------------------------------- main


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=("tissue", "deep"), default="tissue")
    parser.add_argument("--spacing", type=float, default=3.0, help="full-resolution spacing in mm (stage 1: 2x)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20, help="optimiser steps per epoch (batch 2)")
    parser.add_argument("--train-volumes", type=int, default=32)
    parser.add_argument("--test-volumes", type=int, default=10)
    parser.add_argument("--roi", type=int, default=32, help="stage 2 crop / window in voxels")
    parser.add_argument("--stage2-focus", type=float, default=0.5,
                        help="share of stage 2's training crops centred on the hard classes (lesion / deep structures)")
    parser.add_argument("--stage2-steps-factor", type=int, default=3,
                        help="stage 2 trains this many times the steps of the whole-volume networks: a window-sized "
                             "crop costs a fraction of a whole volume, so the cascade still trains on less compute")
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--width", type=int, default=8)
    parser.add_argument("--infer-spacing", type=float, default=1.0)
    parser.add_argument("--infer-roi", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dropout", type=float, default=0.2, help="contrast dropout of the 'bal+drop' run")
    parser.add_argument("--no-triton", action="store_true", help="skip the Triton row of part 3")
    parser.add_argument("--balance-only", action="store_true", help="part 2 alone (stage-1 trainings only)")
    parser.add_argument("--quick", action="store_true", help="fewer steps and a 2 mm inference volume")
    args = parser.parse_args()
    if args.quick:
        args.epochs, args.steps, args.train_volumes = 4, 15, 16
        args.infer_spacing = 2.0
    return args


def main() -> None:
    args = parse()
    torch.set_num_threads(THREADS)
    started = time.perf_counter()
    print(f"Segmentation bench: CPU {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{THREADS} threads; task '{args.task}'; REDUCED SCALE: {args.spacing:g} mm training grid (stage 1 at "
          f"{2 * args.spacing:g} mm), {args.epochs}x{args.steps} steps per network, depth {args.depth} width "
          f"{args.width}")
    print("Data: synthetic brains from the MNI152 2009a / Colin27(+AAL) templates with synthetic T1w/T2w/FLAIR "
          "contrasts and lesions, MONAI augmentation; figures on the held-out test split (unseen seeds and lesion "
          "placements).")
    with tempfile.TemporaryDirectory(prefix="tessera-seg-bench-") as tmp:
        workdir = Path(tmp)
        info = part1(args, workdir)
        if not args.balance_only:
            part3(args, workdir, info)
    print(f"\ntotal runtime {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
