"""``tessera graph train DATA`` and ``tessera graph predict MODEL SETS.csv``, run locally on files.

``train`` writes a model folder (``model.onnx`` + ``card.json``); ``predict`` scores the candidate sets
of a long table ``set_id, node[, type]`` (CSV or Parquet) with onnxruntime and prints (or writes) one
row per set: ``set_id, score, outsider`` (the lowest-scoring member's node).
"""

from __future__ import annotations

from pathlib import Path

import typer

graph_app = typer.Typer(no_args_is_help=True, help="Hyper-SAGNN hypergraph models: train and predict.")


@graph_app.command()
def train(
    data: str = typer.Argument(..., help="Benchmark folder (train/test_data.npz), .npz, CSV/Parquet, or 'lesmis'."),
    out: Path = typer.Option(Path("graph-model"), help="Model folder to write."),
    features: str = typer.Option("autoencoder", help="autoencoder | walk"),
    epochs: int = typer.Option(30, min=1, help="Most epochs (early stopping on validation AUC)."),
    patience: int = typer.Option(5, min=1),
    seed: int = typer.Option(0),
) -> None:
    """Train Hyper-SAGNN on DATA; prints validation AUC/AUPR per epoch and writes the model folder."""
    from tessera.core.errors import TesseraError
    from tessera.graph.bundle import GraphModelCard, save_bundle
    from tessera.graph.export import export_scorer
    from tessera.graph.loaders import load_any
    from tessera.graph.training import TrainConfig
    from tessera.graph.training import train as fit

    try:
        graph, test = load_any(data)
        config = TrainConfig(features=features, max_epochs=epochs, patience=patience, seed=seed)
        result = fit(graph, config, progress=lambda r: typer.echo(
            f"epoch {r.epoch}: loss {r.loss:.4f}  val AUC {r.val_auc:.4f}  AUPR {r.val_aupr:.4f}  ({r.seconds:.1f} s)"),
            extra_known=test.keys() if test is not None else None)
    except TesseraError as exc:
        typer.echo(f"{exc.code.name}: {exc}", err=True)
        raise typer.Exit(1) from None
    card = GraphModelCard.for_graph(out.name, 1, graph, features=features, dim=config.network.dim,
                                    metrics={"val_auc": result.val_auc, "val_aupr": result.val_aupr,
                                             "best_epoch": float(result.best_epoch)},
                                    history=[vars(h) for h in result.history], training=config.to_dict())
    save_bundle(out, card, export_scorer(result.model))
    typer.echo(f"best epoch {result.best_epoch}: val AUC {result.val_auc:.4f}, AUPR {result.val_aupr:.4f} -> {out}")


@graph_app.command()
def predict(
    model: Path = typer.Argument(..., exists=True, file_okay=False, help="Model folder written by train."),
    sets: Path = typer.Argument(..., exists=True, dir_okay=False, help="Long table set_id, node[, type]."),
    out: Path | None = typer.Option(None, help="CSV to write (default: print)."),
) -> None:
    """Score candidate sets of any sizes; prints set_id, score, outsider."""
    import numpy as np
    import pandas as pd

    from tessera.core.errors import TesseraError
    from tessera.graph.bundle import Member, SetEncoder, load_bundle
    from tessera.graph.export import INPUT_IDS, INPUT_MASK, make_session
    from tessera.graph.loaders import read_table

    try:
        card, onnx_bytes = load_bundle(model)
        table = read_table(sets)
        if "set_id" not in table.columns or "node" not in table.columns:
            raise TesseraError("SETS needs columns set_id, node[, type]")
        named = not pd.api.types.is_numeric_dtype(table["node"])
        groups: dict[object, list[Member]] = {}
        for row in table.itertuples(index=False):
            node = row.node
            member = Member(type=str(getattr(row, "type", "")), name=str(node) if named else "",
                            id=0 if named else int(node))
            groups.setdefault(row.set_id, []).append(member)
        encoder = SetEncoder(card)
        encoded = encoder.encode(list(groups.values()))
        ids, mask = encoder.pad(encoded)
        score, node_scores = make_session(onnx_bytes).run(None, {INPUT_IDS: ids, INPUT_MASK: mask})
    except TesseraError as exc:
        typer.echo(f"{getattr(exc.code, 'name', 'ERROR')}: {exc}", err=True)
        raise typer.Exit(1) from None
    rows = []
    for i, (set_id, members) in enumerate(groups.items()):
        worst = int(np.argmin(node_scores[i, : len(members)]))
        m = members[worst]
        rows.append({"set_id": set_id, "score": float(score[i]), "outsider": m.name or f"{m.type}:{m.id}"})
    result = pd.DataFrame(rows)
    if out is not None:
        result.to_csv(out, index=False)
    else:
        typer.echo(result.to_csv(index=False), nl=False)
