"""Strip identifying fields from sidecar metadata (dcm2niix JSON), and read age/sex when asked to.

What goes, unless named in ``keep``:

* names, IDs, addresses and free text about the person: every ``Patient*`` key except
  ``PatientPosition`` (an acquisition parameter), plus :data:`IDENTIFYING_KEYS`;
* people and places: institution, department, station, physicians, operators;
* anything ending in ``UID`` (Study/Series/SOP/FrameOfReference UIDs link back to the PACS);
* every date (keys containing ``Date``: ``AcquisitionDateTime``, ``StudyDate``...). Times of day
  stay (``AcquisitionTime``, BIDS keeps it; ``scans.tsv`` gets a shifted date, see the writer).

Age and sex are not direct identifiers but are personal data: they stay only when ``keep`` names
them (``PatientAge``/``PatientSex``), and then also go to ``participants.tsv``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date

IDENTIFYING_KEYS = frozenset({
    "AccessionNumber",
    "StudyID",
    "DeviceSerialNumber",
    "StationName",
    "InstitutionName",
    "InstitutionAddress",
    "InstitutionalDepartmentName",
    "ReferringPhysicianName",
    "PerformingPhysicianName",
    "PhysiciansOfRecord",
    "RequestingPhysician",
    "OperatorsName",
    "MedicalRecordLocator",
    "OtherPatientIDs",
    "OtherPatientNames",
    "ResponsiblePerson",
    "EthnicGroup",
    "Occupation",
    "AdditionalPatientHistory",
    "ImageComments",  # free text typed at the console; often holds names or IDs
    "StudyComments",
    "RequestedProcedureDescription",
    "PerformedProcedureStepDescription",
    "ProcedureStepDescription",
    "AcquisitionDateTime",
    "StudyTime",  # with StudyDate gone, kept times would still be harmless, but StudyTime is not BIDS
})
# Patient* keys that describe the acquisition, not the person.
NON_IDENTIFYING_PATIENT_KEYS = frozenset({"PatientPosition"})
_DATE_KEY = re.compile(r"Date")
_AGE = re.compile(r"^(\d{1,3})([DWMY])$")


def is_identifying(key: str) -> bool:
    """Whether ``key`` is stripped by default."""
    if key in NON_IDENTIFYING_PATIENT_KEYS:
        return False
    return (
        key in IDENTIFYING_KEYS
        or key.startswith("Patient")
        or key.endswith("UID")
        or bool(_DATE_KEY.search(key))
    )


def identifying_keys(sidecar: Mapping[str, object], keep: Iterable[str] = ()) -> list[str]:
    """The keys of ``sidecar`` that :func:`deidentify` removes, in sidecar order."""
    kept = frozenset(keep)
    return [k for k in sidecar if is_identifying(k) and k not in kept]


def deidentify(sidecar: Mapping[str, object], keep: Iterable[str] = ()) -> dict[str, object]:
    """A copy of ``sidecar`` without identifying keys; keys named in ``keep`` stay as they are."""
    drop = set(identifying_keys(sidecar, keep))
    return {k: v for k, v in sidecar.items() if k not in drop}


def participant_sex(metadata: Mapping[str, object], keep: Iterable[str] = ()) -> str | None:
    """``'M'``, ``'F'`` or ``'O'`` from ``PatientSex`` when ``keep`` names it, else ``None``."""
    if "PatientSex" not in frozenset(keep):
        return None
    value = str(metadata.get("PatientSex") or "").strip().upper()
    return value if value in ("M", "F", "O") else None


def participant_age(metadata: Mapping[str, object], keep: Iterable[str] = ()) -> float | None:
    """Age in years when ``keep`` names ``PatientAge``, else ``None``.

    From DICOM ``PatientAge`` (``'045Y'``, ``'018M'``, ``'006W'``, ``'010D'``), or else from
    ``PatientBirthDate`` and the acquisition date (``YYYYMMDD`` or ISO). Rounded to 0.1 year;
    ages of 89 and over are reported as 89, as HIPAA's safe harbour asks.
    """
    if "PatientAge" not in frozenset(keep):
        return None
    years: float | None = None
    match = _AGE.match(str(metadata.get("PatientAge") or "").strip().upper())
    if match:
        per_year = {"D": 365.25, "W": 52.1775, "M": 12.0, "Y": 1.0}[match.group(2)]
        years = int(match.group(1)) / per_year
    else:
        born = _parse_date(metadata.get("PatientBirthDate"))
        scanned = _parse_date(metadata.get("AcquisitionDateTime") or metadata.get("AcquisitionDate")
                              or metadata.get("StudyDate"))
        if born and scanned and scanned >= born:
            years = (scanned - born).days / 365.25
    return None if years is None else min(round(years, 1), 89.0)


def _parse_date(value: object) -> date | None:
    """``date`` from ``'20240131'``, ``'2024-01-31'`` or ``'2024-01-31T10:00:00'``; else ``None``."""
    text = str(value or "").strip().replace("-", "")[:8]
    if len(text) != 8 or not text.isdigit():
        return None
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return None


def acquisition_date(metadata: Mapping[str, object]) -> date | None:
    """The acquisition's calendar date from the sidecar, if any (for the writer's date shift)."""
    return _parse_date(metadata.get("AcquisitionDateTime") or metadata.get("AcquisitionDate")
                       or metadata.get("SeriesDate") or metadata.get("StudyDate"))
