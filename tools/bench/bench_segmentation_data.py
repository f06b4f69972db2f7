"""Synthetic training data speed: seconds per sample at 1, 2 and 3 mm, with and without augmentation.

Usage: ``.venv/bin/python tools/bench/bench_segmentation_data.py [--samples 5] [--threads 2]``

Data: ``tessera.segmentation.data.SyntheticBrainDataset`` on the two real brains that install offline
(MNI152 2009a from nilearn's package data, Colin27 + AAL from Debian's mricron-data), three synthetic
contrasts (T1w, T2w, FLAIR), synthetic lesions for the tissue task. Nothing else is started.
Rows: first (cold) template load per spacing, then the median wall time of ``--samples`` samples (after one
warm-up) for each task, augmented (MONAI elastic+affine, bias field, low resolution, z-score, noise) and
clean (z-score only), single process on CPU with ``--threads`` torch threads.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch

from tessera.segmentation.data import SyntheticBrainDataset, load_template


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"CPU: {platform.processor() or platform.machine()}, torch threads: {args.threads}, samples: {args.samples}")
    print(f"{'spacing':>7} {'task':>6} {'augment':>7} {'shape (C,X,Y,Z)':>20} {'s/sample':>9}")
    for spacing in (3.0, 2.0, 1.0):
        start = time.perf_counter()
        for name in ("mni152", "colin27"):
            load_template(name, spacing)
        print(f"{spacing:>5.0f}mm {'':>6} {'':>7} {'template load (cold)':>20} {time.perf_counter() - start:>9.3f}")
        for task in ("tissue", "deep"):
            for augment in (True, False):
                ds = SyntheticBrainDataset(task, spacing_mm=spacing, n=args.samples + 1, augment=augment)
                ds[0]
                times = []
                for i in range(1, args.samples + 1):
                    start = time.perf_counter()
                    sample = ds[i]
                    times.append(time.perf_counter() - start)
                shape = str(tuple(sample["image"].shape))
                print(f"{spacing:>5.0f}mm {task:>6} {augment!s:>7} {shape:>20} {statistics.median(times):>9.3f}")


if __name__ == "__main__":
    main()
