"""Write a BIDS dataset from a checked plan, its converted series and its event logs.

Layout written into ``out_dir`` (which must be absent or empty)::

    dataset_description.json  README  participants.tsv  participants.json
    sub-01/[ses-01/]sub-01[_ses-01]_scans.tsv          filename + acq_time of every image
    sub-01/[ses-01/]<datatype>/<name>.nii[.gz] + .json  de-identified sidecars
                                  + .bval/.bvec (dwi), + _events.tsv (func bold with a mapped log)

A series with several NIfTI outputs (dcm2niix ``_e1``/``_e2``/``_ph``) gets ``echo-<n>`` and/or
``part-mag|phase`` entities, or ``magnitude1/2`` / ``phase1/2`` suffixes for field maps.
Field maps get ``IntendedFor`` as BIDS URIs (``bids::sub-01/func/...``), the form BIDS 1.7+
recommends. Dates are removed from sidecars; ``acq_time`` in ``scans.tsv`` keeps the time of day
and shifts each subject's dates so that its first scan falls on :data:`SHIFTED_ANCHOR` (BIDS
recommends shifted dates in 1925 or earlier), unless ``keep_fields`` names ``AcquisitionDateTime``.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from tessera.bids import deidentify as deid
from tessera.bids import sidecars
from tessera.bids.model import EventLogEntry, Plan, SeriesEntry
from tessera.bids.naming import format_name, name_entities, require_valid
from tessera.core.errors import FailedPrecondition, InvalidArgument

SHIFTED_ANCHOR = date(1900, 1, 1)
# BIDSVersion written to dataset_description.json: the newest release the pinned validator
# (bids-validator-deno 3.0.2) knows. bidsschematools 2.0.1 ships 1.11.2, which names the files we
# write the same way; a version the validator does not know earns an UNKNOWN_BIDS_VERSION warning.
DATASET_BIDS_VERSION = "1.11.1"
GENERATOR_NAME = "tessera-bids"
# Keys the inspector adds to SeriesEntry.metadata that are not BIDS sidecar fields.
NON_SIDECAR_KEYS = frozenset({"NumVolumes", "BValues", sidecars.ASL_CONTEXT_KEY})
NIFTI_EXTENSIONS = (".nii.gz", ".nii")
EventsRenderer = Callable[[EventLogEntry, Path], str]
"""``(log entry, path of the log file) -> events.tsv text`` (onset/duration in seconds from run start)."""


@dataclass
class DatasetSummary:
    """What :func:`write_dataset` wrote; paths are dataset-relative POSIX paths."""

    root: Path
    files: list[str] = field(default_factory=list)
    anatomical: list[str] = field(default_factory=list)  # anat NIfTI images, for downstream analysis
    subjects: list[str] = field(default_factory=list)  # labels without 'sub-'
    series_written: int = 0
    removed_fields: list[str] = field(default_factory=list)  # sidecar keys stripped anywhere


@dataclass(frozen=True)
class _Output:
    """One NIfTI output of a series and where it goes."""

    stem: str  # converted path without extension, relative to converted_root
    extension: str  # '.nii.gz' or '.nii'
    sidecar: dict[str, object]
    name: str  # BIDS path without extension


def write_dataset(
    plan: Plan,
    converted_root: Path,
    logs_root: Path,
    out_dir: Path,
    *,
    keep_fields: frozenset[str] = frozenset(),
    events_tsv: EventsRenderer | None = None,
) -> DatasetSummary:
    """Write ``plan`` as a BIDS dataset in ``out_dir``.

    ``converted_root`` holds each series' ``converted`` files, ``logs_root`` the event logs
    (``EventLogEntry.file``). ``keep_fields`` names sidecar keys to keep although identifying
    (``PatientSex``/``PatientAge`` also add those columns to participants.tsv). ``events_tsv``
    renders one log; by default ``tessera.bids.eventlogs.to_events_tsv``.
    Raises :class:`InvalidArgument` for a plan that fails :func:`naming.check_plan` or series
    whose converted files do not fit their mapping, before writing anything.
    """
    require_valid(plan)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise FailedPrecondition(f"{out_dir} is not empty; the dataset is written into a fresh directory")
    # Required fields the headers lack (ASL, phasediff echo times, PE polarity...): the plan's values
    # (filled at planning or edited) win; a plan edited since is completed the same way, on a copy.
    plan = plan.model_copy(deep=True)
    sidecars.complete_sidecars(plan, converted_root)
    written = [(i, s) for i, s in enumerate(plan.series) if not s.plan.exclude]
    layout = {s.series_id: _layout_series(i, s, converted_root) for i, s in written}
    asl_volumes = {s.series_id: _check_aslcontext(i, s, layout[s.series_id], converted_root)
                   for i, s in written if (s.plan.datatype, s.plan.suffix) == ("perf", "asl")}
    logs = [log for log in plan.event_logs if log.series_id]
    renderer = events_tsv or (_default_events_renderer() if logs else None)
    dates = _date_shifts(plan, keep_fields)

    out_dir.mkdir(parents=True, exist_ok=True)
    summary = DatasetSummary(root=out_dir)
    removed: set[str] = set()
    scans: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for _, entry in written:
        for output in layout[entry.series_id]:
            sidecar = _final_sidecar(entry, output, plan, layout, keep_fields, removed)
            source = converted_root / f"{output.stem}{output.extension}"
            _copy(source, out_dir, f"{output.name}{output.extension}", summary)
            _write_text(out_dir, f"{output.name}.json", json.dumps(sidecar, indent=2) + "\n", summary)
            for extension in (".bval", ".bvec"):
                if entry.plan.datatype == "dwi" or (converted_root / f"{output.stem}{extension}").is_file():
                    _copy(converted_root / f"{output.stem}{extension}", out_dir, f"{output.name}{extension}", summary)
            if (entry.plan.datatype, entry.plan.suffix) == ("perf", "asl"):
                name = output.name.removesuffix("_asl") + "_aslcontext.tsv"
                _write_text(out_dir, name, sidecars.render_aslcontext(asl_volumes[entry.series_id]), summary)
            if entry.plan.datatype == "anat":
                summary.anatomical.append(f"{output.name}{output.extension}")
            session_dir = output.name.rsplit("/", 2)[0]
            filename = f"{output.name}{output.extension}"[len(session_dir) + 1 :]
            scans.setdefault((entry.subject, entry.session), []).append(
                (filename, _acq_time(entry, dates.get(entry.subject)))
            )
        summary.series_written += 1
    by_id = plan.series_by_id()
    for log in logs:
        assert renderer is not None
        run = by_id[log.series_id]
        entities = {k: v for k, v in name_entities(run).items() if k not in ("echo", "part")}
        text = renderer(log, logs_root / log.file)
        _write_text(out_dir, format_name("func", "events", entities) + ".tsv", text, summary)
    for (subject, session), rows in sorted(scans.items()):
        _write_scans(out_dir, subject, session, rows, summary)
    summary.subjects = sorted({s.subject for _, s in written})
    _write_participants(out_dir, plan, summary, keep_fields)
    _write_description(out_dir, plan, summary)
    _write_readme(out_dir, plan, summary, keep_fields)
    summary.removed_fields = sorted(removed)
    summary.files.sort()
    summary.anatomical.sort()
    return summary


# ---------------------------------------------------------------- series outputs


def _layout_series(index: int, entry: SeriesEntry, converted_root: Path) -> list[_Output]:
    """Map the series' NIfTI outputs to BIDS names (echo/part entities for multi-output series)."""
    where = f"series[{index}].converted"
    stems: dict[str, str] = {}
    for path in entry.converted:
        for extension in NIFTI_EXTENSIONS:
            if path.endswith(extension):
                stems[path[: -len(extension)]] = extension
                break
    if not stems:
        raise InvalidArgument.field(where, f"series {entry.series_id} has no converted NIfTI file")
    base_sidecar = {k: v for k, v in entry.metadata.items() if k not in NON_SIDECAR_KEYS}
    traits = []
    for stem, extension in sorted(stems.items()):
        sidecar_path = converted_root / f"{stem}.json"
        sidecar = json.loads(sidecar_path.read_text()) if sidecar_path.is_file() else dict(base_sidecar)
        traits.append((stem, extension, sidecar, _echo_of(stem, sidecar), _part_of(stem, sidecar)))
        if entry.plan.datatype == "dwi":
            for bfile in (f"{stem}.bval", f"{stem}.bvec"):
                if not (converted_root / bfile).is_file():
                    raise InvalidArgument.field(where, f"dwi series {entry.series_id} has no {Path(bfile).name}")
    datatype, suffix = str(entry.plan.datatype), str(entry.plan.suffix)
    entities = name_entities(entry)
    echoes = sorted({t[3] for t in traits if t[3] is not None})
    parts = sorted({t[4] for t in traits})
    outputs = []
    for stem, extension, sidecar, echo, part in traits:
        out_entities, out_suffix = dict(entities), suffix
        if len(traits) > 1:
            family = re.fullmatch(r"(magnitude|phase)[12]", suffix)
            if family and datatype == "fmap" and echo is not None:
                out_suffix = f"{family.group(1)}{echoes.index(echo) + 1}"
            else:
                if len(echoes) > 1 and echo is not None:
                    out_entities["echo"] = str(echo)
                if len(parts) > 1:
                    out_entities["part"] = part
        outputs.append(_Output(stem, extension, sidecar, format_name(datatype, out_suffix, out_entities)))
    names = [o.name for o in outputs]
    if len(set(names)) != len(names):
        raise InvalidArgument.field(
            where, f"{len(names)} NIfTI outputs of series {entry.series_id} cannot be told apart by echo or part "
            f"({', '.join(sorted(stems))}); exclude the series or split it"
        )
    return outputs


