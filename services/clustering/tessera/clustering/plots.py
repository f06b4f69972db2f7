"""PNG figures: a lon/lat map of the clusters and the clusters' mean series.

matplotlib's object API (``Figure``, no pyplot): no global state, no display, thread-safe.
"""

from __future__ import annotations

import io

import matplotlib
import numpy as np
import numpy.typing as npt
from matplotlib.figure import Figure

from .expansion import NOISE
from .summary import ClusterSummary

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def cluster_map_png(coords: FloatArray, labels: IntArray, title: str = "clusters", dpi: int = 110) -> bytes:
    """Scatter of points at (lon, lat) coloured by cluster, noise in light grey; PNG bytes."""
    figure = Figure(figsize=(7.0, 5.5))
    axes = figure.subplots()
    noise = labels == NOISE
    axes.scatter(coords[noise, 1], coords[noise, 0], s=4, c="#c8c8c8", label="noise", linewidths=0)
    clusters = np.unique(labels[~noise])
    colours = matplotlib.colormaps["tab20"]
    size = max(2.0, 30.0 / np.sqrt(max(len(labels), 1) / 100.0))
    for index, label in enumerate(clusters.tolist()):
        rows = labels == label
        colour = colours(index % 20)
        axes.scatter(coords[rows, 1], coords[rows, 0], s=size, color=colour, label=f"{label}", linewidths=0)
    axes.set_xlabel("longitude (deg)")
    axes.set_ylabel("latitude (deg)")
    axes.set_title(title)
    if len(clusters) <= 20:
        axes.legend(markerscale=2, fontsize=7, loc="best", title="cluster")
    return _png(figure, dpi)


def mean_series_png(summaries: list[ClusterSummary], title: str = "cluster mean series", dpi: int = 110) -> bytes:
    """One line per cluster: its mean series over time steps; PNG bytes."""
    figure = Figure(figsize=(7.0, 4.0))
    axes = figure.subplots()
    colours = matplotlib.colormaps["tab20"]
    for index, summary in enumerate(summaries):
        axes.plot(summary.mean_series, color=colours(index % 20), label=f"{summary.label} (n={summary.size})")
    axes.set_xlabel("time step")
    axes.set_ylabel("mean value")
    axes.set_title(title)
    if 0 < len(summaries) <= 20:
        axes.legend(fontsize=7, loc="best")
    return _png(figure, dpi)


def _png(figure: Figure, dpi: int) -> bytes:
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()
