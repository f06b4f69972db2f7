"""``tessera compression estimate --d D --n N --l L`` and ``tessera compression validate-estimate``.

Both run locally (no server): the estimate is a closed form, the validation trains small
networks on random data with torch on the CPU.
"""

from __future__ import annotations

import json

import typer

compression_app = typer.Typer(no_args_is_help=True, help="Model compression: capacity planning (more to come).")


@compression_app.command("estimate")
def estimate_cmd(
    d: int = typer.Option(..., "--d", help="Input dimensionality."),
    n: int = typer.Option(..., "--n", help="Number of training points (two random balanced classes)."),
    l_hidden: int = typer.Option(..., "--l", help="Hidden-layer width of the two-layer network."),
) -> None:
    """Expected maximum training accuracy of a two-layer network on random two-class data (no training)."""
    from tessera.compression.service import estimate
    from tessera.core.errors import InvalidArgument

    try:
        result = estimate(d, n, l_hidden)
    except InvalidArgument as exc:
        typer.echo(f"{exc.code.name}: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(json.dumps({"d": d, "n": n, "l": l_hidden, "training_accuracy": round(result.training_accuracy, 6),
                           "regions": result.regions, "points_per_region": result.points_per_region,
                           "method": result.method}, indent=2))


@compression_app.command("validate-estimate")
def validate_cmd(
    dims: str = typer.Option("2,5,10", help="Comma-separated input dimensionalities d."),
    points: str = typer.Option("200", help="Comma-separated numbers of points N."),
    hidden: str = typer.Option("2,4,8,16", help="Comma-separated hidden widths L."),
    epochs: int = typer.Option(3000, help="Full-batch Adam epochs per network."),
    seeds: int = typer.Option(4, help="Random datasets (and networks) per grid cell."),
) -> None:
    """Train two-layer networks on random data over a (d, N, L) grid; print estimate vs measured."""
    from tessera.compression.estimation_harness import TrainingConfig, product_grid, validate_grid

    def ints(text: str) -> list[int]:
        return [int(v) for v in text.split(",") if v.strip()]

    summary = validate_grid(product_grid(ints(dims), ints(points), ints(hidden)),
                            TrainingConfig(epochs=epochs, seeds=seeds))
    typer.echo(f"{'d':>4} {'N':>6} {'L':>4} {'estimate':>9} {'measured':>9} {'|err|':>7}")
    for c in summary.cells:
        typer.echo(f"{c.d:>4} {c.n:>6} {c.l:>4} {c.estimate:>9.3f} {c.measured_mean:>9.3f} {c.abs_error:>7.3f}")
    typer.echo(f"mean |err| {summary.mean_abs_error:.3f}, max |err| {summary.max_abs_error:.3f}")
