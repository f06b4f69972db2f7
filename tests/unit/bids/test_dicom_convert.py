"""Scanning an extracted tree into series, subject/session inference, and dcm2niix conversion."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

from tessera.bids.convert import convert_all, convert_series, find_dcm2niix
from tessera.bids.dicom import (
    SeriesGroup,
    StudyRef,
    bids_label,
    dicom_time,
    infer_subjects_sessions,
    scan_tree,
    session_labels,
    subject_label,
    subject_labels,
)
from tessera.bids.model import Level

NIBABEL_DATA = Path(nib.__file__).parent / "nicom" / "tests" / "data"


def write_slice(path: Path, *, patient: str, study: str, series: str, number: int, desc: str, instance: int,
                study_date: str = "20240101", study_time: str = "090000", acq_time: str = "091500",
                pixels: bool = True, size: int = 8) -> None:
    """One MR slice with the geometry dcm2niix needs (position, orientation, spacing)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MRImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = MRImageStorage, meta.MediaStorageSOPInstanceUID
    ds.PatientID, ds.PatientName = patient, f"{patient}^Test"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
    ds.StudyDate, ds.StudyTime, ds.AcquisitionTime = study_date, study_time, acq_time
    ds.SeriesNumber, ds.InstanceNumber = number, instance
    ds.SeriesDescription = ds.ProtocolName = desc
    ds.Modality, ds.Manufacturer = "MR", "SIEMENS"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "ND"]
    ds.EchoTime, ds.RepetitionTime, ds.MagneticFieldStrength = 2.5, 2000, 3
    ds.ImagePositionPatient = [0.0, 0.0, float(instance)]
    ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    ds.PixelSpacing, ds.SliceThickness = [1.0, 1.0], 1.0
    ds.Rows = ds.Columns = size
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    if pixels:
        ds.PixelData = (np.arange(size * size, dtype=np.uint16) + instance).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)


def write_series(root: Path, folder: str, *, patient: str, study: str, number: int, desc: str,
                 slices: int = 3, **kw: object) -> str:
    series = generate_uid()
    for i in range(1, slices + 1):
        write_slice(root / folder / f"IM{number:03d}_{i:03d}.dcm", patient=patient, study=study, series=series,
                    number=number, desc=desc, instance=i, **kw)  # type: ignore[arg-type]
    return series


