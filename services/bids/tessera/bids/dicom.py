"""Walk an extracted upload: classify files and group DICOM into series from their headers.

Headers only (pydicom, ``stop_before_pixels=True``, ``force=False``): a 20 GB upload is
scanned without loading pixels. Every file ends up in exactly one place: a :class:`SeriesGroup`
(DICOM series or an already-converted NIfTI+JSON pair), the event-log list, or a
:class:`~tessera.bids.model.Finding` saying why it was skipped.

Subject and session inference are pure functions at the bottom of the module.
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
from pydicom.errors import InvalidDicomError

from tessera.bids.eventlogs import looks_like_log
from tessera.bids.model import Finding, Level

_NIFTI_SUFFIXES = (".nii.gz", ".nii")
_SIDECAR_SUFFIXES = (".json", ".bval", ".bvec")
# OS clutter that is never data: macOS resource forks, Finder and Explorer metadata.
_CLUTTER = re.compile(r"(^|/)(__MACOSX/|\._[^/]*$|\.DS_Store$|Thumbs\.db$|desktop\.ini$)")


@dataclass
class SeriesGroup:
    """One series of the upload: DICOM files sharing Study+SeriesInstanceUID, or one NIfTI(+JSON).

    ``files`` are paths relative to the scanned root (archive-relative), sorted. Dates are
    DICOM-form 'YYYYMMDD', times 'HH:MM:SS(.ffffff)' ('' when absent). ``kind`` is 'dicom' or
    'nifti'. ``series_id`` is '<study key>-<series number>' and unique within a scan.
    """

    kind: str
    study_key: str
    study_uid: str
    series_uid: str
    series_number: int = 0
    series_description: str = ""
    protocol_name: str = ""
    patient_id: str = ""
    patient_name: str = ""
    study_date: str = ""
    study_time: str = ""
    acquisition_time: str = ""
    manufacturer: str = ""
    modality: str = ""
    files: list[str] = field(default_factory=list)
    series_id: str = ""


@dataclass
class ScanResult:
    """Everything :func:`scan_tree` found. Paths are relative to the scanned root."""

    series: list[SeriesGroup] = field(default_factory=list)
    event_logs: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)


def study_key(study_uid: str) -> str:
    """Short stable key of a study: 8 hex chars of the UID's SHA-1 (UIDs are long and dotted)."""
    return hashlib.sha1(study_uid.encode()).hexdigest()[:8]


def dicom_time(value: object) -> str:
    """DICOM TM 'HHMMSS.ffffff' -> 'HH:MM:SS.ffffff' ('' when absent or malformed)."""
    text = str(value or "").strip()
    m = re.fullmatch(r"(\d{2})(\d{2})?(\d{2})?(\.\d+)?", text)
    if not m:
        return text if re.fullmatch(r"\d{2}:\d{2}(:\d{2}(\.\d+)?)?", text) else ""
    hh, mm, ss, frac = m.group(1), m.group(2) or "00", m.group(3) or "00", m.group(4) or ""
    return f"{hh}:{mm}:{ss}{frac}"


def _read_header(path: Path) -> tuple[pydicom.Dataset, str | None]:
    """The header (no pixels) and why the pixel data is unusable (missing, truncated) or None.

    After the header, the Pixel Data element's own header is checked against the file size:
    a file cut short during copy is the common case, and dcm2niix would fail on it later.
    Raises pydicom's InvalidDicomError for non-DICOM files.
    """
    size = path.stat().st_size
    with path.open("rb") as fh:
        ds = pydicom.dcmread(fh, stop_before_pixels=True, force=False)
        pos = fh.tell()
        head = fh.read(12)
    try:
        return ds, _pixel_problem(ds, pos, head, size)
    except Exception as exc:
        return ds, f"unreadable pixel data header: {exc}"


