"""The bids method end to end on local files: inspect + plan, then write + validate.

Used by the service's jobs (worker.py), by ``tessera bids plan|convert`` and by the benchmarks,
so all three run the same code.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tessera.bids import naming
from tessera.bids.archive import ExtractLimits, extract_archive
from tessera.bids.convert import convert_all
from tessera.bids.deidentify import deidentify
from tessera.bids.dicom import infer_subjects_sessions, scan_tree
from tessera.bids.edit import refresh_names
from tessera.bids.event_columns import propose_columns
from tessera.bids.eventlogs import read_event_log
from tessera.bids.infer import infer_series
from tessera.bids.model import EventLogEntry, Finding, Level, Plan, SeriesEntry, SeriesPlan
from tessera.bids.planner import assign_intended_for, assign_runs, flag_duplicates, map_event_logs
from tessera.bids.sidecars import complete_sidecars
from tessera.bids.validate import ValidationReport, validate_dataset
from tessera.bids.writer import DatasetSummary, write_dataset

Progress = Callable[[float, str], None]


@dataclass
class LocalPlan:
    """A plan and where its inputs lie on disk (``converted_root``/``logs_root`` as the writer expects)."""

    plan: Plan
    converted_root: Path
    logs_root: Path


def _no_progress(fraction: float, message: str) -> None:
    del fraction, message


def inspect_and_plan(
    source: Path,
    work: Path,
    *,
    upload_id: str,
    dataset_name: str = "",
    limits: ExtractLimits | None = None,
    convert_timeout_s: float = 600.0,
    keep_patient_ids: bool = False,
    progress: Progress = _no_progress,
) -> LocalPlan:
    """Extract (if ``source`` is an archive), group, convert and infer the plan of one upload.

    Progress goes from 0 to 1 (extract 0-0.1, scan 0.1-0.2, convert 0.2-0.9, plan 0.9-1). Problems
    with inputs become findings in the plan; nothing here raises on bad content.
    """
    findings: list[Finding] = []
    if source.is_dir():
        src_root, files = source, None
    else:
        progress(0.0, f"extracting {source.name}")
        extracted = extract_archive(source, work / "extracted", limits)
        findings += extracted.findings
        src_root, files = work / "extracted", extracted.files
    progress(0.1, "reading headers")
    scan = scan_tree(src_root, files)
    findings += scan.findings
    labels = infer_subjects_sessions(scan.series, numbered=not keep_patient_ids)
    total = len(scan.series)
    progress(0.2, f"converting {total} series with dcm2niix")
    converted_root = work / "converted"
    conversions = convert_all(
        scan.series, src_root, converted_root, timeout_s=convert_timeout_s,
        progress=lambda done, n, msg: progress(0.2 + 0.7 * done / max(n, 1), msg),
    )
    plan = Plan(upload_id=upload_id, dataset_name=dataset_name or "Tessera dataset")
    for group, conversion in zip(scan.series, conversions, strict=True):
        findings += conversion.findings
        subject, session = labels[group.series_id]
        entry = SeriesEntry(
            series_id=group.series_id, subject=subject, session=session, series_number=group.series_number,
            series_description=group.series_description, protocol_name=group.protocol_name,
            acquisition_time=group.acquisition_time, files=group.files,
        )
        if conversion.ok:
            image = conversion.images[0]
            entry.metadata = deidentify(image.metadata)
            entry.converted = [f for img in conversion.images for f in img.files]
            entry.plan = infer_series({**image.metadata, "Modality": group.modality or "MR"})
        else:
            entry.plan = SeriesPlan(exclude=True, confidence=1.0,
                                    messages=[f"series {group.series_number} '{group.series_description}' excluded:"
                                              " dcm2niix could not convert it (see findings)"])
        plan.series.append(entry)
    progress(0.9, "planning runs, field maps and event logs")
    assign_runs(plan.series)
    refresh_names(plan)
    flag_duplicates(plan, naming.bids_name)
    assign_intended_for(plan.series)
    refresh_names(plan)
    findings += complete_sidecars(plan, converted_root)

    logs_root = work / "logs"
    entries: list[EventLogEntry] = []
    for rel in scan.event_logs:
        target = logs_root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src_root / rel, target)
        log = read_event_log(target, rel)
        findings += log.findings
        proposal = propose_columns(log)
        entries.append(EventLogEntry(file=rel, format=log.format, columns=proposal.columns,
                                     run_start=proposal.run_start, confidence=proposal.confidence,
                                     messages=list(proposal.messages)))
    # Stimulus PCs file logs under the patient ID, name or date: let those identify the run.
    hints = {g.series_id: (g.patient_id, g.patient_name, g.study_date) for g in scan.series}
    plan.event_logs = map_event_logs(plan, entries, hints)
    for violation in naming.check_plan(plan):
        findings.append(Finding(level=Level.ERROR, message=f"plan needs an edit: {violation.field}: "
                                                          f"{violation.description}"))
    plan.findings = [*findings, *plan.findings]  # keep the duplicate warnings flag_duplicates added
    progress(1.0, f"planned {sum(not s.plan.exclude for s in plan.series)} of {total} series")
    return LocalPlan(plan, converted_root, logs_root)


def write_and_validate(
    plan: Plan,
    converted_root: Path,
    logs_root: Path,
    out_dir: Path,
    *,
    keep_fields: frozenset[str] = frozenset(),
    validator_timeout_s: float = 600.0,
) -> tuple[DatasetSummary, ValidationReport]:
    """Write the dataset (de-identified) and run the BIDS validator on it."""
    summary = write_dataset(plan, converted_root, logs_root, out_dir, keep_fields=keep_fields)
    return summary, validate_dataset(out_dir, timeout_s=validator_timeout_s)
