"""Hyper-SAGNN benchmark: hyperedge prediction AUC/AUPR, outsider identification, Les Misérables.

Data: GPS, MovieLens and drug from ``../shared/data/hypergraph/`` beside the repository (the authors' published splits;
test edges are positives, negatives drawn as in the paper: 5 per positive, one node swapped within its
type 90 % of the time, never a known hyperedge); Les Misérables scenes bundled with HyperNetX (80
characters, variable-size scenes, 20 % of scenes held out). Validation: 10 % of the training edges
(epoch selection); test edges are never used for selection.

Baseline on the same splits: node2vec-style random-walk embeddings of the training clique expansion,
the set represented by the mean and the elementwise min of its members, logistic regression.

Inference: sets/s of the GPS scorer (test edges + their negatives, padded sets + mask) through in-process
onnxruntime and through Triton (the dev stack's moto S3 + tritonserver, the model published to the S3 model
repository and loaded explicitly, as the service does), batches of the service's 64 sets.

Reference (``--reference-dir``): the authors' ``Code/main_torch.py`` (ma-compbio/Hyper-SAGNN) run as a subprocess on
GPS with its autoencoder features (``--feature adj``), stopped after ``--reference-epochs`` epochs; its printed
training and validation seconds per epoch are shown beside ours. It needs numpy < 1.25 and tqdm (see the service
README); ``--reference-python`` names that interpreter.

    .venv/bin/python tools/bench/graph.py            # full: 3 seeds, up to 30 epochs, all edges, Triton
    .venv/bin/python tools/bench/graph.py --quick    # 1 seed, few epochs, capped epochs on the big sets, no Triton
    .venv/bin/python tools/bench/graph.py --quick --triton --reference-dir /tmp/hsagnn \
        --reference-python /tmp/hsagnn-venv/bin/python
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, roc_auc_score

from tessera.core.artifacts.factory import open_store
from tessera.core.inference import ModelRepository
from tessera.core.inference.triton_backend import TritonBackend
from tessera.core.settings import TesseraSettings, load_settings
from tessera.devstack import DevStack, StackConfig
from tessera.graph.batching import pad_sets
from tessera.graph.export import INPUT_IDS, INPUT_MASK, OUTPUT_SCORE, export_scorer, make_session
from tessera.graph.features import random_walk_embeddings
from tessera.graph.hypergraph import Hypergraph
from tessera.graph.hypersagnn import HyperSAGNN, NetworkConfig
from tessera.graph.loaders import load_benchmark, load_lesmis
from tessera.graph.negatives import NegativeSampler
from tessera.graph.outsiders import outsider_accuracy
from tessera.graph.training import TrainConfig, auc_aupr, train

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "hypergraph"
# Hyper-SAGNN paper (ICLR 2020) Table 2, typed from memory, not checked against the paper text (the text was not
# reachable offline). The DHNE AUCs (0.910 / 0.877 / 0.925) match DHNE's own published AUCs as listed by a
# leaderboard page; every Hyper-SAGNN figure and every AUPR is UNVERIFIED. (AUC, AUPR).
PAPER = {
    "GPS": {"Hyper-SAGNN-E": (0.952, 0.798), "DHNE": (0.910, 0.668)},
    "MovieLens": {"Hyper-SAGNN-E": (0.959, 0.889), "DHNE": (0.877, 0.563)},
    "drug": {"Hyper-SAGNN-E": (0.961, 0.907), "DHNE": (0.925, 0.775)},
}


def test_negatives(graph: Hypergraph, test: Hypergraph, seed: int) -> list[np.ndarray]:
    sampler = NegativeSampler(graph, graph.keys() | test.keys())
    return sampler.sample(test.edges, np.random.default_rng(1000 + seed))


def baseline(train_g: Hypergraph, test: Hypergraph, negatives: list[np.ndarray], seed: int,
             quick: bool) -> tuple[float, float]:
    """node2vec-style embeddings + logistic regression on [mean, min] of the set's members."""
    vec = random_walk_embeddings(train_g, dim=32 if quick else 64, walks_per_node=2 if quick else 10,
                                 length=20 if quick else 40, window=5 if quick else 10, seed=seed)

    def feats(sets: list[np.ndarray]) -> np.ndarray:
        return np.stack([np.r_[vec[s].mean(0), vec[s].min(0)] for s in sets])

    sampler = NegativeSampler(train_g, train_g.keys() | test.keys())
    pos = list(train_g.edges)
    neg = sampler.sample(pos, np.random.default_rng(seed))
    clf = LogisticRegression(max_iter=500).fit(feats(pos + neg), np.r_[np.ones(len(pos)), np.zeros(len(neg))])
    scores = clf.predict_proba(feats(list(test.edges) + negatives))[:, 1]
    labels = np.r_[np.ones(len(test.edges)), np.zeros(len(negatives))]
    return float(roc_auc_score(labels, scores)), float(average_precision_score(labels, scores))


