"""The authors' Hyper-SAGNN as a reference for tools/bench/hypergraph.py (its ``--reference-dir`` option).

Runs ``Code/main_torch.py --data D --feature adj`` (or ``walk``) of a checkout of ma-compbio/Hyper-SAGNN as a
subprocess, under the project's interpreter or another (``--reference-python``; it needs tqdm, see the graph
service's README), with a ``sitecustomize`` shim on its ``PYTHONPATH`` that restores what today's numpy / torch /
gensim removed and caps its process pool; parses the per-epoch lines it prints (train seconds, then seconds and AUC
/ AUPR of its evaluation pass over the *test* edges); checks that its ``data/D`` files are byte-identical to ours;
and prints its table beside our seconds per epoch. The reference's files are never modified.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# numpy >= 1.24 dropped the np.int / np.float aliases the reference's random walk uses, numpy 2 refuses a size-1
# array stored into one element, and torch >= 2 rejects the
# bool its FeedForward passes as Conv1d's stride (True meant 1). Restored for the reference's process only, through a
# sitecustomize module on its PYTHONPATH (which also caps its 100-process pool at the usable CPUs); the reference's
# files are not touched.
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

# numpy 2 refuses to store a size-1 array into one element (``temp[i] = np.random.randint(a, b, 1) + 1`` in its
# negative sampler): a size-1 draw comes back as the scalar it holds (the same draw from the same global RNG).
import numpy.random as _npr

_randint = _npr.randint


def _randint_size1_scalar(low, high=None, size=None, *args, **kwargs):
    out = _randint(low, high, size, *args, **kwargs)
    return out[0] if size == 1 else out


_npr.randint = _randint_size1_scalar

# The random walk it prepares even for --feature adj opens a hard-coded 100-process pool: at most one per usable CPU.
import concurrent.futures as _futures
import os as _os

_pool_init = _futures.ProcessPoolExecutor.__init__


def _pool_init_capped(self, max_workers=None, *args, **kwargs):
    cpus = len(_os.sched_getaffinity(0))
    _pool_init(self, min(max_workers or cpus, cpus), *args, **kwargs)


_futures.ProcessPoolExecutor.__init__ = _pool_init_capped

# gensim 4 renamed Word2Vec's size / iter (its --feature walk) to vector_size / epochs.
try:
    import gensim.models as _gensim_models
except ImportError:  # --feature adj never trains word2vec
    _gensim_models = None
if _gensim_models is not None:
    _Word2Vec = _gensim_models.Word2Vec

    class _Word2VecOldNames(_Word2Vec):
        def __init__(self, sentences=None, size=None, iter=None, **kwargs):
            if size is not None:
                kwargs["vector_size"] = size
            if iter is not None:
                kwargs["epochs"] = iter
            super().__init__(sentences, **kwargs)

    _gensim_models.Word2Vec = _Word2VecOldNames
"""
_EPOCH_LINE = re.compile(r"\((Training|Validation-hyper)\).*auc:\s*([0-9.]+),\s*aupr:\s*([0-9.]+),"
                         r".*elapse:\s*([0-9.]+)\s*s")


@dataclass(frozen=True)
class ReferenceRun:
    """What the authors' ``main_torch.py`` printed, one entry per epoch."""

    data: str
    feature: str  # its --feature: adj (autoencoder, Hyper-SAGNN-E) or walk (Hyper-SAGNN-W)
    train_s: list[float]  # seconds of each epoch's training pass
    val_s: list[float]  # seconds of each epoch's "validation" pass, which the script runs on the *test* edges
    test_auc: list[float]  # AUC / AUPR of that pass: test positives (floor(n / 96) batches of 96) + 5 negatives each
    test_aupr: list[float]
    wall_s: float  # process start to the last parsed epoch, set-up (walks, co-occurrence features) included

    @property
    def epochs(self) -> int:
        return len(self.test_auc)

    @property
    def best(self) -> int:
        """Index of the epoch the script keeps: it checkpoints on the highest test AUC (ties: the later one)."""
        return int(len(self.test_auc) - 1 - np.argmax(self.test_auc[::-1]))


