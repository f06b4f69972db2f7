"""Training-accuracy estimation without training vs real training (compression service, issue 5).

Data: synthetic, generated here with a known ground truth of "no structure" — N points uniform in
[0, 1]^d, two balanced classes assigned at random (the setting of Guan & Loew, arXiv:2010.13380).
Measured: the best training accuracy of a d -> L (ReLU) -> 1 network trained full-batch with Adam,
mean over seeds (each seed a fresh dataset and network). Estimate: the space-partitioning formula
(``tessera.compression.estimate_training_accuracy``).

    python tools/bench/compression_estimation.py           # full grid (about 10 min on one core)
    python tools/bench/compression_estimation.py --quick   # reduced grid (well under 4 min)
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from tessera.compression.estimation_harness import TrainingConfig, product_grid, validate_grid

# The paper's full text (its figures and its reported estimation errors) is not stored offline here,
# and the abstract gives no numbers: the column says so instead of inventing them.
PAPER_FIGURES = "not available offline (abstract gives no figures)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="reduced grid, fewer epochs and seeds")
    parser.add_argument("--json", help="also write the table as JSON to this path")
    args = parser.parse_args()
    if args.quick:
        torch.set_num_threads(1)
        grid = product_grid([2, 5, 10], [200], [2, 4, 8, 16])
        config = TrainingConfig(epochs=2000, lr=0.02, seeds=3)
    else:
        grid = product_grid([2, 5, 10, 20], [100, 200, 500], [2, 4, 8, 16, 32])
        config = TrainingConfig(epochs=3000, lr=0.02, seeds=4)
    start = time.perf_counter()
    summary = validate_grid(grid, config)
    elapsed = time.perf_counter() - start
    print("Training accuracy of two-layer networks on random two-class data: estimate vs trained")
    print(f"data: synthetic uniform [0,1]^d, random balanced labels; {config.seeds} seeds per cell; "
          f"full-batch Adam, {config.epochs} epochs, lr {config.lr}; paper's figures: {PAPER_FIGURES}")
    print(f"{'d':>4} {'N':>5} {'L':>4} | {'estimate':>8} | {'measured':>8} {'(sd)':>6} | {'|err|':>6}")
    for c in summary.cells:
        print(f"{c.d:>4} {c.n:>5} {c.l:>4} | {c.estimate:>8.3f} | {c.measured_mean:>8.3f} "
              f"{c.measured_std:>6.3f} | {c.abs_error:>6.3f}")
    print(f"cells {len(summary.cells)}; mean |estimate - measured| {summary.mean_abs_error:.3f}, "
          f"max {summary.max_abs_error:.3f}; {elapsed:.0f} s")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"cells": [c.as_dict() for c in summary.cells], "mean_abs_error": summary.mean_abs_error,
                       "max_abs_error": summary.max_abs_error, "config": vars(config)}, fh, indent=2)


if __name__ == "__main__":
    main()