def throughput(model, sets: list[np.ndarray], batch: int = 1024) -> float:
    """Sets per second through onnxruntime (one thread), batches of ``batch`` padded sets."""
    session = make_session(export_scorer(model))
    batches = [pad_sets(sets[i: i + batch]) for i in range(0, len(sets), batch)]
    start = time.perf_counter()
    for ids, mask in batches:
        session.run(None, {INPUT_IDS: ids, INPUT_MASK: mask})
    return len(sets) / (time.perf_counter() - start)


@dataclass(frozen=True)
class TritonResult:
    sets_per_s: float
    ort_sets_per_s: float  # same batches, in-process onnxruntime, for the side-by-side
    batch: int
    max_abs_diff: float  # |Triton - onnxruntime| over all scores
    stack_start_s: float
    load_s: float


def triton_throughput(model: HyperSAGNN, sets: list[np.ndarray], batch: int = 64) -> TritonResult:
    """Sets per second of the exported scorer through Triton (gRPC, sequential requests of ``batch`` padded sets).

    The dev stack (moto S3 + tritonserver, no Kafka) is started for the measurement and stopped after it; the model
    goes through the S3 model repository and an explicit load, as in the service. ``batch`` is at most the published
    config's ``max_batch_size`` (64, the service's ``TESSERA_GRAPH_INFER_BATCH`` default).
    """
    onnx_bytes = export_scorer(model)
    batches = [pad_sets(sets[i: i + batch]) for i in range(0, len(sets), batch)]
    t0 = time.perf_counter()
    stack = DevStack(StackConfig(log_dir=Path(".stack") / "bench-graph", kafka=False)).start()
    stack_s = time.perf_counter() - t0
    try:
        assert stack.triton is not None
        overrides: dict[str, object] = {k.removeprefix("TESSERA_").lower(): v for k, v in stack.env().items()}
        settings = load_settings(TesseraSettings, **overrides)
        ModelRepository(open_store(settings), settings.model_repository_prefix).publish("graph-bench", onnx_bytes)
        triton = TritonBackend(stack.triton.grpc_url)
        try:
            t0 = time.perf_counter()
            triton.load("graph-bench")
            load_s = time.perf_counter() - t0
            for ids, mask in batches[:3]:  # warm-up
                triton.infer("graph-bench", {INPUT_IDS: ids, INPUT_MASK: mask})
            start = time.perf_counter()
            scores = [triton.infer("graph-bench", {INPUT_IDS: ids, INPUT_MASK: mask})[OUTPUT_SCORE]
                      for ids, mask in batches]
            triton_s = time.perf_counter() - start
        finally:
            triton.close()
    finally:
        stack.stop()
    session = make_session(onnx_bytes)
    start = time.perf_counter()
    ort_scores = [session.run([OUTPUT_SCORE], {INPUT_IDS: ids, INPUT_MASK: mask})[0] for ids, mask in batches]
    ort_s = time.perf_counter() - start
    diff = float(np.abs(np.concatenate(scores).ravel() - np.concatenate(ort_scores).ravel()).max())
    return TritonResult(len(sets) / triton_s, len(sets) / ort_s, batch, diff, stack_s, load_s)