def _echo_of(stem: str, sidecar: Mapping[str, object]) -> int | None:
    value = sidecar.get("EchoNumber")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    match = re.search(r"_e(\d+)(?:_|$)", stem)
    return int(match.group(1)) if match else None


def _part_of(stem: str, sidecar: Mapping[str, object]) -> str:
    """'mag' | 'phase' | 'real' | 'imag' from ImageType, else from dcm2niix's file-name suffix."""
    image_type = sidecar.get("ImageType")
    kinds = {str(t).upper() for t in image_type} if isinstance(image_type, list) else set()
    if kinds & {"P", "PHASE"}:
        return "phase"
    if kinds & {"REAL"}:
        return "real"
    if kinds & {"IMAGINARY"}:
        return "imag"
    if kinds & {"M", "MAGNITUDE"}:
        return "mag"
    for pattern, part in ((r"_ph(?:_|$)", "phase"), (r"_real(?:_|$)", "real"), (r"_imaginary(?:_|$)", "imag")):
        if re.search(pattern, stem):
            return part
    return "mag"


def _final_sidecar(
    entry: SeriesEntry,
    output: _Output,
    plan: Plan,
    layout: Mapping[str, list[_Output]],
    keep_fields: frozenset[str],
    removed: set[str],
) -> dict[str, object]:
    sidecar = {k: v for k, v in output.sidecar.items() if k not in NON_SIDECAR_KEYS}
    removed.update(deid.identifying_keys(sidecar, keep_fields))
    sidecar = deid.deidentify(sidecar, keep_fields)
    if entry.plan.datatype == "func":
        sidecar["TaskName"] = entry.plan.entities.get("task", "")
    sidecar.update(sidecars.sidecar_overrides(entry))
    if (entry.plan.datatype == "fmap" or entry.plan.suffix == "m0scan") and entry.intended_for:
        sidecar["IntendedFor"] = [
            f"bids::{target.name}{target.extension}" for sid in entry.intended_for for target in layout[sid]
        ]
    return sidecar


