"""Pool the per-seed JSON files of ``hypergraph.py --json`` runs into the bench's tables (mean ± std over seeds).

For runs made one seed per process (``--seeds 1 --first-seed K``), e.g. in parallel on a lent GPU machine
(tools/bench/graph_device_run.sh): each file holds ``{"device", "seeds", "results": {dataset: {figure: [...]}}}``.

    .venv/bin/python tools/bench/graph_pool.py OUT/*.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from graph_reference import fmt
from hypergraph import PAPER


def pool(paths: list[Path]) -> tuple[dict[str, dict[str, list[float]]], dict[str, list[int]], set[str]]:
    """(figures per dataset pooled over files, seeds per dataset, devices seen)."""
    pooled: dict[str, dict[str, list[float]]] = {}
    seeds: dict[str, list[int]] = {}
    devices: set[str] = set()
    for path in paths:
        doc = json.loads(path.read_text())
        devices.add(doc["device"])
        for name, figures in doc["results"].items():
            seeds.setdefault(name, []).extend(doc["seeds"])
            for key, values in figures.items():
                pooled.setdefault(name, {}).setdefault(key, []).extend(values)
    return pooled, seeds, devices


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args()
    pooled, seeds, devices = pool(args.files)
    print(f"Pooled {len(args.files)} run(s), training device(s): {', '.join(sorted(devices))}; mean ± std over seeds. "
          "Paper Hyper-SAGNN figures unverified (*), DHNE AUC checked (see hypergraph.py).")
    print("\n| data | seeds | ours AUC / AUPR | paper Hyper-SAGNN-E | paper DHNE AUC | gap to paper AUC | "
          "epochs run | epoch kept | s / epoch | ORT sets/s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, res in pooled.items():
        if not res.get("auc"):  # a --no-model run: baselines only (below)
            continue
        (auc, aupr), dhne = PAPER[name]["Hyper-SAGNN-E"], PAPER[name]["DHNE"][0]
        gap = sum(res["auc"]) / len(res["auc"]) - auc
        print(f"| {name} | {','.join(map(str, seeds[name]))} | {fmt(res['auc'])} / {fmt(res['aupr'])} | "
              f"{auc:.3f}* / {aupr:.3f}* | {dhne:.3f} | {gap:+.3f} | {'/'.join(str(int(e)) for e in res['epochs'])} | "
              f"{'/'.join(str(int(b)) for b in res['best'])} | {fmt(res['epoch_s'])} | "
              f"{sum(res['sps']) / len(res['sps']):,.0f} |")
    print_table("Co-occurrence heuristics + gradient boosting, alone and stacked with ours (AUC / AUPR)",
                "| data | co-occurrence + GBM | ours + co-occurrence (stacked) |",
                [f"| {name} | {fmt(res['cauc'])} / {fmt(res['caupr'])} | "
                 + (f"{fmt(res['sauc'])} / {fmt(res['saupr'])} |" if res.get("sauc") else "not run |")
                 for name, res in pooled.items() if res.get("cauc")])
    print_table("Outsider identification (test hyperedge + one random foreign node)",
                "| data | top-1 | top-2 | chance top-1 / top-2 (4 members) |",
                [f"| {name} | {fmt(res['o1'])} | {fmt(res['o2'])} | 0.250 / 0.500 |"
                 for name, res in pooled.items() if res.get("o1")])


def print_table(title: str, header: str, rows: list[str]) -> None:
    """A markdown table under its title, or nothing when there are no rows."""
    if rows:
        print(f"\n{title}\n{header}\n{'|---' * header.count(' | ')}|---|")
        print("\n".join(rows))


if __name__ == "__main__":
    main()
