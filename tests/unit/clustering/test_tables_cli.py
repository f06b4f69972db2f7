"""Point tables (wide and long), their bad rows, and the ``tessera cluster`` command."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from tessera.clustering.cli import cluster
from tessera.clustering.synthetic import idealized_scenario
from tessera.clustering.tables import points_from_frame
from tessera.core.errors import InvalidArgument


def wide_frame(scale: float = 0.5) -> pd.DataFrame:
    data = idealized_scenario(0, scale=scale)
    frame = pd.DataFrame({"id": [f"p{k}" for k in range(data.truth.size)], "lat": data.coords[:, 0],
                          "lon": data.coords[:, 1]})
    for month in range(data.series.shape[1]):
        frame[f"m{month:02d}"] = data.series[:, month]
    return frame


def test_long_table_gives_the_same_points_as_wide() -> None:
    wide = wide_frame()
    long = wide.melt(id_vars=["id", "lat", "lon"], var_name="time", value_name="value").sample(frac=1.0, random_state=0)
    from_wide, from_long = points_from_frame(wide), points_from_frame(long)
    order = np.argsort(from_wide.ids)
    assert sorted(from_wide.ids) == from_long.ids
    np.testing.assert_allclose(np.stack(from_long.series), np.stack(from_wide.series)[order])


def test_duplicate_ids_and_bad_coordinates_name_the_row() -> None:
    frame = wide_frame()
    frame.loc[5, "id"] = frame.loc[2, "id"]
    with pytest.raises(InvalidArgument, match="row 5: duplicate id"):
        points_from_frame(frame)
    frame = wide_frame()
    frame.loc[3, "lat"] = -95.0
    with pytest.raises(InvalidArgument, match="row 3"):
        points_from_frame(frame)


def test_cluster_command_writes_labels_summary_and_pngs(tmp_path: Path) -> None:
    wide_frame().to_parquet(tmp_path / "points.parquet")
    app = typer.Typer()
    app.command()(cluster)
    arguments = [str(tmp_path / "points.parquet"), "--s-limit", "30", "--t-limit", "1.5", "--min-neighbors", "5",
                 "--out", str(tmp_path / "out")]
    outcome = CliRunner().invoke(app, arguments)
    assert outcome.exit_code == 0, outcome.output
    assert "4 clusters" in outcome.output
    labels = pd.read_parquet(tmp_path / "out" / "labels.parquet")
    assert set(labels.columns) >= {"id", "label", "core", "border", "noise"} and len(labels) == 222
    assert (tmp_path / "out" / "map.png").read_bytes()[:4] == b"\x89PNG"