def _check_aslcontext(index: int, entry: SeriesEntry, outputs: list[_Output], converted_root: Path) -> list[str]:
    """The ASL series' volume labels, checked against its NIfTI's volume count (before anything is written)."""
    import nibabel as nib

    context = sidecars.asl_context(entry)
    for output in outputs:
        shape = nib.load(converted_root / f"{output.stem}{output.extension}").shape  # type: ignore[attr-defined]
        volumes = shape[3] if len(shape) > 3 else 1
        if len(context) != volumes or set(context) - set(sidecars.ASL_VOLUME_TYPES):
            raise InvalidArgument.field(
                f"series[{index}].metadata.{sidecars.ASL_CONTEXT_KEY}",
                f"ASL series {entry.series_id} has {volumes} volumes but aslcontext labels {context}: give one of "
                f"{', '.join(sidecars.ASL_VOLUME_TYPES)} per volume",
            )
    return context


# ---------------------------------------------------------------- dates and times


def _date_shifts(plan: Plan, keep_fields: frozenset[str]) -> dict[str, timedelta]:
    """Per subject, the shift that moves its first acquisition date to :data:`SHIFTED_ANCHOR`.

    Empty when ``keep_fields`` keeps ``AcquisitionDateTime`` (real dates are written).
    """
    if "AcquisitionDateTime" in keep_fields:
        return {}
    first: dict[str, date] = {}
    for entry in plan.series:
        day = deid.acquisition_date(entry.metadata)
        if day and (entry.subject not in first or day < first[entry.subject]):
            first[entry.subject] = day
    return {subject: SHIFTED_ANCHOR - day for subject, day in first.items()}


def _acq_time(entry: SeriesEntry, shift: timedelta | None) -> str:
    """``YYYY-MM-DDThh:mm:ss[.ffffff]`` for scans.tsv, or ``n/a`` without a time."""
    match = re.fullmatch(r"(\d{2}):?(\d{2}):?(\d{2})(?:\.(\d{1,6})\d*)?", entry.acquisition_time.strip())
    if not match:
        return "n/a"
    hh, mm, ss, frac = match.groups()
    day = deid.acquisition_date(entry.metadata)
    if day is None or shift is not None:
        day = (day + shift) if (day and shift is not None) else SHIFTED_ANCHOR
    return f"{day.isoformat()}T{hh}:{mm}:{ss}" + (f".{frac}" if frac else "")


