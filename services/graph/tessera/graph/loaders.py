"""Readers of the hypergraph formats the service accepts.

- **npz** (Hyper-SAGNN / DHNE benchmark layout): ``train_data`` or ``test_data`` (n_edges, k) ints, one
  node per type per column, ids numbered per type from 0; ``nums_type`` (k,) node counts.
- **long** table (CSV or Parquet): columns ``edge_id, node[, type]``, one row per (hyperedge, member);
  hyperedges of any size; ``node`` is an int id within its type or a string name; no ``type`` column means
  a single node type.
- **fixed-arity** table (CSV or Parquet): one row per hyperedge, one column per member; each column's
  header is the node type of that member (``user, location, activity``); ids are ints within the type.
- **Les Misérables** scenes bundled with HyperNetX: 402 scenes over 80 characters, one node type.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from tessera.core.errors import InvalidArgument
from tessera.graph.hypergraph import Hypergraph

BENCHMARK_TYPES: dict[str, tuple[str, ...]] = {
    "GPS": ("user", "location", "activity"),
    "MovieLens": ("user", "movie", "tag"),
    "drug": ("user", "drug", "reaction"),
}
LONG_COLUMNS = ("edge_id", "node")


def _fixed_rows(rows: np.ndarray, node_counts: Sequence[int], type_names: Sequence[str],
                column_types: Sequence[int], field: str) -> Hypergraph:
    """Hypergraph of fixed-arity rows (n, k) of per-type ids; column ``c`` holds nodes of ``column_types[c]``."""
    if rows.ndim != 2 or rows.shape[1] < 2:
        raise InvalidArgument.field(field, f"expected (n_edges, k >= 2) node ids, got shape {rows.shape}")
    if not np.all(np.isfinite(rows)):
        raise InvalidArgument.field(field, "node ids must be finite numbers (NaN found)")
    ids = rows.astype(np.int64)
    counts = np.asarray(node_counts, dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    glob = np.empty_like(ids)
    for c, t in enumerate(column_types):
        bad = (ids[:, c] < 0) | (ids[:, c] >= counts[t])
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise InvalidArgument.field(f"{field}[{row}].{type_names[t]}",
                                        f"node id {ids[row, c]} out of range [0, {counts[t]})")
        glob[:, c] = ids[:, c] + offsets[t]
    return Hypergraph.from_edges(list(glob), node_counts, type_names)


def load_npz(source: str | Path | bytes, split: str = "train", type_names: Sequence[str] | None = None) -> Hypergraph:
    """Hypergraph of ``<split>_data`` in a benchmark ``.npz`` (path or bytes); columns are the node types in order."""
    data = np.load(io.BytesIO(source) if isinstance(source, bytes) else source, allow_pickle=False)
    key = f"{split}_data"
    if key not in data or "nums_type" not in data:
        raise InvalidArgument.field("data", f"npz needs '{key}' and 'nums_type' arrays, has {sorted(data.keys())}")
    counts = [int(c) for c in data["nums_type"]]
    names = tuple(type_names) if type_names is not None else tuple(f"type{t}" for t in range(len(counts)))
    rows = np.asarray(data[key], dtype=np.float64)  # MovieLens stores ids as float64
    return _fixed_rows(rows, counts, names, list(range(len(counts))), key)


def load_benchmark(directory: str | Path) -> tuple[Hypergraph, Hypergraph]:
    """(train, test) of a benchmark folder holding ``train_data.npz`` and ``test_data.npz`` (GPS, MovieLens, drug)."""
    folder = Path(directory)
    names = BENCHMARK_TYPES.get(folder.name)
    train = load_npz(folder / "train_data.npz", "train", names)
    test = load_npz(folder / "test_data.npz", "test", names)
    if train.node_counts != test.node_counts:
        raise InvalidArgument.field("test_data.nums_type", "differs from train_data's nums_type")
    return train, test


def read_table(source: str | Path | bytes, fmt: str = "") -> pd.DataFrame:
    """A CSV or Parquet table from a path or bytes; ``fmt`` ('csv' | 'parquet') or the file suffix decides."""
    kind = fmt or (Path(source).suffix.lstrip(".").lower() if not isinstance(source, bytes) else "")
    if not kind and isinstance(source, bytes):
        kind = "parquet" if source[:4] == b"PAR1" else "csv"
    handle = io.BytesIO(source) if isinstance(source, bytes) else source
    if kind in ("parquet", "pq"):
        return pd.read_parquet(handle)
    if kind in ("csv", "txt"):
        return pd.read_csv(handle)
    raise InvalidArgument.field("format", f"unknown table format {kind!r}: use csv or parquet")


def hypergraph_from_long(table: pd.DataFrame, node_counts: dict[str, int] | None = None) -> Hypergraph:
    """Hypergraph of a long table ``edge_id, node[, type]`` (one row per member of a hyperedge).

    Integer nodes are per-type ids (node counts: ``node_counts`` or max id + 1); string nodes are names,
    numbered per type in order of first appearance (kept as ``node_labels``).
    """
    missing = [c for c in LONG_COLUMNS if c not in table.columns]
    if missing:
        raise InvalidArgument.field("data", f"long format needs columns edge_id, node[, type]; missing {missing}")
    if table.empty:
        raise InvalidArgument.field("data", "the table has no rows (no hyperedges)")
    if table["node"].isna().any() or table["edge_id"].isna().any():
        row = int(np.flatnonzero((table["node"].isna() | table["edge_id"].isna()).to_numpy())[0])
        raise InvalidArgument.field(f"data[{row}].node", "missing (NaN) node or edge_id")
    types = table["type"].astype(str) if "type" in table.columns else pd.Series(["node"] * len(table))
    type_names = tuple(dict.fromkeys(types))
    numeric = pd.api.types.is_numeric_dtype(table["node"])
    counts: list[int] = []
    labels: list[tuple[str, ...]] = []
    local = np.empty(len(table), dtype=np.int64)
    for name in type_names:
        rows = (types == name).to_numpy()
        nodes = table["node"].to_numpy()[rows]
        if numeric:
            ids = np.asarray(nodes, dtype=np.float64)
            if np.any(ids < 0) or np.any(ids != np.floor(ids)):
                raise InvalidArgument.field(f"data.node[type={name}]", "integer node ids must be >= 0")
            n = int(ids.max()) + 1
            if node_counts is not None and name in node_counts:
                if n > node_counts[name]:
                    raise InvalidArgument.field(f"data.node[type={name}]",
                                                f"node id {n - 1} out of range [0, {node_counts[name]})")
                n = node_counts[name]
            local[rows] = ids.astype(np.int64)
            labels.append(tuple(str(i) for i in range(n)))
        else:
            codes, uniques = pd.factorize(pd.Series(nodes).astype(str))
            local[rows] = codes
            n = len(uniques)
            labels.append(tuple(str(u) for u in uniques))
        counts.append(n)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    type_index = {name: t for t, name in enumerate(type_names)}
    glob = local + offsets[types.map(type_index).to_numpy()]
    edges = [np.unique(g) for _, g in pd.Series(glob).groupby(table["edge_id"].to_numpy(), sort=False)]
    edges = [e for e in edges if len(e) >= 2]
    if not edges:
        raise InvalidArgument.field("data", "no hyperedge with at least two distinct nodes")
    return Hypergraph.from_edges(edges, counts, type_names, labels if not numeric else None)


def hypergraph_from_fixed(table: pd.DataFrame, node_counts: dict[str, int] | None = None) -> Hypergraph:
    """Hypergraph of a fixed-arity table: one row per hyperedge, each column header names the member's type.

    Columns naming the same type share its id space (``user, user, item``: two users and an item).
    """
    names = [str(c).split(".")[0] for c in table.columns]  # pandas renames repeated headers "user.1"
    type_names = tuple(dict.fromkeys(names))
    column_types = [type_names.index(n) for n in names]
    rows = table.to_numpy(dtype=np.float64, na_value=np.nan)
    counts = []
    for t, name in enumerate(type_names):
        cols = rows[:, [c for c, ct in enumerate(column_types) if ct == t]]
        finite = cols[np.isfinite(cols)]
        n = int(finite.max()) + 1 if finite.size else 1
        counts.append(node_counts.get(name, n) if node_counts else n)
    return _fixed_rows(rows, counts, type_names, column_types, "data")


def load_table(source: str | Path | bytes, fmt: str = "", node_counts: dict[str, int] | None = None) -> Hypergraph:
    """A hypergraph from a CSV/Parquet table in long (``edge_id, node[, type]``) or fixed-arity layout."""
    table = read_table(source, fmt)
    if all(c in table.columns for c in LONG_COLUMNS):
        return hypergraph_from_long(table, node_counts)
    return hypergraph_from_fixed(table, node_counts)


def load_lesmis() -> Hypergraph:
    """Les Misérables scenes (HyperNetX's bundled data): 402 scenes over 80 characters, scenes of >= 2 kept."""
    from hypernetx.utils.toys.lesmis import get_scene_data  # the rest of hypernetx needs pandas < 3

    rows = list(get_scene_data())  # (volume, book, chapter, scene, step, character)
    table = pd.DataFrame({"edge_id": ["-".join(str(v) for v in r[:4]) for r in rows],
                          "node": [str(r[-1]) for r in rows]})
    return hypergraph_from_long(table)


def load_any(source: str | Path, fmt: str = "") -> tuple[Hypergraph, Hypergraph | None]:
    """(hypergraph, test hypergraph or None) of a path: a benchmark folder, an ``.npz``, a CSV/Parquet table,
    or the word ``lesmis``."""
    if str(source) == "lesmis":
        return load_lesmis(), None
    path = Path(source)
    if path.is_dir():
        return load_benchmark(path)
    if fmt == "npz" or path.suffix == ".npz":
        return load_npz(path, "train", BENCHMARK_TYPES.get(path.parent.name)), None
    return load_table(path, fmt), None
