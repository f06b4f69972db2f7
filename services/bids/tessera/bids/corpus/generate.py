"""Generate a whole corpus: subjects x sessions of DICOM series plus n-back event logs, and its manifest."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import numpy as np
from pydicom.uid import generate_uid

from tessera.bids.corpus.eventlogs import nback_trials, write_eprime, write_psychopy
from tessera.bids.corpus.headers import VENDORS
from tessera.bids.corpus.manifest import CorpusManifest, EventLogTruth, SeriesTruth
from tessera.bids.corpus.protocol import SIZES, session_protocol
from tessera.bids.corpus.volumes import load_tissues
from tessera.bids.corpus.writer import Patient, Study, write_series
from tessera.core.errors import InvalidArgument

_FAMILY = ["MUELLER", "OKAFOR", "TANAKA", "GARCIA", "KOWALSKI", "NGUYEN", "JOHANSSON", "ROSSI", "DUBOIS", "SHARMA"]
_GIVEN = [("ANNA", "F"), ("DAVID", "M"), ("MEI", "F"), ("CARLOS", "M"), ("EWA", "F"), ("LINH", "F"), ("ERIK", "M"),
          ("GIULIA", "F"), ("THOMAS", "M"), ("PRIYA", "F")]
_STREETS = ["Maple Avenue", "Station Road", "Church Lane", "Mill Street", "Park Road"]


def _patient(index: int, rng: np.random.Generator) -> Patient:
    given, sex = _GIVEN[(index * 3 + int(rng.integers(10))) % len(_GIVEN)]
    birth = dt.date(1960, 1, 1) + dt.timedelta(days=int(rng.integers(0, 40 * 365)))
    return Patient(name=f"{_FAMILY[(index + int(rng.integers(10))) % len(_FAMILY)]}^{given}",
                   patient_id=f"MRN{int(rng.integers(1_000_000, 9_999_999))}", birth_date=birth.strftime("%Y%m%d"),
                   sex=sex, weight_kg=float(rng.integers(50, 100)),
                   address=f"{int(rng.integers(1, 200))} {_STREETS[index % len(_STREETS)]}, Springfield")


def _check(subjects: int, sessions: int, vendors: tuple[str, ...], size: str) -> None:
    from tessera.core.errors import FieldViolation

    bad: list[FieldViolation] = []
    if not 1 <= subjects <= 99:
        bad.append(FieldViolation("subjects", f"must be 1..99, got {subjects}"))
    if not 1 <= sessions <= 9:
        bad.append(FieldViolation("sessions", f"must be 1..9, got {sessions}"))
    if not vendors or any(v not in VENDORS for v in vendors):
        bad.append(FieldViolation("vendors", f"each must be one of {VENDORS}, got {vendors}"))
    if size not in SIZES:
        bad.append(FieldViolation("size", f"must be one of {tuple(SIZES)}, got {size!r}"))
    if bad:
        raise InvalidArgument(bad)


def generate_corpus(out_dir: str | Path, *, subjects: int = 2, sessions: int = 2,
                    vendors: tuple[str, ...] = ("siemens",), seed: int = 0, size: str = "small") -> CorpusManifest:
    """Write ``subjects`` x ``sessions`` imaging sessions under ``out_dir`` and return (and write
    ``out_dir/manifest.json``) the ground truth.

    Subject i (0-based) is scanned on ``vendors[i % len(vendors)]``. Layout:
    ``DICOM/<PatientID>/<YYYYMMDD>_<accession>/<NNNN>_<SeriesDescription>/IM0001`` and
    ``logs/<PatientID>/<YYYYMMDD>/`` (PsychoPy CSV for n-back run 1, E-Prime text for run 2).
    Deterministic in pixels, names, dates and times for a given seed (UIDs are random).
    """
    _check(subjects, sessions, tuple(vendors), size)
    t0 = time.perf_counter()
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    tissues = load_tissues()
    manifest = CorpusManifest(root=str(root), seed=seed, size=size, vendors=list(vendors))
    for si in range(subjects):
        vendor = vendors[si % len(vendors)]
        patient = _patient(si, rng)
        first_day = dt.date(2024, 1, 8) + dt.timedelta(days=int(rng.integers(0, 120)))
        for se in range(sessions):
            day = first_day + dt.timedelta(days=se * int(rng.integers(20, 60)))
            start = dt.datetime.combine(day, dt.time(8 + int(rng.integers(0, 9)), int(rng.integers(0, 60))))
            study = Study(subject=f"{si + 1:02d}", session=f"{se + 1:02d}", vendor=vendor, date=day, start=start,
                          study_uid=generate_uid(), accession=f"A{int(rng.integers(10_000_000, 99_999_999))}",
                          frame_uid=generate_uid())
            series = _write_session(root, study, patient, se, size, tissues, rng)
            manifest.series.extend(series)
            manifest.event_logs.extend(_write_logs(root, study, patient, series, rng))
    manifest.seconds = round(time.perf_counter() - t0, 3)
    manifest.bytes = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    for log in manifest.event_logs:
        log.path = Path(log.path).relative_to(root).as_posix()
    manifest.write(root / "manifest.json")
    return manifest


def _write_session(root: Path, study: Study, patient: Patient, session_index: int, size: str,
                   tissues: object, rng: np.random.Generator) -> list[SeriesTruth]:
    clock = study.start
    out: list[SeriesTruth] = []
    specs = session_protocol(study.vendor, session_index, size)
    for spec in specs:
        truth = write_series(root, spec, patient, study, clock, tissues, rng)  # type: ignore[arg-type]
        out.append(truth)
        # Scanner time used by the series plus set-up gap: TR x volumes (x slices for 3D-ish anat).
        clock += dt.timedelta(seconds=max(60.0, spec.tr_ms / 1000.0 * max(spec.n_volumes, 30)) + 45.0)
    by_kind = {s.kind: [] for s in specs}  # type: dict[str, list[int]]
    for s in specs:
        by_kind[s.kind].append(s.series_number)
    for spec, truth in zip(specs, out, strict=True):
        truth.intended_for = sorted(n for k in spec.intended_for_kinds for n in by_kind.get(k, []))
    return out


def _write_logs(root: Path, study: Study, patient: Patient, series: list[SeriesTruth],
                rng: np.random.Generator) -> list[EventLogTruth]:
    folder = root / "logs" / patient.patient_id / f"{study.date:%Y%m%d}"
    folder.mkdir(parents=True, exist_ok=True)
    logs: list[EventLogTruth] = []
    for s in series:
        if s.kind != "bold" or s.entities.get("task") != "nback":
            continue
        run = int(s.entities["run"])
        trials = nback_trials(s.n_volumes * 2.0, rng)
        acq = dt.datetime.combine(study.date, study.start.time())
        if run == 1:
            truth = write_psychopy(folder / f"sub{study.subject}_nback_run1_{acq:%Y-%m-%d_%Hh%M}.csv", trials,
                                   participant=f"sub{study.subject}", session=study.session, run=run, date=acq,
                                   trigger_s=round(float(rng.uniform(8.0, 30.0)), 4))
        else:
            truth = write_eprime(folder / f"nback_run{run}-{int(study.subject)}-{int(study.session)}.txt", trials,
                                 subject=int(study.subject), session=int(study.session), run=run,
                                 trigger_ms=int(rng.integers(15_000, 60_000)))
        truth.subject, truth.session, truth.series_number = study.subject, study.session, s.series_number
        logs.append(truth)
    return logs
