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

Part 1. Three networks of the same architecture (MultiContrastUNet3D, 3 branches) trained for the same
number of steps: stage 1 on whole volumes at the coarse spacing, stage 2 on random ``--roi`` crops at full
spacing (half centred on the hard class: lesion / deep structures), and a single full-resolution FCN on
whole volumes at full spacing. Dice per class (numpy, NaN where a class is absent from both prediction and
truth, averaged over volumes) for the cascade, stage 1 alone (upsampled) and the single-stage network.
Part 2. Stage 1's setup trained plain and balanced (``TrainConfig(balance=...)``); conditional utilisation
rate per contrast and Dice with each contrast missing (``dice_with_missing``) on the held-out volumes.
Part 3. One test volume at ``--infer-spacing``: each method runs in its own subprocess; seconds (median of
``--repeats``) and peak resident memory (VmHWM of that process; delta = growth over its state after
loading the models and the volume, i.e. what the inference itself adds; VmHWM reset via
/proc/self/clear_refs because ``ru_maxrss`` survives exec and would report the parent's peak).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.inferers import sliding_window_inference
from torch.utils.data import Dataset

from tessera.segmentation.cascade import CascadeConfig, SegmentationCascade, TorchStage
from tessera.segmentation.data import CONTRASTS, SyntheticBrainDataset
from tessera.segmentation.data.dataset import centre_crop_or_pad
from tessera.segmentation.export import BackendStage, OnnxCascade, export_stage, make_session
from tessera.segmentation.networks import MultiContrastUNet3D, UNetConfig, count_parameters
from tessera.segmentation.trainer import NamedContrastUNet
from tessera.segmentation.training import TrainConfig, dice_with_missing, train, utilisation_from_dice

THREADS = 2
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


class RandomCrops(Dataset[dict[str, Any]]):
    """Random ``roi`` crops of cached samples; with probability ``focus_p`` centred on a voxel of ``focus``
    classes (lesion / deep structures), otherwise uniform. Stage 2 only ever sees the candidate region, so it
    is trained on crops rather than whole volumes."""

    def __init__(self, samples: list[dict[str, Any]], roi: int, focus: Sequence[int], focus_p: float, seed: int):
        self.samples, self.roi, self.focus, self.focus_p = samples, roi, tuple(focus), focus_p
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict[str, Any]:
        image, label = self.samples[index]["image"], self.samples[index]["label"]
        shape = label.shape[1:]
        centre = None
        if self.rng.random() < self.focus_p:
            hits = np.argwhere(np.isin(label[0].numpy(), self.focus))
            if len(hits):
                centre = hits[self.rng.integers(len(hits))]
        if centre is None:
            centre = np.array([self.rng.integers(n) for n in shape])
        start = [int(np.clip(c - self.roi // 2, 0, max(0, n - self.roi))) for c, n in zip(centre, shape, strict=True)]
        box = tuple(slice(s, s + self.roi) for s in start)
        return {"image": image[(slice(None), *box)].contiguous(), "label": label[(slice(None), *box)].contiguous()}


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
        args: argparse.Namespace, balance: bool = False,
        contrast_dropout: float = 0.0) -> tuple[NamedContrastUNet, float, Any]:
    """Train ``net`` (wrapped by contrast name) for ``epochs x steps`` steps; returns model, seconds, result."""
    model = NamedContrastUNet(net, CONTRASTS)
    config = TrainConfig(epochs=args.epochs, steps_per_epoch=args.steps, lr=2e-3, batch_size=2, balance=balance,
                         contrast_dropout=contrast_dropout, seed=args.seed)
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
    focus = [classes.index("lesion")] if args.task == "tissue" else list(range(1, k))
    stage1, s1_time, _ = fit("stage 1 (coarse, whole volumes)", make_net(3, k, args), coarse_train, args)
    if args.balance_only:  # part 2 alone: the three stage-1 trainings, no full-resolution networks
        stage1_bal, _, bal_result = fit("stage 1 balanced", make_net(3, k, args), coarse_train, args, balance=True)
        stage1_drop, _, _ = fit(f"stage 1 balanced + contrast dropout {args.dropout:g}", make_net(3, k, args),
                                coarse_train, args, balance=True, contrast_dropout=args.dropout)
        part2 = report_part2(args, coarse, coarse_test, classes,
                             {"plain": stage1, "balanced": stage1_bal, "bal+drop": stage1_drop}, bal_result)
        return {"classes": classes, "coarse": coarse, "means": {}, "part2": part2}
    stage2, s2_time, _ = fit(f"stage 2 (full res, {args.roi}^3 crops)", make_net(3, k, args),
                             RandomCrops(fine_train, args.roi, focus, 0.5, args.seed), args)
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
    print(f"training wall time for the same {args.epochs * args.steps} steps: stage 1 {s1_time:.0f} s + stage 2 "
          f"{s2_time:.0f} s = {s1_time + s2_time:.0f} s vs single-stage {single_time:.0f} s; "
          f"{count_parameters(single.net)} parameters per network")
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


# ---------------------------------------------------------------- part 3 (one subprocess per method)


def _proc_status_kb(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def reset_peak_rss() -> int:
    """Reset this process's peak RSS and return its current RSS in kB.

    ``ru_maxrss`` survives ``execve`` on Linux, so a fresh subprocess starts with its parent's peak; writing
    5 to ``/proc/self/clear_refs`` resets the kernel's high-water mark (VmHWM) to the current RSS instead.
    Falls back to ``ru_maxrss`` where that is not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        current = _proc_status_kb("VmRSS")
        if current is not None:
            return current
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def peak_rss_kb() -> int:
    """Peak RSS in kB since :func:`reset_peak_rss` (VmHWM), or ``ru_maxrss``."""
    return _proc_status_kb("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def group_rss_kb(pgid: int, field: str, reset: bool = False) -> int:
    """Sum of ``field`` (VmRSS / VmHWM, kB) over the processes of group ``pgid`` (Triton and its python-backend
    stubs, one per loaded model); ``reset`` first clears each one's high-water mark (root may do that)."""
    total = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if int((proc / "stat").read_text().rsplit(")", 1)[1].split()[2]) != pgid:
                continue
            if reset:
                (proc / "clear_refs").write_text("5")
            for line in (proc / "status").read_text().splitlines():
                if line.startswith(field + ":"):
                    total += int(line.split()[1])
        except (OSError, ValueError, IndexError):
            continue
    return total


def triton_cascade(workdir: Path, config: CascadeConfig) -> tuple[Any, Any, Any]:
    """Start the dev stack's S3 + Triton, publish both stages, load them; returns (cascade, stack, pgid)."""
    from tessera.core.artifacts.factory import open_store
    from tessera.core.inference import ModelRepository
    from tessera.core.inference.triton_backend import TritonBackend
    from tessera.core.settings import TesseraSettings, load_settings
    from tessera.devstack import DevStack, StackConfig

    stack = DevStack(StackConfig(log_dir=Path(".stack") / "bench-seg", kafka=False)).start()
    assert stack.triton is not None and stack.triton.process is not None and stack.triton.process.proc is not None
    overrides: dict[str, Any] = {k.removeprefix("TESSERA_").lower(): v for k, v in stack.env().items()}
    settings = load_settings(TesseraSettings, **overrides)
    repo = ModelRepository(open_store(settings), settings.model_repository_prefix)
    backend = TritonBackend(stack.triton.grpc_url)
    for name in ("stage1", "stage2"):
        repo.publish(f"bench-seg-{name}", (workdir / f"{name}.onnx").read_bytes())
        backend.load(f"bench-seg-{name}")
    cascade = OnnxCascade(BackendStage(backend, "bench-seg-stage1"), BackendStage(backend, "bench-seg-stage2"), config)
    return cascade, stack, stack.triton.process.proc.pid


def worker(args: argparse.Namespace) -> None:
    """Run one inference method on the saved volume; prints one JSON line with seconds and memory."""
    torch.set_num_threads(THREADS)
    workdir = Path(args.workdir)
    meta = json.loads((workdir / "meta.json").read_text())
    volume = np.load(workdir / "volume.npy")
    k = meta["classes"]
    config = CascadeConfig(coarse_spacing_mm=meta["coarse"], margin_mm=2 * meta["coarse"],
                           roi_size=(meta["roi"],) * 3, overlap=0.5)

    def load(name: str) -> MultiContrastUNet3D:
        net = make_net(volume.shape[0], k, args)
        net.load_state_dict(torch.load(workdir / f"{name}.pt"))
        return net.eval()

    stack, server_pgid = None, None
    if args.worker == "triton-cascade":
        cascade, stack, server_pgid = triton_cascade(workdir, config)
        cascade(volume, (meta["spacing"],) * 3)  # warm-up: Triton's first request per model initialises it
        run = lambda: cascade(volume, (meta["spacing"],) * 3)  # noqa: E731
    elif args.worker == "onnx-cascade":
        options = {"intra_op_threads": THREADS}
        cascade = OnnxCascade(make_session(workdir / "stage1.onnx", **options),
                              make_session(workdir / "stage2.onnx", **options), config)
        run = lambda: cascade(volume, (meta["spacing"],) * 3)  # noqa: E731
    elif args.worker == "torch-cascade":
        cascade = SegmentationCascade(TorchStage(load("stage1")), TorchStage(load("stage2")), config)
        run = lambda: cascade(volume, (meta["spacing"],) * 3)  # noqa: E731
    else:
        net = load("single")
        x = torch.from_numpy(volume)[None]

        def run() -> Any:
            with torch.inference_mode():
                return sliding_window_inference(x, (meta["roi"],) * 3, 1, net, overlap=0.5, mode="gaussian",
                                                sigma_scale=0.125)

    before_kb = reset_peak_rss()
    server_before_kb = group_rss_kb(server_pgid, "VmRSS", reset=True) if server_pgid else 0
    seconds, fraction = [], math.nan
    for _ in range(args.repeats):
        start = time.perf_counter()
        out = run()
        seconds.append(time.perf_counter() - start)
        if hasattr(out, "stage2_box_fraction"):
            fraction = out.stage2_box_fraction
    peak_kb = peak_rss_kb()
    if server_pgid:  # the server does the work: count its processes (client + server) for peak and delta
        server_peak_kb = group_rss_kb(server_pgid, "VmHWM")
        before_kb, peak_kb = before_kb + server_before_kb, peak_kb + server_peak_kb
    if stack is not None:
        stack.stop()
    print(json.dumps({"seconds": statistics.median(seconds), "peak_mb": peak_kb / 1024,
                      "delta_mb": (peak_kb - before_kb) / 1024, "box_fraction": fraction}))


def part3(args: argparse.Namespace, workdir: Path, info: dict[str, Any]) -> None:
    ds = SyntheticBrainDataset(task=args.task, spacing_mm=args.infer_spacing, split="test", n=1, augment=True,
                               seed=args.seed)
    volume = ds[0]["image"].numpy()
    np.save(workdir / "volume.npy", volume)
    (workdir / "meta.json").write_text(json.dumps({"classes": len(info["classes"]), "coarse": info["coarse"],
                                                   "roi": args.infer_roi, "spacing": args.infer_spacing}))
    print(f"\n== Part 3: inference on one held-out volume, {args.infer_spacing:g} mm, shape "
          f"{tuple(volume.shape)} (C, X, Y, Z), CPU {THREADS} threads, window {args.infer_roi}^3 overlap 0.5 "
          f"Gaussian, median of {args.repeats} ==")
    if args.infer_spacing != args.spacing:
        print(f"  (networks trained at {args.spacing:g} mm are applied at {args.infer_spacing:g} mm: timings and "
              "memory are representative, labels are not)")
    print(f"{'method':<48}{'seconds':>9}{'peak RSS MB':>13}{'delta MB':>10}{'net voxels':>12}")
    methods: tuple[tuple[str, str], ...] = (("onnx-cascade", "cascade, onnxruntime (OnnxCascade)"),
               ("torch-cascade", "cascade, PyTorch eager (SegmentationCascade)"),
               ("monai-single", "single-stage FCN, MONAI sliding_window_inference"),
               ("triton-cascade", "cascade, Triton (dev stack, gRPC, python+ORT)"))
    if args.no_triton:
        methods = methods[:3]
    for key, label in methods:
        command = [sys.executable, __file__, "--worker", key, "--workdir", str(workdir), "--repeats",
                   str(args.repeats), "--depth", str(args.depth), "--width", str(args.width)]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print(f"{label:<48} failed: {done.stderr.strip().splitlines()[-1:]}")
            continue
        r = json.loads(done.stdout.strip().splitlines()[-1])
        share = "100%" if key == "monai-single" else f"{100 * r['box_fraction']:.0f}%+s1"
        print(f"{label:<48}{r['seconds']:>9.2f}{r['peak_mb']:>13.0f}{r['delta_mb']:>10.0f}{share:>12}")
    print("'net voxels': share of the volume the full-resolution network computes (cascade: stage-2 boxes, plus "
          "stage 1 on the coarse grid). Triton: the dev stack's tritonserver (nvidia-pytriton wheel, python backend "
          "running onnxruntime on CPU, models from the S3 repository) on this machine; its memory is the client's "
          "plus the server's process group (server + one stub per model), seconds after one warm-up request.")


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
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.epochs, args.steps, args.train_volumes = 4, 15, 16
        args.infer_spacing = 2.0
    return args


def main() -> None:
    args = parse()
    if args.worker:
        worker(args)
        return
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
