"""The generated mixed-vendor corpus, end to end: inspect + plan, write, and the real BIDS validator.

3 subjects x 2 sessions, one vendor per subject (Siemens, GE, Philips), so ASL + M0, GRE
phasediff field maps, spin-echo EPI field maps, multi-echo BOLD and SBRef all appear. The
finalized dataset must have no validator errors, and the planned names must match the corpus
manifest's ground truth (subjects and sessions matched through each series' source folder, since
the planner numbers subjects itself).
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

from tessera.bids.corpus import generate_corpus
from tessera.bids.corpus.manifest import CorpusManifest, SeriesTruth
from tessera.bids.model import ENTITY_ORDER, SeriesEntry
from tessera.bids.pipeline import LocalPlan, inspect_and_plan, write_and_validate
from tessera.bids.writer import _layout_series  # the exact output names write_dataset uses

# The plan must reproduce every series' ground truth (datatype, suffix, entities, exclusion).
MIN_SERIES_MATCH = 1.0
MIN_OUTPUT_MATCH = 1.0


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, CorpusManifest]:
    root = tmp_path_factory.mktemp("corpus")
    manifest = generate_corpus(root, subjects=3, sessions=2, vendors=("siemens", "ge", "philips"))
    return root, manifest


@pytest.fixture(scope="module")
def planned(corpus: tuple[Path, CorpusManifest], tmp_path_factory: pytest.TempPathFactory) -> LocalPlan:
    root, _ = corpus
    return inspect_and_plan(root, tmp_path_factory.mktemp("work"), upload_id="corpus-mixed")


def _truth_of(entries: list[SeriesEntry], manifest: CorpusManifest) -> dict[str, SeriesTruth]:
    """series_id -> its manifest entry, through the series' source folder."""
    by_folder = {t.path: t for t in manifest.series}
    found = {}
    for entry in entries:
        folders = {str(Path(f).parent.as_posix()) for f in entry.files}
        matches = [by_folder[f] for f in folders if f in by_folder]
        assert len(matches) == 1, f"series {entry.series_id} has source folders {sorted(folders)}"
        found[entry.series_id] = matches[0]
    return found


def _relabelling(entries: list[SeriesEntry], truth: dict[str, SeriesTruth]) -> dict[tuple[str, str], tuple[str, str]]:
    """manifest (subject, session) -> plan (subject, session); one-to-one or the test fails."""
    pairs: dict[tuple[str, str], set[tuple[str, str]]] = defaultdict(set)
    for e in entries:
        pairs[(truth[e.series_id].subject, truth[e.series_id].session)].add((e.subject, e.session))
    assert all(len(v) == 1 for v in pairs.values()), f"a manifest session split across plan sessions: {pairs}"
    mapping = {k: next(iter(v)) for k, v in pairs.items()}
    assert len(set(mapping.values())) == len(mapping), f"two manifest sessions merged: {mapping}"
    return mapping


def _stem(subject: str, session: str, suffix: str, entities: dict[str, str]) -> str:
    values = {"sub": subject, "ses": session, **entities}
    return "_".join([*(f"{k}-{values[k]}" for k in ENTITY_ORDER if values.get(k)), suffix])


def test_every_session_finalizes_without_validator_errors(
    corpus: tuple[Path, CorpusManifest], planned: LocalPlan, tmp_path: Path
) -> None:
    _, manifest = corpus
    assert {s.vendor for s in manifest.series} == {"siemens", "ge", "philips"}
    kinds = {s.kind for s in manifest.series}
    assert {"asl", "m0", "fmap_mag", "fmap_phasediff", "fmap_epi", "sbref"} <= kinds
    assert any(len(s.echo_times) > 1 and s.suffix == "bold" for s in manifest.series), "no multi-echo BOLD"

    summary, report = write_and_validate(planned.plan, planned.converted_root, planned.logs_root, tmp_path / "bids")
    for issue in report.errors:
        print("VALIDATOR ERROR", issue.code, issue.sub_code, issue.files[:3])
    assert not report.errors, [f'{i.code} {i.sub_code}' for i in report.errors]
    assert len({(s.subject, s.session) for s in planned.plan.series if not s.plan.exclude}) == 6

    root = tmp_path / "bids"
    # ASL: aslcontext.tsv has one row per volume, in the corpus' label/control order; M0 points at it.
    asl_truth = [t for t in manifest.series if t.kind == "asl"]
    contexts = sorted(root.glob("sub-*/ses-*/perf/*_aslcontext.tsv"))
    assert len(contexts) == len(asl_truth) > 0
    for path in contexts:
        rows = path.read_text().splitlines()
        assert rows[0] == "volume_type"
        assert rows[1:] == asl_truth[0].asl_context
        sidecar = json.loads(path.with_name(path.name.replace("_aslcontext.tsv", "_asl.json")).read_text())
        assert sidecar["ArterialSpinLabelingType"] == "PCASL"
        assert sidecar["PostLabelingDelay"] == pytest.approx(1.8)
        assert sidecar["M0Type"] == "Separate"
        assert sidecar["TotalAcquiredPairs"] == rows[1:].count("label")
        m0 = json.loads(next(path.parent.glob("*_m0scan.json")).read_text())
        asl_uri = path.relative_to(root).as_posix().replace("_aslcontext.tsv", "_asl.nii.gz")
        assert m0["IntendedFor"] == [f"bids::{asl_uri}"]
    # GRE field map: EchoTime1/2 are the magnitude series' echo times.
    phasediffs = sorted(root.glob("sub-*/ses-*/fmap/*_phasediff.json"))
    assert phasediffs
    mag_tes = next(t.echo_times for t in manifest.series if t.kind == "fmap_mag")
    for path in phasediffs:
        sidecar = json.loads(path.read_text())
        assert (sidecar["EchoTime1"], sidecar["EchoTime2"]) == pytest.approx((mag_tes[0] / 1000, mag_tes[-1] / 1000))
    # Spin-echo field maps all carry a polarity and a readout time (Philips' polarity comes from dir-).
    for path in root.glob("sub-*/ses-*/fmap/*_epi.json"):
        sidecar = json.loads(path.read_text())
        expected = {"AP": "j-", "PA": "j"}[path.name.split("_dir-")[1].split("_")[0]]
        assert sidecar["PhaseEncodingDirection"] == expected, path.name
        assert sidecar["TotalReadoutTime"] > 0
    assert summary.series_written == sum(not s.plan.exclude for s in planned.plan.series)


