"""Part 3 of tools/bench/segmentation.py: inference on one 1 mm volume, one subprocess per method.

Each method (cascade through onnxruntime, PyTorch eager, Triton; the single-stage network through MONAI
``sliding_window_inference``) runs in a fresh ``python segmentation_inference.py METHOD WORKDIR ...`` process so its
peak memory is its own; the process prints one JSON line (median seconds, peak and delta RSS in MB, share of the
volume stage 2 computed). Triton's memory is the client's plus the server's process group.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.inferers import sliding_window_inference

from tessera.segmentation.cascade import CascadeConfig, SegmentationCascade, TorchStage
from tessera.segmentation.data import SyntheticBrainDataset
from tessera.segmentation.export import BackendStage, OnnxCascade, make_session
from tessera.segmentation.networks import MultiContrastUNet3D, UNetConfig

THREADS = 2


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
        net = MultiContrastUNet3D(UNetConfig(in_contrasts=volume.shape[0], num_classes=k, depth=args.depth,
                                             base_width=args.width))
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
        command = [sys.executable, __file__, key, str(workdir), "--repeats", str(args.repeats), "--depth",
                   str(args.depth), "--width", str(args.width)]
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


def main() -> None:
    parser = argparse.ArgumentParser(description="one inference method of the segmentation bench's part 3")
    parser.add_argument("worker", choices=("onnx-cascade", "torch-cascade", "monai-single", "triton-cascade"))
    parser.add_argument("workdir")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--width", type=int, default=8)
    worker(parser.parse_args())


if __name__ == "__main__":
    main()
