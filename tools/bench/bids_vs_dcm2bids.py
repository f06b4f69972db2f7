"""Tessera's bids method side by side with dcm2bids 3.3.1 on the same generated DICOM corpus.

Data: ``tessera.bids.corpus.generate_corpus`` (synthetic, MNI152-based volumes with Siemens / GE /
Philips-style headers; default 3 subjects x 2 sessions, one vendor per subject, seed 0, size
'small'), whose manifest gives the ground truth for every series: the BIDS files a careful person
would write, or that the series is excluded (localizer, reformat, scanner-derived map).

- Tessera: ``inspect_and_plan`` on the corpus folder (no configuration: subject/session from the
  headers, mapping inferred per series) then ``write_and_validate``.
- dcm2bids: ``dcm2bids_scaffold`` once, then ``dcm2bids -d <session DICOM dir> -p <sub> -s <ses>
  -c tools/bench/dcm2bids_config.json`` per subject/session, with the PyPI dcm2niix first on PATH
  (dcm2bids calls ``dcm2niix`` by name). The config was written once by hand for these protocols,
  knowing every SeriesDescription (read from ``dcm2bids_helper`` output): that favours dcm2bids on
  naming. Subject and session labels are given to it on the command line from the ground truth.

Scores per series (86 with the defaults): exact = the set of NIfTI paths the tool wrote for the
series equals the ground truth's (an excluded series is right when nothing is written). Tessera
numbers subjects by first scan date, the corpus by generation order; both labellings are arbitrary,
so tessera's subject labels are mapped to the corpus' through PatientID before names are compared
(how many labels already agreed is printed). Times: wall clock of conversion + naming + writing
(validator excluded, timed separately), 2-core machine, dcm2niix single-threaded in both.

Run: .venv/bin/python tools/bench/bids_vs_dcm2bids.py [--subjects 3 --sessions 2 --seed 0 --work DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from tessera.bids.corpus import CorpusManifest, SeriesTruth, generate_corpus
from tessera.bids.model import ENTITY_ORDER
from tessera.bids.pipeline import inspect_and_plan, write_and_validate
from tessera.bids.validate import ValidationReport, validate_dataset
from tessera.bids.writer import _layout_series  # the writer's own series -> file names mapping, one source of truth

CONFIG = Path(__file__).resolve().parent / "dcm2bids_config.json"
BIN = Path(sys.executable).parent
Key = tuple[str, str, int]  # (ground-truth subject, session, series number)


@dataclass
class ToolRun:
    """One tool's outputs: per ground-truth series the NIfTI paths it wrote (dataset-relative)."""

    name: str
    files: dict[Key, set[str]] = field(default_factory=lambda: defaultdict(set))
    convert_s: float = 0.0  # conversion + naming + writing, seconds
    validate_s: float = 0.0
    report: ValidationReport | None = None
    unmatched_outputs: list[str] = field(default_factory=list)  # files we could not tie to a series
    notes: list[str] = field(default_factory=list)


def truth_files(s: SeriesTruth) -> set[str]:
    """Ground-truth NIfTI paths of a series, e.g. {'sub-01/ses-01/func/sub-01_ses-01_task-rest_bold.nii.gz'}."""
    if s.exclude or not s.suffix or not s.datatype:
        return set()
    out = set()
    for o in s.outputs:
        ents = {"sub": s.subject, "ses": s.session, **o.entities}
        stem = "_".join([*(f"{k}-{ents[k]}" for k in ENTITY_ORDER if ents.get(k)), o.suffix])
        out.add(f"sub-{s.subject}/ses-{s.session}/{s.datatype}/{stem}.nii.gz")
    return out


def key_of(s: SeriesTruth) -> Key:
    return (s.subject, s.session, s.series_number)


# ------------------------------------------------------------------------------------------- tessera


