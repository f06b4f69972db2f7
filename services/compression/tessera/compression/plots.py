"""PNG of the accuracy trade-offs across methods: accuracy vs unique weight values and vs encoded size."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: no display on servers or in tests

import matplotlib.pyplot as plt
from matplotlib.ticker import NullFormatter

from tessera.compression.reports import CompressionReport

_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h")


def plot_tradeoffs(reports: Sequence[CompressionReport], path: str | Path, title: str = "",
                   metric: str = "accuracy") -> Path:
    """Two panels, one marker per report: accuracy (%) vs unique weight values (log x) and vs compressed
    size in KiB (log x); methods are told apart by colour and marker in one legend below the panels, the
    baseline accuracy (if any report has one) is a dashed line. Reports without an accuracy are skipped.
    ``metric`` names what ``accuracy`` holds on the axes (``Dice`` for segmentation reports).
    Returns the written path.
    """
    rows = [r for r in reports if r.accuracy is not None]
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.8))
    colours = [plt.get_cmap("tab20")(i) for i in range(20)]
    for index, report in enumerate(rows):
        accuracy = 100.0 * float(report.accuracy or 0.0)
        style = {"s": 42, "color": colours[index % len(colours)], "marker": _MARKERS[index % len(_MARKERS)]}
        left.scatter(report.unique_values, accuracy, label=report.method, **style)
        right.scatter(report.encoded_bytes / 1024.0, accuracy, **style)
    baseline = next((r.baseline_accuracy for r in rows if r.baseline_accuracy is not None), None)
    for axis, label in ((left, "unique weight values (whole network)"), (right, "compressed size (KiB)")):
        axis.set_xscale("log")
        axis.xaxis.set_minor_formatter(NullFormatter())  # minor log labels overlap on narrow ranges
        axis.set_xlabel(label)
        axis.set_ylabel(f"{metric} (%)")
        axis.grid(True, which="both", alpha=0.3)
        if baseline is not None:
            axis.axhline(100.0 * baseline, linestyle="--", color="grey", linewidth=1)
    figure.legend(loc="lower center", ncol=min(5, max(1, len(rows))), fontsize=7, frameon=False)
    figure.suptitle((title or "compression trade-offs") + (f" (dashed: uncompressed {metric})" if baseline else ""))
    rows_of_legend = -(-len(rows) // 5)
    figure.tight_layout(rect=(0, 0.04 * rows_of_legend + 0.02, 1, 1))
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, format="png", dpi=120)
    plt.close(figure)
    return out