# numpy >= 1.24 dropped the np.int / np.float aliases the reference's random walk uses, and torch >= 2 rejects the
# bool its FeedForward passes as Conv1d's stride (True meant 1). Restored for the reference's process only, through
# a sitecustomize module on its PYTHONPATH; the reference's files are not touched.
_REFERENCE_SHIM = """\
import numpy
for _name, _type in (("int", int), ("float", float), ("object", object)):
    if not hasattr(numpy, _name):
        setattr(numpy, _name, _type)

import torch.nn as _nn

_conv1d_init = _nn.Conv1d.__init__


def _conv1d_init_bool_stride(self, in_channels, out_channels, kernel_size, stride=1, *args, **kwargs):
    stride = int(stride) if isinstance(stride, bool) else stride
    _conv1d_init(self, in_channels, out_channels, kernel_size, stride, *args, **kwargs)


_nn.Conv1d.__init__ = _conv1d_init_bool_stride
"""
_ELAPSE = re.compile(r"\((Training|Validation-hyper)\).*elapse:\s*([0-9.]+)\s*s")


@dataclass(frozen=True)
class ReferenceEpochs:
    train_s: list[float]  # seconds of each epoch's training pass, as the reference prints them
    val_s: list[float]  # seconds of each epoch's validation pass (the reference validates on the test edges)
    wall_s: float  # process start to the last parsed epoch, set-up (walks, co-occurrence features) included


def reference_epochs(reference_dir: Path, python: str, epochs: int, data: str = "GPS",
                     timeout_s: float = 900.0) -> ReferenceEpochs:
    """Run ``Code/main_torch.py --data DATA --feature adj`` and stop it after ``epochs`` epochs.

    The script trains a hard-coded 300 epochs, so it is terminated once ``epochs`` validation lines were read. It reads
    ``../data/DATA`` and writes checkpoints, walks and embeddings into ``reference_dir``.
    """
    code = reference_dir / "Code"
    if not (code / "main_torch.py").is_file():
        raise SystemExit(f"--reference-dir: {code / 'main_torch.py'} not found")
    with tempfile.TemporaryDirectory() as shim_dir:
        (Path(shim_dir) / "sitecustomize.py").write_text(_REFERENCE_SHIM)
        env = {**os.environ, "PYTHONPATH": shim_dir, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
               "MKL_NUM_THREADS": os.environ.get("MKL_NUM_THREADS", "1")}
        train_s: list[float] = []
        val_s: list[float] = []
        start = time.perf_counter()
        # tqdm bars go to stderr; only stdout carries the per-epoch lines
        with subprocess.Popen([python, "-u", "main_torch.py", "--data", data, "--feature", "adj"], cwd=code, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) as proc:
            assert proc.stdout is not None
            try:
                for line in proc.stdout:
                    match = _ELAPSE.search(line)
                    if match:
                        (train_s if match.group(1) == "Training" else val_s).append(float(match.group(2)))
                    if len(val_s) >= epochs or time.perf_counter() - start > timeout_s:
                        break
                wall = time.perf_counter() - start
            finally:
                proc.terminate()
    if len(val_s) < epochs:
        raise SystemExit(f"reference stopped after {len(val_s)} of {epochs} epochs (exit {proc.returncode}); run "
                         f"{python} main_torch.py --data {data} --feature adj in {code} to see why")
    return ReferenceEpochs(train_s, val_s, wall)


def fmt(values: list[float]) -> str:
    return f"{np.mean(values):.3f} ± {np.std(values):.3f}" if len(values) > 1 else f"{values[0]:.3f}"