def _pixel_problem(ds: pydicom.Dataset, pos: int, head: bytes, size: int) -> str | None:
    if len(head) < 8:
        if "FloatPixelData" in ds or "DoubleFloatPixelData" in ds:
            return None
        return "DICOM without pixel data"
    tag = struct.unpack("<HH" if ds.original_encoding[1] else ">HH", head[:4])
    if tag[0] != 0x7FE0:
        return None  # something other than pixels after the header: let dcm2niix judge
    little = ds.original_encoding[1] is not False
    fmt = "<" if little else ">"
    if ds.original_encoding[0]:  # implicit VR: tag(4) length(4)
        (length,) = struct.unpack(fmt + "I", head[4:8])
        start = pos + 8
    else:  # explicit VR OB/OW: tag(4) VR(2) reserved(2) length(4)
        (length,) = struct.unpack(fmt + "I", head[8:12])
        start = pos + 12
    if length == 0xFFFFFFFF:
        return None  # encapsulated (compressed) frames: length unknown from the header
    if start + length > size:
        return f"truncated DICOM: pixel data needs {length} bytes, file has {max(size - start, 0)}"
    rows, cols = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
    bits = int(ds.get("BitsAllocated", 0) or 0)
    spp = int(ds.get("SamplesPerPixel", 1) or 1)
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    expected = rows * cols * spp * frames * bits // 8
    if expected and length < expected:
        return f"truncated DICOM: pixel data holds {length} bytes, image needs {expected}"
    return None


def _nifti_base(rel: str) -> str | None:
    for suffix in _NIFTI_SUFFIXES:
        if rel.lower().endswith(suffix):
            return rel[: -len(suffix)]
    return None


def scan_tree(root: Path | str, files: Sequence[str] | None = None) -> ScanResult:
    """Classify every file under ``root`` (or just ``files``, root-relative POSIX paths).

    Returns DICOM series (grouped by StudyInstanceUID + SeriesInstanceUID), NIfTI(+JSON/bval/bvec)
    series, event-log paths, and findings for junk ('not DICOM, skipped'), pixel-less or truncated
    DICOM and unreadable headers. Never raises on file content.
    """
    root = Path(root)
    if files is None:
        files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and not p.is_symlink())
    result = ScanResult()
    rels = [r for r in files if not _CLUTTER.search(r)]
    rel_set = set(rels)
    niftis = {base: rel for rel in rels if (base := _nifti_base(rel)) is not None}
    dicom_groups: dict[tuple[str, str], SeriesGroup] = {}
    for rel in rels:
        if _nifti_base(rel) is not None:
            continue
        low = rel.lower()
        stem = next((rel[: -len(s)] for s in _SIDECAR_SUFFIXES if low.endswith(s)), None)
        if stem is not None and stem in niftis:
            continue  # sidecar of a NIfTI: collected with it
        path = root / rel
        if low.endswith((".csv", ".tsv", ".txt", ".log")) and looks_like_log(path):
            result.event_logs.append(rel)
            continue
        try:
            ds, problem = _read_header(path)
        except (InvalidDicomError, EOFError, struct.error):
            result.findings.append(Finding(level=Level.WARNING, file=rel, message="not DICOM, skipped"))
            continue
        except Exception as exc:  # pydicom raises many types on damaged headers
            result.findings.append(Finding(level=Level.ERROR, file=rel, message=f"unreadable DICOM header: {exc}"))
            continue
        study_uid = str(ds.get("StudyInstanceUID", "") or "")
        series_uid = str(ds.get("SeriesInstanceUID", "") or "")
        if problem:
            level = Level.WARNING if problem == "DICOM without pixel data" else Level.ERROR
            sop = str(ds.get("SOPClassUID", "") or "")
            sop_name = getattr(ds.get("SOPClassUID", None), "name", sop)
            suffix = f" ({sop_name})" if level == Level.WARNING and sop_name else ""
            result.findings.append(Finding(level=level, file=rel, message=f"{problem}{suffix}; skipped"))
            continue
        if not series_uid or not study_uid:
            result.findings.append(Finding(level=Level.ERROR, file=rel,
                                           message="DICOM without StudyInstanceUID/SeriesInstanceUID; skipped"))
            continue
        key = (study_uid, series_uid)
        group = dicom_groups.get(key)
        if group is None:
            group = dicom_groups[key] = SeriesGroup(
                kind="dicom", study_key=study_key(study_uid), study_uid=study_uid, series_uid=series_uid,
                series_number=_int(ds.get("SeriesNumber")),
                series_description=str(ds.get("SeriesDescription", "") or ""),
                protocol_name=str(ds.get("ProtocolName", "") or ""),
                patient_id=str(ds.get("PatientID", "") or ""),
                patient_name=str(ds.get("PatientName", "") or ""),
                study_date=str(ds.get("StudyDate", "") or ""),
                study_time=dicom_time(ds.get("StudyTime")),
                acquisition_time=dicom_time(ds.get("AcquisitionTime") or ds.get("SeriesTime")),
                manufacturer=str(ds.get("Manufacturer", "") or ""),
                modality=str(ds.get("Modality", "") or ""),
            )
        else:
            acq = dicom_time(ds.get("AcquisitionTime"))
            if acq and (not group.acquisition_time or acq < group.acquisition_time):
                group.acquisition_time = acq  # the series starts with its earliest acquisition
        group.files.append(rel)
    for group in dicom_groups.values():
        group.files.sort()
    result.series.extend(sorted(dicom_groups.values(), key=lambda g: (g.study_uid, g.series_number, g.series_uid)))
    for base, rel in sorted(niftis.items()):
        result.series.append(_nifti_group(root, base, rel, rel_set, result.findings))
    _assign_series_ids(result.series)
    return result


