"""``UpdatePlan``: apply a client's edits to a plan, all or nothing.

Each edit is checked on its own (unknown series, unknown entity names) and then the whole edited
plan is checked again (:func:`tessera.bids.naming.check_plan`: suffixes, required entities,
labels, duplicate names, IntendedFor, event-log targets). Any violation rejects every edit, so a
plan is never half-applied.
"""

from __future__ import annotations

from tessera.bids import naming
from tessera.bids.model import ENTITY_ORDER, EventColumns, Plan
from tessera.core.errors import FailedPrecondition, FieldViolation, InvalidArgument
from tessera.v1 import bids_pb2

EDITABLE_ENTITIES = frozenset(ENTITY_ORDER) - {"sub", "ses"}  # subject/session have their own fields


def refresh_names(plan: Plan) -> None:
    for entry in plan.series:
        entry.bids_name = "" if entry.plan.exclude or not entry.plan.suffix else naming.bids_name(entry)


def apply_edits(plan: Plan, request: bids_pb2.UpdatePlanRequest) -> Plan:
    """The edited plan (a new object, version + 1); raises InvalidArgument listing every problem."""
    if request.expected_version and request.expected_version != plan.version:
        raise FailedPrecondition(
            f"plan {plan.upload_id} is at version {plan.version}, not {request.expected_version}: reload and retry"
        )
    edited = plan.model_copy(deep=True)
    by_id = edited.series_by_id()
    problems: list[FieldViolation] = []
    for i, edit in enumerate(request.series):
        where = f"series[{i}]"
        entry = by_id.get(edit.series_id)
        if entry is None:
            problems.append(FieldViolation(f"{where}.series_id", f"unknown series {edit.series_id!r}"))
            continue
        if edit.HasField("datatype"):
            entry.plan.datatype = edit.datatype or None
        if edit.HasField("suffix"):
            entry.plan.suffix = edit.suffix or None
        for name, value in edit.set_entities.items():
            if name not in EDITABLE_ENTITIES:
                problems.append(FieldViolation(
                    f"{where}.set_entities[{name}]",
                    f"unknown or non-editable entity; editable: {sorted(EDITABLE_ENTITIES)}",
                ))
            else:
                entry.plan.entities[name] = value
        for name in edit.remove_entities:
            entry.plan.entities.pop(name, None)
        if edit.HasField("exclude"):
            entry.plan.exclude = edit.exclude
        if edit.HasField("subject"):
            entry.subject = edit.subject
        if edit.HasField("session"):
            entry.session = edit.session
        if edit.intended_for:
            entry.intended_for = list(edit.intended_for)
        entry.plan.confidence = 1.0
        entry.plan.messages.insert(0, f"edited by a person (plan version {plan.version + 1})")
    logs = {log.file: log for log in edited.event_logs}
    for i, log_edit in enumerate(request.event_logs):
        log = logs.get(log_edit.file)
        if log is None:
            problems.append(FieldViolation(f"event_logs[{i}].file", f"unknown event log {log_edit.file!r}"))
            continue
        if log_edit.HasField("series_id"):
            log.series_id = log_edit.series_id
        if log_edit.HasField("columns"):
            c = log_edit.columns
            if not c.onset:
                problems.append(FieldViolation(f"event_logs[{i}].columns.onset", "must name the onset column"))
            elif c.unit not in ("s", "ms"):
                problems.append(FieldViolation(f"event_logs[{i}].columns.unit", "must be 's' or 'ms'"))
            else:
                log.columns = EventColumns(onset=c.onset, unit=c.unit,
                                           duration=c.duration if c.HasField("duration") else None,
                                           trial_type=c.trial_type if c.HasField("trial_type") else None)
        if log_edit.HasField("run_start"):
            log.run_start = log_edit.run_start
        log.confidence = 1.0
    if request.HasField("dataset_name"):
        if not request.dataset_name.strip():
            problems.append(FieldViolation("dataset_name", "must not be blank"))
        edited.dataset_name = request.dataset_name
    if problems:
        raise InvalidArgument(problems)
    refresh_names(edited)
    problems = naming.check_plan(edited)
    if problems:
        raise InvalidArgument(problems)
    edited.version = plan.version + 1
    return edited
