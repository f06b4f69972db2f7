"""`tessera graph train` on a long CSV, then `predict` on sets of mixed sizes, and a bad set."""

from __future__ import annotations

import pandas as pd
from typer.testing import CliRunner

from tessera.graph.cli import graph_app
from tests.unit.graph.synthetic import planted_variable


def test_train_then_predict_mixed_sizes(tmp_path):
    graph = planted_variable(n_edges=120)
    rows = [(i, f"n{v}") for i, e in enumerate(graph.edges) for v in e]
    pd.DataFrame(rows, columns=["edge_id", "node"]).to_csv(tmp_path / "edges.csv", index=False)
    runner = CliRunner()
    trained = runner.invoke(graph_app, ["train", str(tmp_path / "edges.csv"), "--out", str(tmp_path / "m"),
                                        "--epochs", "2"])
    assert trained.exit_code == 0, trained.output
    assert "best epoch" in trained.output and (tmp_path / "m" / "model.onnx").is_file()
    sets = pd.DataFrame({"set_id": ["a", "a", "b", "b", "b"], "node": ["n0", "n4", "n1", "n5", "n2"]})
    sets.to_csv(tmp_path / "sets.csv", index=False)
    predicted = runner.invoke(graph_app, ["predict", str(tmp_path / "m"), str(tmp_path / "sets.csv")])
    assert predicted.exit_code == 0, predicted.output
    lines = predicted.output.strip().splitlines()
    assert lines[0] == "set_id,score,outsider" and [line.split(",")[0] for line in lines[1:]] == ["a", "b"]
    assert all(0.0 <= float(line.split(",")[1]) <= 1.0 for line in lines[1:])
    pd.DataFrame({"set_id": ["a"], "node": ["n0"]}).to_csv(tmp_path / "bad.csv", index=False)
    bad = runner.invoke(graph_app, ["predict", str(tmp_path / "m"), str(tmp_path / "bad.csv")])
    assert bad.exit_code == 1 and "at least two" in bad.output