@pytest.fixture(scope="module")
def upload(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two subjects; P001 scanned twice (two studies); junk, bad DICOM, a NIfTI pair, a log."""
    root = tmp_path_factory.mktemp("upload")
    s1a, s1b, s2 = generate_uid(), generate_uid(), generate_uid()
    write_series(root, "P001/visit1", patient="P-001", study=s1a, number=2, desc="t1_mprage", acq_time="091500")
    write_series(root, "P001/visit1", patient="P-001", study=s1a, number=1, desc="localizer", slices=2,
                 acq_time="090100")
    write_series(root, "P001/visit2", patient="P-001", study=s1b, number=2, desc="t1_mprage",
                 study_date="20240301")
    write_series(root, "P002", patient="P_002", study=s2, number=5, desc="t2_tse", slices=4)
    write_slice(root / "P002/nopix.dcm", patient="P_002", study=s2, series=generate_uid(), number=9, desc="sr",
                instance=1, pixels=False)
    good = (root / "P002/IM005_001.dcm").read_bytes()
    (root / "P002/cut.dcm").write_bytes(good[: len(good) - 40])
    (root / "notes.docx").write_bytes(b"PK\x03\x04 not a dicom")
    (root / "README").write_text("scanned on tuesday\n")
    (root / "__MACOSX").mkdir()
    (root / "__MACOSX/._IM002_001.dcm").write_bytes(b"\0\5\26\7 apple double")
    (root / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (root / "converted/sub-07/func").mkdir(parents=True)
    img = nib.Nifti1Image(np.zeros((4, 4, 3, 6), dtype=np.int16), np.eye(4))
    nib.save(img, root / "converted/sub-07/func/rest_bold.nii.gz")
    (root / "converted/sub-07/func/rest_bold.json").write_text(json.dumps(
        {"SeriesDescription": "ep2d_bold_rest", "SeriesNumber": 11, "RepetitionTime": 2.0, "Manufacturer": "GE"}))
    (root / "logs").mkdir()
    (root / "logs/rest_run1.csv").write_text("stim.started,condition\n1.0,a\n2.0,b\n")
    return root


def test_scan_groups_series_and_reports_bad_files(upload: Path) -> None:
    result = scan_tree(upload)
    dicom = [g for g in result.series if g.kind == "dicom"]
    assert len(dicom) == 4
    by_desc = {(g.patient_id, g.study_date, g.series_description): g for g in dicom}
    t1 = by_desc[("P-001", "20240101", "t1_mprage")]
    assert t1.series_number == 2 and len(t1.files) == 3 and t1.files == sorted(t1.files)
    assert t1.series_id == f"{t1.study_key}-2"
    assert t1.acquisition_time == "09:15:00" and t1.manufacturer == "SIEMENS" and t1.study_time == "09:00:00"
    t2 = by_desc[("P_002", "20240101", "t2_tse")]
    assert len(t2.files) == 4 and "P002/cut.dcm" not in t2.files
    assert len({g.series_id for g in result.series}) == len(result.series)
    findings = {f.file: f for f in result.findings}
    assert findings["notes.docx"].message == "not DICOM, skipped"
    assert findings["README"].message == "not DICOM, skipped"
    assert findings["P002/cut.dcm"].level == Level.ERROR and "truncated" in findings["P002/cut.dcm"].message
    nopix = findings["P002/nopix.dcm"]
    assert nopix.level == Level.WARNING and "without pixel data" in nopix.message
    assert not any("MACOSX" in f or "DS_Store" in f for f in findings)  # OS clutter is ignored quietly
    assert result.event_logs == ["logs/rest_run1.csv"]


def test_scan_picks_up_nifti_json_pairs(upload: Path) -> None:
    (nifti,) = [g for g in scan_tree(upload).series if g.kind == "nifti"]
    assert nifti.files == ["converted/sub-07/func/rest_bold.nii.gz", "converted/sub-07/func/rest_bold.json"]
    assert nifti.series_description == "ep2d_bold_rest" and nifti.series_number == 11
    assert nifti.patient_id == "07"  # from the sub-07 folder


def test_subjects_and_sessions_from_headers(upload: Path) -> None:
    result = scan_tree(upload)
    labels = infer_subjects_sessions(result.series)
    got = {(g.patient_id, g.study_date, g.series_description): labels[g.series_id] for g in result.series}
    assert got[("P-001", "20240101", "t1_mprage")] == ("P001", "01")
    assert got[("P-001", "20240101", "localizer")] == ("P001", "01")
    assert got[("P-001", "20240301", "t1_mprage")] == ("P001", "02")
    assert got[("P_002", "20240101", "t2_tse")] == ("P002", "")
    assert got[("07", "", "ep2d_bold_rest")] == ("07", "")


def test_label_helpers() -> None:
    assert bids_label("P-001_a b") == "P001ab"
    assert subject_label("sub-01") == "01"
    assert subject_label("", "Doe^John") == "DoeJohn"
    assert subject_label("---", "") == ""
    labels = subject_labels([("AB-1", ""), ("AB_1", ""), ("", ""), ("AB-1", ""), ("", "^")])
    assert labels == {("AB-1", ""): "AB1", ("AB_1", ""): "AB12", ("", ""): "unknown1", ("", "^"): "unknown2"}
    assert dicom_time("093015.5") == "09:30:15.5" and dicom_time("0930") == "09:30:00" and dicom_time("x") == ""


def test_session_labels_order_by_date_then_time() -> None:
    refs = [StudyRef("01", "u3", "20240301", "08:00:00"), StudyRef("01", "u1", "20240101", "10:00:00"),
            StudyRef("01", "u2", "20240101", "09:00:00"), StudyRef("02", "u9", "20240101", ""),
            StudyRef("01", "u1", "20240101", "10:00:00")]
    assert session_labels(refs) == {"u2": "01", "u1": "02", "u3": "03", "u9": ""}
    many = [StudyRef("x", f"u{i:03d}", f"2024{i:04d}") for i in range(120)]
    assert session_labels(many)["u000"] == "001" and session_labels(many)["u119"] == "120"


def test_real_test_dicoms_scan(tmp_path: Path) -> None:
    for name in ("MR_small.dcm", "emri_small.dcm"):
        shutil.copy(str(get_testdata_file(name)), tmp_path / name)
    for name in ("siemens_dwi_0.dcm.gz", "siemens_dwi_1000.dcm.gz"):
        (tmp_path / name.removesuffix(".gz")).write_bytes(gzip.decompress((NIBABEL_DATA / name).read_bytes()))
    (tmp_path / "rtplan.dcm").write_bytes(Path(str(get_testdata_file("rtplan.dcm"))).read_bytes())
    result = scan_tree(tmp_path)
    dwi = [g for g in result.series if g.series_description == "CBU_DTI_64D_1A"]
    assert len(dwi) == 1 and len(dwi[0].files) == 2 and dwi[0].manufacturer == "SIEMENS"
    assert {g.files[0] for g in result.series} >= {"MR_small.dcm", "emri_small.dcm"}
    assert [f.file for f in result.findings] == ["rtplan.dcm"]  # an RT plan has no pixels


def test_convert_series_writes_nifti_and_metadata(upload: Path, tmp_path: Path) -> None:
    result = scan_tree(upload)
    seen: list[tuple[int, int, str]] = []
    converted = convert_all(result.series, upload, tmp_path, workers=2, progress=lambda *a: seen.append(a))
    assert [c.series_id for c in converted] == [g.series_id for g in result.series]
    assert sorted(d for d, _, _ in seen) == list(range(1, len(result.series) + 1))
    assert all(total == len(result.series) for _, total, _ in seen)
    by_id = {c.series_id: c for c in converted}
    t2 = next(g for g in result.series if g.series_description == "t2_tse")
    (image,) = by_id[t2.series_id].images
    assert image.nifti == f"{t2.series_id}/{t2.series_id}.nii.gz" and image.sidecar and image.bval is None
    assert nib.load(tmp_path / image.nifti).shape == (8, 8, 4)  # type: ignore[attr-defined]
    assert image.metadata["NumVolumes"] == 1
    assert image.metadata["SeriesDescription"] == "t2_tse"
    assert image.metadata["PatientName"] == "P_002^Test"  # -ba n: the writer de-identifies later
    nifti = next(g for g in result.series if g.kind == "nifti")
    (bold,) = by_id[nifti.series_id].images
    assert bold.metadata["NumVolumes"] == 6 and bold.metadata["RepetitionTime"] == 2.0
    assert all(c.ok and not c.findings for c in converted)


def test_convert_diffusion_reads_bvalues(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for name in ("siemens_dwi_0.dcm.gz", "siemens_dwi_1000.dcm.gz"):
        (src / name.removesuffix(".gz")).write_bytes(gzip.decompress((NIBABEL_DATA / name).read_bytes()))
    (group,) = scan_tree(src).series
    res = convert_series(group, src, tmp_path / "out", binary=find_dcm2niix())
    assert res.ok
    with_bval = [i for i in res.images if i.bval]
    assert with_bval and any(i.metadata["BValues"] == [0.0, 1000.0] for i in with_bval)
    assert all(i.metadata["NumVolumes"] == len(i.metadata["BValues"]) for i in with_bval)  # type: ignore[arg-type]


def test_unconvertible_series_and_timeout_are_findings(upload: Path, tmp_path: Path) -> None:
    (tmp_path / "fake").mkdir()
    (tmp_path / "fake/a.dcm").write_bytes(b"nothing to see" * 100)
    bogus = SeriesGroup(kind="dicom", study_key="k", study_uid="1.2", series_uid="1.2.3", series_number=4,
                        series_description="broken", files=["fake/a.dcm"], series_id="k-4")
    res = convert_series(bogus, tmp_path, tmp_path / "out")
    assert not res.ok
    (finding,) = res.findings
    assert finding.level == Level.ERROR and finding.series_id == "k-4" and "series 4 'broken'" in finding.message
    t1 = next(g for g in scan_tree(upload).series if g.series_description == "t2_tse")
    slow = convert_series(t1, upload, tmp_path / "out2", timeout_s=1e-4)
    assert not slow.ok and "timed out" in slow.findings[0].message


def test_dcm2niix_is_the_pypi_binary() -> None:
    path = Path(find_dcm2niix())
    assert path.is_file() and path.name == "dcm2niix"
    assert pydicom.__version__.startswith("3.")


def test_numbered_subjects_follow_first_scan(upload: Path) -> None:
    result = scan_tree(upload)
    labels = infer_subjects_sessions(result.series, numbered=True)
    got = {g.patient_id: labels[g.series_id][0] for g in result.series}
    # P-001 and P_002 both first scanned 2024-01-01 09:00 (tie broken by ID); the NIfTI has no date.
    assert got == {"P-001": "01", "P_002": "02", "07": "03"}


def test_generated_corpus_archive_extracts_scans_and_converts(tmp_path: Path) -> None:
    """The project's corpus generator end to end: archive -> extract -> series -> dcm2niix, against its truth."""
    from tessera.bids.archive import extract_archive
    from tessera.bids.corpus import corpus_archive, generate_corpus

    manifest = generate_corpus(tmp_path / "corpus", subjects=1, sessions=2, vendors=("siemens",), seed=1)
    archive = corpus_archive(tmp_path / "corpus", tmp_path / "upload.tar.gz", "tar.gz")
    extracted = extract_archive(archive, tmp_path / "x")
    assert extracted.ok and extracted.findings == []
    scan = scan_tree(tmp_path / "x", extracted.files)
    assert scan.findings == [] and len(scan.event_logs) == len(manifest.event_logs)
    truth = {t.series_uid: t for t in manifest.series}
    assert {g.series_uid for g in scan.series} == set(truth)
    labels = infer_subjects_sessions(scan.series, numbered=True)
    for g in scan.series:
        t = truth[g.series_uid]
        assert (len(g.files), g.series_number, g.series_description) == (t.n_files, t.series_number, t.description)
        assert labels[g.series_id] == (t.subject, t.session)
    converted = convert_all(scan.series, tmp_path / "x", tmp_path / "out", workers=2)
    for g, res in zip(scan.series, converted, strict=True):
        t = truth[g.series_uid]
        assert res.ok and not res.findings, g.series_description
        if t.outputs:  # the 3-plane localizer has none in the truth (excluded); dcm2niix splits it per plane
            assert len(res.images) == len(t.outputs), g.series_description
            assert all(i.metadata["NumVolumes"] == t.n_volumes for i in res.images), g.series_description
        if t.bvals:
            assert res.images[0].metadata["BValues"] == t.bvals
