"""``tessera cluster POINTS.parquet --s-limit 50 --t-limit 2.0 --min-neighbors 5 --out DIR``.

Runs SCADDA locally on a wide or long point table (Parquet or CSV, see ``tables``) and writes
``labels.parquet``, ``summary.parquet``, ``map.png`` and ``series.png`` into ``--out``.
"""

from __future__ import annotations

from pathlib import Path

import typer


def cluster(
    points: Path = typer.Argument(..., exists=True, dir_okay=False, help="Point table (.parquet or .csv)."),
    s_limit: float = typer.Option(..., "--s-limit", help="Spatial limit in km (after rescaling)."),
    t_limit: float = typer.Option(..., "--t-limit", help="DTW limit between neighbours' series."),
    min_neighbors: int = typer.Option(5, "--min-neighbors", help="Neighbours a core point needs."),
    out: Path = typer.Option(Path("clusters"), "--out", help="Output directory."),
    algorithm: str = typer.Option("scadda", help="scadda or stdbscan."),
    steepness: float | None = typer.Option(None, help="Logistic steepness (default: rule of thumb)."),
    window: int | None = typer.Option(None, help="Sakoe-Chiba half-width in steps (default ceil(L/10))."),
    z_normalization: bool = typer.Option(False, "--z-normalization", help="z-normalise each series."),
    outlier_perc: float = typer.Option(100.0, "--outlier-perc", help="Re-cluster noise above this percentage."),
) -> None:
    """Cluster points by space and time series; prints one line per cluster."""
    from tessera.clustering.params import ScaddaParams
    from tessera.clustering.plots import cluster_map_png, mean_series_png
    from tessera.clustering.scadda import scadda
    from tessera.clustering.summary import summarise
    from tessera.clustering.tables import labels_frame, points_from_frame, read_table, summary_frame, to_parquet
    from tessera.core.errors import TesseraError

    try:
        table = points_from_frame(read_table(points, points.name))
        params = ScaddaParams(
            s_limit=s_limit, t_limit=t_limit, minimum_neighbors=min_neighbors, algorithm=algorithm,  # type: ignore[arg-type]
            steepness=steepness, window=window, z_normalization=z_normalization, outlier_perc=outlier_perc,
        )
        result = scadda(table.coords, table.series, params, weights=table.weights)
    except TesseraError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from error
    summaries = summarise(table.coords, table.series, result.labels, result.core)
    out.mkdir(parents=True, exist_ok=True)
    (out / "labels.parquet").write_bytes(to_parquet(labels_frame(table, result)))
    (out / "summary.parquet").write_bytes(to_parquet(summary_frame(summaries)))
    (out / "map.png").write_bytes(cluster_map_png(table.coords, result.labels, title=points.name))
    (out / "series.png").write_bytes(mean_series_png(summaries))
    typer.echo(f"{len(table.ids)} points, {result.n_clusters} clusters, {int(result.noise.sum())} noise -> {out}")
    for s in summaries:
        typer.echo(f"  cluster {s.label}: {s.size} points ({s.core} core), centroid {s.centroid_lat:.2f}, "
                   f"{s.centroid_lon:.2f}, period {s.dominant_period:g} steps, peak at step {s.peak_step}")