def run_tessera(corpus: Path, manifest: CorpusManifest, work: Path) -> ToolRun:
    run = ToolRun("tessera")
    by_path = {s.path: s for s in manifest.series}
    t0 = time.perf_counter()
    local = inspect_and_plan(corpus, work / "tessera_work", upload_id="bench")
    summary, report = write_and_validate(local.plan, local.converted_root, local.logs_root, work / "tessera_out")
    run.validate_s = report.seconds
    run.convert_s = time.perf_counter() - t0 - report.seconds
    run.report = report
    del summary
    # Map tessera's subject labels to the corpus' through the series' folders (which carry PatientID).
    label_map: dict[str, Counter[str]] = defaultdict(Counter)
    entry_truth = {}
    for entry in local.plan.series:
        truth = by_path.get(str(Path(entry.files[0]).parent)) if entry.files else None
        if truth is None:
            run.unmatched_outputs.append(f"series {entry.series_id} (no corpus series)")
            continue
        entry_truth[entry.series_id] = truth
        label_map[entry.subject][truth.subject] += 1
    excluded = [e for e in local.plan.series if e.plan.exclude]
    run.notes.append(f"excluded by the plan: {len(excluded)} series, e.g. "
                     + " | ".join(e.plan.messages[-1] for e in excluded[:3] if e.plan.messages))
    relabel = {t: c.most_common(1)[0][0] for t, c in label_map.items()}
    same = sum(t == g for t, g in relabel.items())
    run.notes.append(f"subject labels: tessera numbers by first scan date; {same}/{len(relabel)} equal the corpus' "
                     f"({', '.join(f'{t}->{g}' for t, g in sorted(relabel.items()))}); names compared after mapping")
    for index, entry in enumerate(local.plan.series):
        truth = entry_truth.get(entry.series_id)
        if truth is None or entry.plan.exclude:
            continue
        if entry.session != truth.session:
            run.notes.append(f"series {entry.series_id}: session {entry.session} != corpus {truth.session}")
        for output in _layout_series(index, entry, local.converted_root):
            name = re.sub(r"sub-([A-Za-z0-9]+)", lambda m: f"sub-{relabel.get(m.group(1), m.group(1))}", output.name)
            run.files[key_of(truth)].add(name + output.extension)
    return run


# ------------------------------------------------------------------------------------------ dcm2bids


def run_dcm2bids(corpus: Path, manifest: CorpusManifest, work: Path) -> ToolRun:
    run = ToolRun("dcm2bids")
    out = work / "dcm2bids_out"
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}  # the PyPI dcm2niix
    t0 = time.perf_counter()
    subprocess.run([str(BIN / "dcm2bids_scaffold"), "-o", str(out)], env=env, check=True, capture_output=True)
    # What a user does after scaffolding: name the dataset and write the README (the scaffold's is empty).
    description = json.loads((out / "dataset_description.json").read_text())
    (out / "dataset_description.json").write_text(json.dumps({**description, "Name": "dcm2bids benchmark"}, indent=2))
    (out / "README").write_text("Synthetic multi-vendor MRI sessions converted with dcm2bids for a benchmark.\n")
    sessions: dict[tuple[str, str], Path] = {}
    for s in manifest.series:
        sessions.setdefault((s.subject, s.session), corpus / Path(s.path).parent)
    for (sub, ses), dicom_dir in sessions.items():
        proc = subprocess.run(
            [str(BIN / "dcm2bids"), "-d", str(dicom_dir), "-p", sub, "-s", ses, "-c", str(CONFIG), "-o", str(out),
             "--force_dcm2bids", "-l", "WARNING"],
            env=env, capture_output=True, text=True,
        )
        if proc.returncode != 0:
            run.notes.append(f"dcm2bids sub-{sub} ses-{ses} exited {proc.returncode}: {proc.stderr.strip()[-300:]}")
    run.convert_s = time.perf_counter() - t0
    # Tie each written file to its series through the SeriesNumber dcm2bids copies into the sidecar.
    for sidecar in sorted(out.glob("sub-*/ses-*/*/*.json")):
        rel = sidecar.relative_to(out)
        sub, ses = rel.parts[0][4:], rel.parts[1][4:]
        number = json.loads(sidecar.read_text()).get("SeriesNumber")
        nifti = rel.with_name(rel.name[: -len(".json")] + ".nii.gz").as_posix()
        if number is None:
            run.unmatched_outputs.append(nifti)
            continue
        run.files[(sub, ses, int(number))].add(nifti)
    # What dcm2bids left unpaired (no description matched) stays in its temporary folder.
    left: dict[str, set[int]] = defaultdict(set)
    for sidecar in sorted((out / "tmp_dcm2bids").glob("sub-*_ses-*/*.json")):
        left[sidecar.parent.name].add(int(json.loads(sidecar.read_text()).get("SeriesNumber", -1)))
    run.notes.append(f"left unpaired in tmp_dcm2bids: {sum(len(v) for v in left.values())} series "
                     f"({'; '.join(f'{k}: {sorted(v)}' for k, v in sorted(left.items()))})")
    report = validate_dataset(out)  # tmp_dcm2bids is in the scaffold's .bidsignore
    run.validate_s, run.report = report.seconds, report
    return run


# ------------------------------------------------------------------------------------------- scoring


def category(s: SeriesTruth) -> str:
    return "excluded" if s.exclude else str(s.datatype)