def reference_run(reference_dir: Path, python: str, epochs: int, data: str = "GPS",
                  timeout_s: float = 3600.0, feature: str = "adj") -> ReferenceRun:
    """Run ``Code/main_torch.py --data DATA --feature FEATURE``; stop it after ``epochs`` epochs (it trains 300).

    The script has no epoch option, so it is terminated once ``epochs`` evaluation lines were read (or it exits on
    its own after 300). It reads ``../data/DATA`` and writes checkpoints, walks and embeddings into ``reference_dir``.
    Its evaluation pass, every epoch, scores the test edges with fresh negatives (numpy's unseeded global RNG);
    that is the only held-out figure it prints. With ``walk`` its word2vec vectors are cached in
    ``reference_dir/DATA_wv_64_.npy`` and a later run would load them without the standardisation the first run
    applied, so that cache is removed first: every run is a first run.
    """
    (reference_dir / f"{data}_wv_64_.npy").unlink(missing_ok=True)
    code = reference_dir / "Code"
    if not (code / "main_torch.py").is_file():
        raise SystemExit(f"--reference-dir: {code / 'main_torch.py'} not found")
    train_s: list[float] = []
    val_s: list[float] = []
    auc: list[float] = []
    aupr: list[float] = []
    with tempfile.TemporaryDirectory() as shim_dir:
        (Path(shim_dir) / "sitecustomize.py").write_text(_REFERENCE_SHIM)
        env = {**os.environ, "PYTHONPATH": shim_dir, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
               "MKL_NUM_THREADS": os.environ.get("MKL_NUM_THREADS", "1")}
        start = time.perf_counter()
        # tqdm bars go to stderr; only stdout carries the per-epoch lines
        with subprocess.Popen([python, "-u", "main_torch.py", "--data", data, "--feature", feature], cwd=code, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) as proc:
            assert proc.stdout is not None
            try:
                for line in proc.stdout:
                    match = _EPOCH_LINE.search(line)
                    if match and match.group(1) == "Training":
                        train_s.append(float(match.group(4)))
                    elif match:
                        val_s.append(float(match.group(4)))
                        auc.append(float(match.group(2)))
                        aupr.append(float(match.group(3)))
                    if len(val_s) >= epochs or time.perf_counter() - start > timeout_s:
                        break
                wall = time.perf_counter() - start
            finally:
                proc.terminate()
    if not val_s:
        raise SystemExit(f"reference printed no epoch (exit {proc.returncode}); run "
                         f"{python} main_torch.py --data {data} --feature {feature} in {code} to see why")
    return ReferenceRun(data, feature, train_s, val_s, auc, aupr, wall)


def reference_runs(reference_dir: Path, python: str, epochs: int, datasets: tuple[str, ...],
                   runs: int, feature: str = "adj") -> list[ReferenceRun]:
    """:func:`reference_run` ``runs`` times on each of ``datasets`` (the script sets no seed), in that order."""
    references: list[ReferenceRun] = []
    for data in datasets:
        for _ in range(runs):
            references.append(reference_run(reference_dir, python, epochs, data, feature=feature))
            print(f"[done] reference {data}", file=sys.stderr, flush=True)
    return references


def same_files(reference_dir: Path, data: str, ours: Path) -> bool:
    """Whether the reference's ``data/DATA`` train/test files are byte-identical to ``ours/DATA``'s."""
    names = ("train_data.npz", "test_data.npz")
    return all((reference_dir / "data" / data / n).read_bytes() == (ours / data / n).read_bytes() for n in names)


def fmt(values: list[float]) -> str:
    """``mean ± std`` of several runs / seeds, or the one value; three decimals (also hypergraph.py's tables)."""
    return f"{np.mean(values):.3f} ± {np.std(values):.3f}" if len(values) > 1 else f"{values[0]:.3f}"


def reference_table(runs: list[ReferenceRun], ours: dict[str, list[float]]) -> list[str]:
    """Rows: the reference's test AUC / AUPR at its last epoch and at the epoch it keeps, its seconds per epoch."""
    lines = ["| data | runs x epochs | last epoch AUC / AUPR | kept epoch (max test AUC) AUC / AUPR | kept epoch "
             "| train + eval s / epoch | ours s / epoch |", "|---|---|---|---|---|---|---|"]
    for data in dict.fromkeys(r.data for r in runs):
        mine = [r for r in runs if r.data == data]
        last_auc, last_aupr = [r.test_auc[-1] for r in mine], [r.test_aupr[-1] for r in mine]
        kept_auc, kept_aupr = [r.test_auc[r.best] for r in mine], [r.test_aupr[r.best] for r in mine]
        per_epoch = [float(np.mean(r.train_s[: r.epochs]) + np.mean(r.val_s)) for r in mine]
        lines.append(f"| {data} | {len(mine)} x {min(r.epochs for r in mine)} | {fmt(last_auc)} / {fmt(last_aupr)} | "
                     f"{fmt(kept_auc)} / {fmt(kept_aupr)} | {', '.join(str(r.best + 1) for r in mine)} | "
                     f"{fmt(per_epoch)} | {fmt(ours[data]) if ours.get(data) else 'not run'} |")
    return lines


def print_reference(runs: list[ReferenceRun], reference_dir: Path, datasets: tuple[str, ...], ours_data: Path,
                    ours_epoch_s: dict[str, list[float]]) -> None:
    """Print what the reference runs measured: how it was run and selects, then :func:`reference_table`'s rows.

    ``ours_data`` is our data folder (for the byte-identity check); ``ours_epoch_s`` our seconds of every epoch
    trained, per dataset.
    """
    same = {d: same_files(reference_dir, d, ours_data) for d in datasets}
    features = ", ".join(dict.fromkeys(r.feature for r in runs))
    print(f"\nReference = ma-compbio/Hyper-SAGNN Code/main_torch.py --feature {features} (unseeded; CPU, one "
          f"thread); its data/ files byte-identical to ours: {', '.join(f'{d} {v}' for d, v in same.items())}. "
          "Its only held-out figure is its per-epoch pass over the test edges (floor(n / 96) "
          "batches of 96 positives + 5 fresh negatives each, 90 % one-node swaps); the script keeps the epoch of "
          "highest *test* AUC, so that column is selected on the test edges (optimistic), the last-epoch column "
          f"is not. Process wall to the last epoch: {', '.join(f'{r.wall_s:.0f} s' for r in runs)}.")
    print("\n".join(reference_table(runs, {k: [float(np.mean(v))] for k, v in ours_epoch_s.items()})))