def run(quick: bool, use_triton: bool = False, reference_dir: Path | None = None, reference_python: str = "",
        reference_epochs_n: int = 2) -> None:
    seeds = [0] if quick else [0, 1, 2]
    rows: list[str] = []
    outsider_rows: list[str] = []
    net = NetworkConfig()
    # --quick (< 4 min on one shared core): MovieLens/drug train 3 epochs of 15 batches (1,440 positives each),
    # validate on 1 % of their training edges and test on 1,500 test edges; GPS runs whole.
    caps = {"GPS": 0, "MovieLens": 15 if quick else 0, "drug": 15 if quick else 0}
    val_fraction = {"GPS": 0.1, "MovieLens": 0.01 if quick else 0.1, "drug": 0.01 if quick else 0.1}
    epochs = {"GPS": 8 if quick else 30, "MovieLens": 3 if quick else 30, "drug": 3 if quick else 30}
    quick_test_edges = 1500
    triton_result: TritonResult | None = None
    gps_epoch_s: list[float] = []
    for name in ("GPS", "MovieLens", "drug"):
        train_g, test = load_benchmark(DATA / name)
        if quick and name != "GPS":  # reduced scale: a random subset of the test edges
            keep = np.random.default_rng(0).permutation(len(test.edges))[:quick_test_edges]
            test = test.with_edges([test.edges[i] for i in keep])
        res: dict[str, list[float]] = {k: [] for k in ("auc", "aupr", "bauc", "baupr", "o1", "o2", "epoch_s", "sps")}
        for seed in seeds:
            config = TrainConfig(network=net, max_epochs=epochs[name], patience=(3 if quick else 5),
                                 max_batches_per_epoch=caps[name], validation_fraction=val_fraction[name],
                                 outsider_negatives=True, seed=seed)
            result = train(train_g, config, extra_known=test.keys())
            negatives = test_negatives(train_g, test, seed)
            auc, aupr = auc_aupr(result.model, test.edges, negatives)
            res["auc"].append(auc)
            res["aupr"].append(aupr)
            res["epoch_s"].append(float(np.mean([h.seconds for h in result.history])))
            if name in ("GPS", "drug"):
                out = outsider_accuracy(result.model, train_g, test.edges, seed=seed)
                res["o1"].append(out.top1)
                res["o2"].append(out.top2)
            res["sps"].append(throughput(result.model, list(test.edges) + negatives))
            if name == "GPS":
                gps_epoch_s.extend(h.seconds for h in result.history)
                if use_triton and seed == seeds[0]:
                    triton_result = triton_throughput(result.model, list(test.edges) + negatives)
            if not quick or name == "GPS":
                bauc, baupr = baseline(train_g, test, negatives, seed, quick)
                res["bauc"].append(bauc)
                res["baupr"].append(baupr)
        paper = PAPER[name]
        base = f"{fmt(res['bauc'])} / {fmt(res['baupr'])}" if res["bauc"] else "not run (--quick)"
        rows.append(f"| {name} | {fmt(res['auc'])} / {fmt(res['aupr'])} | {paper['Hyper-SAGNN-E'][0]:.3f}* / "
                    f"{paper['Hyper-SAGNN-E'][1]:.3f}* | {paper['DHNE'][0]:.3f} / {paper['DHNE'][1]:.3f}* | {base} | "
                    f"{fmt(res['epoch_s'])} | {np.mean(res['sps']):,.0f} |")
        if res["o1"]:
            outsider_rows.append(f"| {name} | {fmt(res['o1'])} | {fmt(res['o2'])} | 0.250 / 0.500 |")
        print(f"[done] {name}", file=sys.stderr, flush=True)

    reference = (reference_epochs(reference_dir, reference_python or sys.executable, reference_epochs_n)
                 if reference_dir is not None else None)

    lesmis = load_lesmis().deduplicated()
    fit, held = lesmis.split(0.2, seed=0)
    les = []
    for seed in seeds:
        config = TrainConfig(network=net, max_epochs=(20 if quick else 60), patience=(5 if quick else 10),
                             batch_size=8, seed=seed)
        result = train(fit, config, extra_known=held.keys())
        negs = NegativeSampler(lesmis, lesmis.keys()).sample(held.edges, np.random.default_rng(seed))
        les.append(auc_aupr(result.model, held.edges, negs))

    print(f"\nHyper-SAGNN (autoencoder features), {'reduced (--quick)' if quick else 'full'} run, "
          f"{len(seeds)} seed(s), CPU, one thread")
    print("Data: GPS / MovieLens / drug from ../shared/data/hypergraph (authors' splits); Les Misérables scenes "
          "from HyperNetX. Paper figures: Zhang, Zou, Ma (ICLR 2020) Table 2, typed from memory: the DHNE AUCs agree "
          "with DHNE's published AUCs; the Hyper-SAGNN figures and all AUPRs are UNVERIFIED (marked *).")
    if quick:
        print(f"Reduced: GPS <= 8 epochs; MovieLens/drug 3 epochs of 15 batches (1,440 positives), 1 % validation, "
              f"{quick_test_edges} test edges; Les Misérables <= 20 epochs.")
    print("\n| data | ours AUC / AUPR | paper Hyper-SAGNN-E | paper DHNE | node2vec mean+min + LR (ours) "
          "| s / epoch | ORT sets/s |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    print("\nOutsider identification (test hyperedge + one random foreign node, 4 members)")
    print("| data | top-1 | top-2 | chance top-1 / top-2 |")
    print("|---|---|---|---|")
    print("\n".join(outsider_rows))
    print(f"\nLes Misérables ({len(lesmis.edges)} distinct scenes of 2-{lesmis.sizes.max()} characters, "
          f"{len(held.edges)} held out): AUC {fmt([a for a, _ in les])}, AUPR {fmt([b for _, b in les])}")
    if triton_result is not None:
        t = triton_result
        print(f"\nInference, GPS scorer, test edges + negatives, batches of {t.batch} padded sets + mask, sequential "
              f"requests (dev stack start {t.stack_start_s:.1f} s, Triton load {t.load_s:.2f} s, "
              f"max |Triton - onnxruntime| {t.max_abs_diff:.1e})")
        print("| backend | sets/s |")
        print("|---|---|")
        print(f"| onnxruntime in-process (1 thread) | {t.ort_sets_per_s:,.0f} |")
        print(f"| Triton (gRPC, python backend + onnxruntime, CPU) | {t.sets_per_s:,.0f} |")
    if reference is not None:
        r = reference
        n = len(r.val_s)
        print(f"\nTime per epoch on GPS, CPU, one thread; reference = ma-compbio/Hyper-SAGNN Code/main_torch.py "
              f"--feature adj, first {n} epochs (process wall to epoch {n}, set-up included: {r.wall_s:.1f} s)")
        print("| | train s / epoch | validation s / epoch | s / epoch |")
        print("|---|---|---|---|")
        print(f"| reference (batch 96 positives, validates on the test edges) | {np.mean(r.train_s[:n]):.2f} | "
              f"{np.mean(r.val_s):.2f} | {np.mean(r.train_s[:n]) + np.mean(r.val_s):.2f} |")
        print(f"| ours (validation = 10 % of train edges, included) | | | {np.mean(gps_epoch_s):.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="reduced scale (< 4 min)")
    parser.add_argument("--triton", action=argparse.BooleanOptionalAction, default=None,
                        help="GPS sets/s through Triton (dev stack) beside onnxruntime; default on, off with --quick")
    parser.add_argument("--reference-dir", type=Path, default=None,
                        help="checkout of ma-compbio/Hyper-SAGNN: time its main_torch.py epochs on GPS beside ours")
    parser.add_argument("--reference-python", default="",
                        help="interpreter for the reference (numpy < 1.25, tqdm); default: this one")
    parser.add_argument("--reference-epochs", type=int, default=2, help="reference epochs to time (default 2)")
    args = parser.parse_args()
    if args.quick:
        torch.set_num_threads(1)
    use_triton = (not args.quick) if args.triton is None else args.triton
    run(args.quick, use_triton, args.reference_dir, args.reference_python, args.reference_epochs)


if __name__ == "__main__":
    main()