def _int(value: object) -> int:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return 0


def _nifti_group(root: Path, base: str, rel: str, rel_set: set[str], findings: list[Finding]) -> SeriesGroup:
    """A NIfTI that was converted before upload; its JSON sidecar (dcm2niix-style) supplies the header fields."""
    files = [rel] + [base + s for s in _SIDECAR_SUFFIXES if base + s in rel_set]
    meta: dict[str, object] = {}
    if base + ".json" in rel_set:
        try:
            loaded = json.loads((root / (base + ".json")).read_text(encoding="utf-8-sig"))
            meta = loaded if isinstance(loaded, dict) else {}
        except (OSError, ValueError) as exc:
            findings.append(Finding(level=Level.WARNING, file=base + ".json",
                                    message=f"unreadable JSON sidecar: {exc}"))
    else:
        findings.append(Finding(level=Level.WARNING, file=rel,
                                message="NIfTI without a JSON sidecar: series inferred from the file name only"))
    # Without a study UID, the folder stands for the study (a 'sub-01/ses-02/anat' layout keeps sessions apart).
    folder = rel.rsplit("/", 1)[0] if "/" in rel else ""
    study_uid = str(meta.get("StudyInstanceUID") or f"folder:{folder}")
    sub = re.search(r"(?:^|/)sub-([a-zA-Z0-9]+)", rel)
    patient_id = str(meta.get("PatientID") or (sub.group(1) if sub else ""))
    return SeriesGroup(
        kind="nifti", study_key=study_key(study_uid), study_uid=study_uid,
        series_uid=str(meta.get("SeriesInstanceUID") or f"file:{base}"),
        series_number=_int(meta.get("SeriesNumber")),
        series_description=str(meta.get("SeriesDescription") or base.rsplit("/", 1)[-1]),
        protocol_name=str(meta.get("ProtocolName") or ""),
        patient_id=patient_id, patient_name=str(meta.get("PatientName") or ""),
        study_date=str(meta.get("StudyDate") or "").replace("-", ""),
        study_time=dicom_time(str(meta.get("StudyTime") or "").replace(":", "")),
        acquisition_time=dicom_time(str(meta.get("AcquisitionTime") or "").replace(":", "")),
        manufacturer=str(meta.get("Manufacturer") or ""), modality=str(meta.get("Modality") or "MR"),
        files=files,
    )


def _assign_series_ids(groups: list[SeriesGroup]) -> None:
    """'<study key>-<series number>'; a clash (same number twice in a study) gets '-<short series uid hash>'."""
    counts: dict[str, int] = {}
    for g in groups:
        base = f"{g.study_key}-{g.series_number}"
        counts[base] = counts.get(base, 0) + 1
    for g in groups:
        base = f"{g.study_key}-{g.series_number}"
        g.series_id = base if counts[base] == 1 else f"{base}-{hashlib.sha1(g.series_uid.encode()).hexdigest()[:6]}"


# ---------------------------------------------------------------- subject / session inference (pure)

def bids_label(text: str) -> str:
    """Keep only BIDS label characters [a-zA-Z0-9]: 'P-001_a' -> 'P001a'."""
    return re.sub(r"[^a-zA-Z0-9]", "", text)


