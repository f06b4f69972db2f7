"""Benchmark: Dice retained when the segmentation service's network is compressed as an ONNX model.

The compression service never imports the segmentation service: it takes an ONNX segmentation network
([N, C, D, H, W] -> logits [N, K, D, H, W]) and a dataset ref of image + label volumes
(tessera.compression.onnx_segmentation). This bench, a tool rather than a service, produces both the way the
segmentation service does: it trains the service's stage-1 network (MultiContrastUNet3D, 3 contrasts, depth 3,
width 8; tools/bench/segmentation.py's stage-1 setup: whole volumes at 6 mm, batch 2, lr 2e-3) on its synthetic
brains (MNI152 / Colin27 templates with synthetic T1w/T2w/FLAIR contrasts and lesions, task 'tissue'),
exports it with the service's exporter (inputs ``image`` and ``contrast_present``), writes the held-out test
volumes to an NPZ dataset ref (``x`` (N, 3, D, H, W), ``y`` (N, D, H, W)) and hands both to the compression code.

Methods: int8 static quantisation through ONNX Runtime (QDQ, calibrated on the volumes) and k-means weight
sharing of the ONNX initialisers (one global codebook, no fine-tuning) at several codebook sizes. Figures: Dice
per class against the ground truth and against the fp32 network's labels, mean over held-out volumes;
"retained" = mean Dice over the classes present / fp32's. REDUCED SCALE: 6 mm grid, a few hundred training steps,
so the fp32 Dice is that of a briefly trained network; the question here is what compression loses from it.

    OMP_NUM_THREADS=1 .venv/bin/python tools/bench/compression_segmentation.py --quick   # ~2 min
    OMP_NUM_THREADS=1 .venv/bin/python tools/bench/compression_segmentation.py           # ~5 min
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time

import numpy as np
import torch
from segmentation import fit, make_net, materialise

from tessera.compression.onnx_segmentation import SegmentationResult, SegmentationVolumes, compress_segmentation
from tessera.segmentation.data import CONTRASTS, SyntheticBrainDataset
from tessera.segmentation.export import export_stage


def volumes_npz(samples: list[dict[str, torch.Tensor]]) -> bytes:
    """The dataset ref's bytes: ``x`` (N, C, D, H, W) float32, ``y`` (N, D, H, W) int64."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, x=np.stack([s["image"].numpy() for s in samples]).astype(np.float32),
                        y=np.stack([s["label"][0].numpy() for s in samples]).astype(np.int64))
    return buffer.getvalue()


def print_rows(results: list[SegmentationResult], classes: tuple[str, ...]) -> None:
    fp32 = results[0]
    header = (f"{'method':<22}{'unique':>8}{'KiB':>8}" + "".join(f"{name:>9}" for name in classes[1:])
              + f"{'mean fg':>9}{'retained':>10}{'vs fp32':>9}")
    print(header)
    print("-" * len(header))
    for result in results:
        foreground = result.dice[1:]
        unique = "-" if result.unique_values is None else str(result.unique_values)
        label = result.method if result.method != "kmeans" else f"k-means k={result.info['clusters']}"
        print(f"{label:<22}{unique:>8}{result.encoded_bytes / 1024:>8.1f}"
              + "".join("     n/a" if np.isnan(v) else f"{100 * v:>9.1f}" for v in foreground)
              + f"{100 * np.nanmean(foreground):>9.1f}{100 * result.retained(fp32):>9.1f}%"
              + f"{100 * np.nanmean(result.dice_vs_fp32[1:]):>9.1f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps and volumes")
    parser.add_argument("--epochs", type=int, default=None, help="epochs of --steps steps (10 / 4 quick)")
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--train-volumes", type=int, default=None, help="(16 / 8 quick)")
    parser.add_argument("--test-volumes", type=int, default=None, help="(10 / 4 quick)")
    parser.add_argument("--clusters", default="8,16,32,64", help="k-means codebook sizes")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    args.epochs = args.epochs or (4 if args.quick else 10)
    args.train_volumes = args.train_volumes or (8 if args.quick else 16)
    args.test_volumes = args.test_volumes or (4 if args.quick else 10)
    args.depth, args.width = 3, 8
    torch.set_num_threads(1 if args.quick or os.environ.get("OMP_NUM_THREADS") == "1" else 2)
    started = time.perf_counter()
    common = {"task": "tissue", "contrasts": CONTRASTS, "seed": args.seed, "spacing_mm": 6.0}
    train = materialise(SyntheticBrainDataset(split="train", n=args.train_volumes, **common))  # type: ignore[arg-type]
    test_set = SyntheticBrainDataset(split="test", n=args.test_volumes, augment=True, **common)  # type: ignore[arg-type]
    test = materialise(test_set)
    classes = tuple(test_set.labels.classes)
    print(f"data: synthetic brains (tessera.segmentation.data, task 'tissue', classes {', '.join(classes)}) at 6 mm "
          f"{tuple(test[0]['image'].shape[1:])}: {len(train)} training, {len(test)} held-out test volumes; "
          f"{torch.get_num_threads()} thread(s)", flush=True)
    torch.manual_seed(args.seed)
    model, _, _ = fit("stage 1 (MultiContrastUNet3D, 6 mm whole volumes)", make_net(len(CONTRASTS), len(classes),
                                                                                      args), train, args)
    onnx_model = export_stage(model.net)
    volumes = SegmentationVolumes.from_npz(volumes_npz(test))  # through the dataset-ref format
    present = {"contrast_present": np.ones((1, len(CONTRASTS)), np.float32)}
    results = compress_segmentation(onnx_model, volumes, methods=["int8"], extra_inputs=present,
                                    calibration_volumes=len(test), seed=args.seed)
    for clusters in (int(k) for k in args.clusters.split(",")):
        results += compress_segmentation(onnx_model, volumes, methods=["kmeans"], clusters=clusters,
                                         extra_inputs=present, seed=args.seed)[1:]
    print(f"\n== Dice per class (%), {len(test)} held-out volumes, ONNX Runtime CPU; fp32 = the trained network ==")
    print_rows(results, classes)
    print("unique: distinct Conv/Gemm weight and bias values of the float graph (int8: per-channel int8 codes, not "
          "counted); KiB: the ONNX file (fp32, int8) or, for k-means, fp32 codebook + Huffman-coded indices + "
          "the other parameters at fp32 (the ONNX file itself keeps fp32 tensors); retained: mean foreground Dice "
          "/ fp32's; vs fp32: mean foreground Dice of the "
          "compressed labels against the fp32 labels.")
    print(f"total {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