# ---------------------------------------------------------------- dataset-level files


def _write_scans(
    out_dir: Path, subject: str, session: str, rows: list[tuple[str, str]], summary: DatasetSummary
) -> None:
    folder = f"sub-{subject}" + (f"/ses-{session}" if session else "")
    stem = f"sub-{subject}" + (f"_ses-{session}" if session else "")
    lines = ["filename\tacq_time", *(f"{name}\t{when}" for name, when in sorted(rows))]
    _write_text(out_dir, f"{folder}/{stem}_scans.tsv", "\n".join(lines) + "\n", summary)


def _write_participants(out_dir: Path, plan: Plan, summary: DatasetSummary, keep_fields: frozenset[str]) -> None:
    columns = ["participant_id"]
    with_age, with_sex = "PatientAge" in keep_fields, "PatientSex" in keep_fields
    columns += (["age"] if with_age else []) + (["sex"] if with_sex else [])
    rows = []
    for subject in summary.subjects:
        metadata = [s.metadata for s in plan.series if s.subject == subject and not s.plan.exclude]
        row = [f"sub-{subject}"]
        if with_age:
            age = next((a for m in metadata if (a := deid.participant_age(m, keep_fields)) is not None), None)
            row.append("n/a" if age is None else f"{age:g}")
        if with_sex:
            row.append(next((x for m in metadata if (x := deid.participant_sex(m, keep_fields))), "n/a"))
        rows.append("\t".join(row))
    _write_text(out_dir, "participants.tsv", "\n".join(["\t".join(columns), *rows]) + "\n", summary)
    described: dict[str, object] = {"participant_id": {"Description": "Unique participant identifier"}}
    if with_age:
        described["age"] = {"Description": "Age at the first scan, from the DICOM headers (89 means 89 or older)",
                            "Units": "year"}
    if with_sex:
        described["sex"] = {"Description": "Sex recorded in the DICOM headers",
                            "Levels": {"M": "male", "F": "female", "O": "other"}}
    _write_text(out_dir, "participants.json", json.dumps(described, indent=2) + "\n", summary)


def _write_description(out_dir: Path, plan: Plan, summary: DatasetSummary) -> None:
    description = {
        "Name": plan.dataset_name,
        "BIDSVersion": DATASET_BIDS_VERSION,
        "DatasetType": "raw",
        "GeneratedBy": [{
            "Name": GENERATOR_NAME,
            "Version": _version(),
            "Description": f"Converted by Tessera from upload {plan.upload_id} (plan version {plan.version})",
        }],
    }
    _write_text(out_dir, "dataset_description.json", json.dumps(description, indent=2) + "\n", summary)


def _write_readme(out_dir: Path, plan: Plan, summary: DatasetSummary, keep_fields: frozenset[str]) -> None:
    kept = ", ".join(sorted(keep_fields)) or "none"
    text = f"""# {plan.dataset_name}

Converted from DICOM by Tessera (upload {plan.upload_id}, plan version {plan.version}):
{len(summary.subjects)} subjects, {summary.series_written} series.

- Sidecars are de-identified: names, IDs, birth dates, addresses, institutions, UIDs and dates are
  removed (identifying fields kept on request: {kept}).
- `acq_time` in `*_scans.tsv` keeps the time of day; unless real dates were kept, each subject's
  dates are shifted so that its first scan falls on {SHIFTED_ANCHOR.isoformat()}.
- `*_events.tsv` onsets and durations are in seconds from the start of the run (the first volume),
  converted from the stimulus software's logs.
"""
    _write_text(out_dir, "README", text, summary)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(GENERATOR_NAME)
    except PackageNotFoundError:
        return "0+unknown"


def _default_events_renderer() -> EventsRenderer:
    """:func:`tessera.bids.eventlogs.to_events_tsv` on the log read from disk, with the plan's
    column mapping and run start."""
    from tessera.bids import eventlogs

    def render(log: EventLogEntry, path: Path) -> str:
        if log.columns is None:
            raise InvalidArgument.field("event_logs.columns", f"event log {log.file} has no column mapping")
        parsed = eventlogs.read_event_log(path, log.file)
        return eventlogs.to_events_tsv(parsed, log.columns, log.run_start)

    return render


# ---------------------------------------------------------------- file helpers


def _copy(source: Path, out_dir: Path, relative: str, summary: DatasetSummary) -> None:
    if not source.is_file():
        raise FailedPrecondition(f"converted file {source} is missing")
    target = out_dir / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    summary.files.append(relative)


def _write_text(out_dir: Path, relative: str, text: str, summary: DatasetSummary) -> None:
    target = out_dir / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    summary.files.append(relative)