def subject_label(patient_id: str, patient_name: str = "") -> str:
    """BIDS subject label from PatientID, else PatientName ('' when neither yields one).

    A leading 'sub-'/'sub_' (already-anonymised uploads) is dropped: 'sub-01' -> '01';
    'Doe^John' -> 'DoeJohn'.
    """
    for raw in (patient_id, patient_name):
        text = re.sub(r"^sub[-_]", "", raw.strip(), flags=re.IGNORECASE)
        label = bids_label(text)
        if label:
            return label
    return ""


def subject_labels(patients: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """Label every distinct (PatientID, PatientName): :func:`subject_label`, made unique.

    Patients with no usable ID get 'unknown1', 'unknown2'...; two IDs that sanitise to the same
    label ('AB-1' and 'AB_1') are told apart with a numeric suffix ('AB1', 'AB12') in first-seen order.
    """
    labels: dict[tuple[str, str], str] = {}
    used: set[str] = set()
    unknown = 0
    for key in patients:
        if key in labels:
            continue
        label = subject_label(*key)
        if not label:
            unknown += 1
            label = f"unknown{unknown}"
        candidate, n = label, 1
        while candidate in used:
            n += 1
            candidate = f"{label}{n}"
        used.add(candidate)
        labels[key] = candidate
    return labels


@dataclass(frozen=True)
class StudyRef:
    """One study of one subject, for session ordering. Date 'YYYYMMDD', time 'HH:MM:SS' ('' when absent)."""

    subject: str
    study_uid: str
    study_date: str = ""
    study_time: str = ""


def session_labels(studies: Iterable[StudyRef]) -> dict[str, str]:
    """study_uid -> session label: '' for a subject's only study, else '01', '02'... by date, time, UID.

    Labels are zero-padded to at least two digits (to the digit count of the largest when > 99).
    """
    by_subject: dict[str, dict[str, StudyRef]] = {}
    for s in studies:
        by_subject.setdefault(s.subject, {}).setdefault(s.study_uid, s)
    labels: dict[str, str] = {}
    for refs in by_subject.values():
        ordered = sorted(refs.values(), key=lambda r: (r.study_date or "99999999", r.study_time or "99", r.study_uid))
        if len(ordered) == 1:
            labels[ordered[0].study_uid] = ""
            continue
        width = max(2, len(str(len(ordered))))
        for i, ref in enumerate(ordered, start=1):
            labels[ref.study_uid] = str(i).zfill(width)
    return labels


def numbered_subject_labels(groups: Sequence[SeriesGroup]) -> dict[tuple[str, str], str]:
    """(PatientID, PatientName) -> '01', '02'... in order of each patient's first study (date, time, ID).

    For de-identified datasets: the label then carries no hospital identifier (an MRN as
    ``sub-MRN1234567`` would survive the sidecar de-identification).
    """
    first: dict[tuple[str, str], tuple[str, str, str]] = {}
    for g in groups:
        key = (g.patient_id, g.patient_name)
        when = (g.study_date or "99999999", g.study_time or "99", g.patient_id)
        first[key] = min(first.get(key, when), when)
    ordered = sorted(first, key=lambda k: first[k])
    width = max(2, len(str(len(ordered))))
    return {key: str(i).zfill(width) for i, key in enumerate(ordered, start=1)}


def infer_subjects_sessions(groups: Sequence[SeriesGroup], *, numbered: bool = False) -> dict[str, tuple[str, str]]:
    """series_id -> (subject label, session label) for every group, from patient and study headers.

    Subjects are labelled from PatientID/PatientName (:func:`subject_labels`), or ``numbered``
    01, 02... by first scan (:func:`numbered_subject_labels`).
    """
    if numbered:
        subjects = numbered_subject_labels(groups)
    else:
        subjects = subject_labels((g.patient_id, g.patient_name) for g in groups)
    sub_of = {g.series_id: subjects[(g.patient_id, g.patient_name)] for g in groups}
    sessions = session_labels(StudyRef(sub_of[g.series_id], g.study_uid, g.study_date, g.study_time) for g in groups)
    return {g.series_id: (sub_of[g.series_id], sessions[g.study_uid]) for g in groups}