def test_planned_names_match_the_manifest(corpus: tuple[Path, CorpusManifest], planned: LocalPlan) -> None:
    _, manifest = corpus
    entries = planned.plan.series
    truth = _truth_of(entries, manifest)
    assert len(truth) == len(manifest.series), "every generated series is in the plan exactly once"
    relabel = _relabelling(entries, truth)

    # Series level: the exclusion decision, and datatype/suffix/entities (echo lives on the outputs).
    series_mismatches = []
    for entry in entries:
        t = truth[entry.series_id]
        sub, ses = relabel[(t.subject, t.session)]
        expected = "EXCLUDED" if t.exclude else f"{t.datatype}/{_stem(sub, ses, str(t.suffix), t.entities)}"
        if entry.plan.exclude:
            got = "EXCLUDED"
        else:
            ents = {k: v for k, v in entry.plan.entities.items() if k != "echo"}
            got = f"{entry.plan.datatype}/{_stem(entry.subject, entry.session, str(entry.plan.suffix), ents)}"
        if got != expected:
            series_mismatches.append(f"{t.vendor} series {t.series_number} {t.description!r}: got {got}, "
                                     f"expected {expected}")

    # Output level: per session, the NIfTI names written against the manifest's per-output names.
    expected_outputs: dict[tuple[str, str], set[str]] = defaultdict(set)
    for t in manifest.series:
        sub, ses = relabel[(t.subject, t.session)]
        for out in t.outputs:
            expected_outputs[(sub, ses)].add(f"{t.datatype}/{_stem(sub, ses, out.suffix, out.entities)}")
    written: dict[tuple[str, str], set[str]] = defaultdict(set)
    for index, entry in enumerate(entries):
        if not entry.plan.exclude:
            for output in _layout_series(index, entry, planned.converted_root):
                folder, stem = output.name.split("/")[-2:]
                written[(entry.subject, entry.session)].add(f"{folder}/{stem}")
    output_mismatches: list[str] = []
    total_expected = sum(len(v) for v in expected_outputs.values())
    matched = 0
    for key in sorted(set(expected_outputs) | set(written)):
        want, have = expected_outputs.get(key, set()), written.get(key, set())
        matched += len(want & have)
        output_mismatches += [f"sub-{key[0]} ses-{key[1]}: missing {n}" for n in sorted(want - have)]
        output_mismatches += [f"sub-{key[0]} ses-{key[1]}: unexpected {n}" for n in sorted(have - want)]

    series_rate = 1 - len(series_mismatches) / len(entries)
    output_rate = matched / total_expected
    print(f"series exact match {series_rate:.1%} ({len(entries) - len(series_mismatches)}/{len(entries)}), "
          f"outputs {output_rate:.1%} ({matched}/{total_expected})")
    for line in series_mismatches + output_mismatches:
        print("MISMATCH", line)
    assert series_rate >= MIN_SERIES_MATCH, series_mismatches
    assert output_rate >= MIN_OUTPUT_MATCH and not output_mismatches, output_mismatches

    # Field maps correct the runs the manifest says (SBRefs aside: BIDS IntendedFor targets bold/dwi).
    by_number = {(truth[e.series_id].study_uid, truth[e.series_id].series_number): e for e in entries}
    for entry in entries:
        t = truth[entry.series_id]
        if entry.plan.exclude or entry.plan.datatype != "fmap" or not t.intended_for:
            continue
        wanted = {by_number[(t.study_uid, n)].series_id for n in t.intended_for
                  if by_number[(t.study_uid, n)].plan.suffix in ("bold", "dwi")}
        assert wanted <= set(entry.intended_for), (entry.series_id, sorted(wanted), entry.intended_for)