def score(manifest: CorpusManifest, runs: list[ToolRun]) -> None:
    series = manifest.series
    cats = sorted({category(s) for s in series}, key=lambda c: (c == "excluded", c))
    n = len(series)
    print(f"\n{'':34}" + "".join(f"{r.name:>14}" for r in runs))

    def row(label: str, values: list[str]) -> None:
        print(f"{label:34}" + "".join(f"{v:>14}" for v in values))

    row("convert+name+write, s total", [f"{r.convert_s:.1f}" for r in runs])
    row("  per series, s", [f"{r.convert_s / n:.3f}" for r in runs])
    row("BIDS validator, s", [f"{r.validate_s:.1f}" for r in runs])
    row(f"series named (of {n})", [str(sum(bool(r.files.get(key_of(s))) for s in series)) for r in runs])
    row("NIfTI files written", [str(sum(len(v) for v in r.files.values()) + len(r.unmatched_outputs)) for r in runs])
    row("series exactly right", [f"{sum(r.files.get(key_of(s), set()) == truth_files(s) for s in series)}/{n}"
                                 for r in runs])
    for c in cats:
        members = [s for s in series if category(s) == c]
        row(f"  {c} ({len(members)})", [f"{sum(r.files.get(key_of(s), set()) == truth_files(s) for s in members)}"
                                        f"/{len(members)}" for r in runs])
    row("expected series not named", [str(sum(not s.exclude and not r.files.get(key_of(s)) for s in series))
                                      for r in runs])
    row("excluded series named anyway", [str(sum(s.exclude and bool(r.files.get(key_of(s))) for s in series))
                                         for r in runs])
    row("validator errors (issues)", [str(len(r.report.errors)) if r.report else "-" for r in runs])
    row("validator warnings (issues)", [str(len(r.report.warnings)) if r.report else "-" for r in runs])
    if len(runs) == 2:
        a, b = runs
        agree = [s for s in series if a.files.get(key_of(s), set()) == b.files.get(key_of(s), set())]
        print(f"\ntools agree (same files for the series): {len(agree)}/{n}")
        for s in series:
            fa, fb, ft = a.files.get(key_of(s), set()), b.files.get(key_of(s), set()), truth_files(s)
            if fa == fb == ft:
                continue
            print(f"  sub-{s.subject} ses-{s.session} #{s.series_number:<5} {s.description!r} ({s.vendor})")
            print(f"      truth:    {sorted(ft) or 'excluded: ' + s.reason}")
            for r, f in ((a, fa), (b, fb)):
                mark = "ok" if f == ft else "WRONG"
                print(f"      {r.name + ':':9} {sorted(f) or 'nothing written'}  [{mark}]")
    for r in runs:
        print(f"\n{r.name}:")
        for note in r.notes:
            print(f"  {note}")
        if r.unmatched_outputs:
            print(f"  outputs not tied to a series: {r.unmatched_outputs}")
        if r.report:
            for issue in r.report.errors:
                print(f"  validator error: {issue.describe()[:300]}")
            codes = Counter(i.code for i in r.report.warnings)
            if codes:
                print(f"  validator warnings: {dict(codes)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subjects", type=int, default=3)
    parser.add_argument("--sessions", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", default="small", choices=("small", "medium"))
    parser.add_argument("--work", type=Path, default=None, help="keep everything here (default: a temp dir)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bids_vs_dcm2bids_"))
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    try:
        corpus = work / "corpus"
        manifest = generate_corpus(corpus, subjects=args.subjects, sessions=args.sessions,
                                   vendors=("siemens", "ge", "philips"), seed=args.seed, size=args.size)
        n_files = sum(s.n_files for s in manifest.series)
        print(f"Data: synthetic corpus from tessera.bids.corpus.generate_corpus (seed {args.seed}, size {args.size}): "
              f"{args.subjects} subjects x {args.sessions} sessions, vendors siemens/ge/philips (one per subject), "
              f"{len(manifest.series)} series ({sum(s.exclude for s in manifest.series)} to exclude), "
              f"{n_files} DICOM files, {manifest.bytes / 1e6:.1f} MB; generated in {manifest.seconds:.1f} s.")
        print(f"dcm2bids config: {CONFIG.name}, written once by hand for these protocols from dcm2bids_helper output "
              "(it knows every SeriesDescription, which favours dcm2bids on naming); subject/session given on its "
              "command line. Tessera uses no config.")
        tessera = run_tessera(corpus, manifest, work)
        d2b = run_dcm2bids(corpus, manifest, work)
        score(manifest, [tessera, d2b])
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
