"""The generated test corpus: its DICOM headers, what dcm2niix recovers from them, the event logs,
the manifest and the archives."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
import tarfile
import zipfile
from collections import defaultdict
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest

from tessera.bids.corpus import CorpusManifest, SeriesTruth, corpus_archive, generate_corpus
from tessera.core.errors import InvalidArgument

DCM2NIIX = Path(sys.executable).parent / "dcm2niix"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> CorpusManifest:
    # 3 subjects x 2 sessions: one subject per vendor, both protocol variants (odd/even session) each.
    return generate_corpus(tmp_path_factory.mktemp("corpus"), subjects=3, sessions=2,
                           vendors=("siemens", "ge", "philips"), seed=7)


def _convert(root: Path, series: list[SeriesTruth], out: Path) -> dict[int, list[dict[str, object]]]:
    """dcm2niix on one session folder; returns per series number its outputs (sidecar + shape + files)."""
    session_dir = root / Path(series[0].path).parent
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run([str(DCM2NIIX), "-z", "y", "-b", "y", "-f", "s%s", "-o", str(out), str(session_dir)],
                   check=True, capture_output=True, timeout=120)
    outputs: dict[int, list[dict[str, object]]] = defaultdict(list)
    for sidecar in sorted(out.glob("*.json")):
        number = int(re.match(r"s(\d+)", sidecar.name).group(1))  # type: ignore[union-attr]
        nii = sidecar.with_suffix(".nii.gz")
        shape = nib.load(nii).shape  # type: ignore[attr-defined]
        outputs[number].append({"name": sidecar.stem, "meta": json.loads(sidecar.read_text()), "shape": shape,
                                "bval": sidecar.with_suffix(".bval")})
    return outputs


@pytest.fixture(scope="module")
def converted(corpus: CorpusManifest, tmp_path_factory: pytest.TempPathFactory
              ) -> dict[tuple[str, str], tuple[list[SeriesTruth], dict[int, list[dict[str, object]]]]]:
    root = Path(corpus.root)
    result = {}
    for sub, ses in corpus.sessions():
        series = [s for s in corpus.series if (s.subject, s.session) == (sub, ses)]
        result[(sub, ses)] = (series, _convert(root, series, tmp_path_factory.mktemp(f"nii{sub}{ses}")))
    return result


def test_manifest_round_trips_and_lists_every_file(corpus: CorpusManifest) -> None:
    root = Path(corpus.root)
    again = CorpusManifest.load(root / "manifest.json")
    assert again.to_dict() == corpus.to_dict()
    assert len(corpus.sessions()) == 6
    assert {s.vendor for s in corpus.series} == {"siemens", "ge", "philips"}
    for s in corpus.series:
        assert len(list((root / s.path).iterdir())) == s.n_files, s.path
    dicom_files = sum(1 for p in (root / "DICOM").rglob("IM*"))
    assert dicom_files == sum(s.n_files for s in corpus.series)
    assert corpus.bytes < 40e6  # a few MB per session


def test_bids_names_are_unique_and_exclusions_have_reasons(corpus: CorpusManifest) -> None:
    for sub, ses in corpus.sessions():
        series = [s for s in corpus.series if (s.subject, s.session) == (sub, ses)]
        stems = [s.bids_stem for s in series if not s.exclude and len(s.outputs) == 1]
        assert len(stems) == len(set(stems)), stems
        kinds = {s.kind for s in series}
        assert {"localizer", "t1w", "t2w", "flair", "bold", "dwi", "dwi_adc"} <= kinds
        assert kinds & {"fmap_epi", "fmap_mag"}
    excluded = [s for s in corpus.series if s.exclude]
    assert {s.kind for s in excluded} == {"localizer", "t1w_mpr", "dwi_adc", "dwi_fa"}
    assert all(s.reason and s.suffix is None for s in excluded)
    nback = [s for s in corpus.series if s.kind == "bold" and s.entities.get("task") == "nback"]
    assert nback[0].bids_stem == "sub-01_ses-01_task-nback_run-1_bold"


def test_headers_carry_identity_and_vendor_conventions(corpus: CorpusManifest) -> None:
    root = Path(corpus.root)
    by_vendor = {s.vendor: s for s in corpus.series if s.kind == "t1w"}
    for s in by_vendor.values():
        ds = pydicom.dcmread(next((root / s.path).iterdir()))
        assert ds.SOPClassUID == pydicom.uid.MRImageStorage
        assert "^" in str(ds.PatientName) and ds.PatientID.startswith("MRN") and len(ds.PatientBirthDate) == 8
        assert ds.PatientAddress and ds.InstitutionName
        assert ds.SeriesDescription == s.description and ds.ProtocolName == s.protocol_name
        assert ds.ImageType[:2] == ["ORIGINAL", "PRIMARY"]
        assert float(ds.InversionTime) == 900 and float(ds.RepetitionTime) == 2300
        assert ds.pixel_array.shape == (ds.Rows, ds.Columns) and ds.pixel_array.max() > 200
    assert by_vendor["siemens"].description == "t1_mprage_sag_p2_iso"
    assert by_vendor["ge"].protocol_name == "BRAIN RESEARCH"  # GE: exam-wide ProtocolName
    assert by_vendor["philips"].series_number % 100 == 1
    adc = next(s for s in corpus.series if s.kind == "dwi_adc" and s.vendor == "siemens")
    adc_type = pydicom.dcmread(next((root / adc.path).iterdir())).ImageType
    assert adc_type[:4] == ["DERIVED", "PRIMARY", "DIFFUSION", "ADC"]


def test_dcm2niix_recovers_volumes_diffusion_echoes_and_phase_encoding(converted: dict) -> None:  # type: ignore[type-arg]
    seen = set()
    for (series, outputs) in converted.values():
        for s in series:
            outs = outputs[s.series_number]
            assert outs, f"dcm2niix wrote nothing for series {s.series_number} {s.description}"
            if s.exclude:
                continue
            assert len(outs) == len(s.outputs), (s.description, [o["name"] for o in outs])
            for out, truth in zip(outs, s.outputs, strict=True):
                meta, shape = out["meta"], out["shape"]
                assert isinstance(meta, dict) and isinstance(shape, tuple)
                if truth.echo:
                    assert meta["EchoNumber"] == truth.echo
                    assert str(out["name"]).endswith(f"_e{truth.echo}")
                    seen.add("multi-echo")
                assert meta["SeriesDescription"] == s.description
                if s.n_volumes > 1:
                    assert len(shape) == 4 and shape[3] == s.n_volumes, (s.description, shape)
                else:
                    assert len(shape) == 3
                if s.kind == "dwi":
                    bval = Path(str(out["bval"]))
                    assert np.allclose(np.loadtxt(bval), s.bvals)
                    assert bval.with_suffix(".bvec").exists()
                    seen.add("dwi")
                if s.kind in ("bold", "sbref", "dwi", "fmap_epi"):
                    if s.expected_pe:
                        assert meta["PhaseEncodingDirection"] == s.expected_pe, (s.vendor, s.description)
                        seen.add(f"pe-{s.vendor}")
                    else:  # Philips classic DICOM carries the axis but not the polarity
                        assert meta.get("PhaseEncodingAxis") == "j" and "PhaseEncodingDirection" not in meta
                if s.kind == "bold" and s.vendor == "siemens":
                    assert len(meta["SliceTiming"]) == shape[2] and max(meta["SliceTiming"]) < 2.0
                    assert meta["TotalReadoutTime"] > 0
                if s.kind == "fmap_phasediff":
                    assert "P" in meta["ImageType"]
                    seen.add("phasediff")
    assert seen >= {"multi-echo", "dwi", "phasediff", "pe-siemens", "pe-ge"}


def test_event_logs_give_onsets_relative_to_the_trigger(corpus: CorpusManifest) -> None:
    root = Path(corpus.root)
    assert {e.format for e in corpus.event_logs} == {"psychopy", "eprime"}
    for log in corpus.event_logs:
        text = (root / log.path).read_bytes().decode(log.encoding)
        if log.format == "eprime":
            assert (root / log.path).read_bytes()[:2] == b"\xff\xfe"  # UTF-16 LE BOM, as E-DataAid writes
            text = text.split("\n", 1)[1]  # first line names the .edat2 file
        rows = list(csv.DictReader(io.StringIO(text), delimiter="\t" if log.format == "eprime" else ","))
        trials = [r for r in rows if r[log.onset].strip()]
        assert len(trials) == log.n_trials
        scale = 1000.0 if log.unit == "ms" else 1.0
        onsets = [(float(r[log.onset]) - log.run_start) / scale for r in trials]
        assert np.allclose(onsets, log.onsets_s, atol=1e-3)
        assert all(r[log.trial_type] in ("0back", "2back") for r in trials)
        assert all(float(r[log.duration]) > 0 for r in trials)
        bold = next(s for s in corpus.series if (s.subject, s.session, s.series_number)
                    == (log.subject, log.session, log.series_number))
        assert bold.entities == {"task": "nback", "run": str(log.run)}
        assert max(log.onsets_s) < bold.n_volumes * 2.0  # every event inside the run


@pytest.mark.parametrize("fmt", ["zip", "tar.gz"])
def test_archive_packs_the_export_tree(corpus: CorpusManifest, tmp_path: Path, fmt: str) -> None:
    path = corpus_archive(corpus.root, tmp_path / f"corpus.{fmt}", fmt)
    if fmt == "zip":
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
    else:
        with tarfile.open(path) as tf:
            names = tf.getnames()
    assert "manifest.json" not in names
    assert len([n for n in names if n.startswith("DICOM/")]) == sum(s.n_files for s in corpus.series)
    assert any(re.fullmatch(r"DICOM/MRN\d+/\d{8}_A\d+/\d{4}_[^/]+/IM\d{4}", n) for n in names)
    assert any(n.startswith("logs/") for n in names)


def test_bad_arguments_are_field_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument) as err:
        generate_corpus(tmp_path, subjects=0, vendors=("toshiba",))
    assert {v.field for v in err.value.violations} == {"subjects", "vendors"}
    with pytest.raises(InvalidArgument):
        corpus_archive(tmp_path, tmp_path / "x.rar", "rar")


def test_cli_writes_a_corpus(tmp_path: Path) -> None:
    from tessera.bids.corpus.__main__ import main

    argv = [str(tmp_path / "c"), "--subjects", "1", "--sessions", "1", "--vendor", "ge", "--archive", "tar.gz"]
    assert main(argv) == 0
    m = CorpusManifest.load(tmp_path / "c" / "manifest.json")
    assert {s.vendor for s in m.series} == {"ge"} and (tmp_path / "c.tar.gz").exists()
