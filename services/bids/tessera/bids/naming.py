"""BIDS file names for plan entries, and the checks a plan must pass before anything is written.

The rules come from the BIDS schema that ``bidsschematools`` ships (offline): which suffixes a
datatype allows, which entities each (datatype, suffix) allows or requires, the entity order in
file names and the label/index value formats. On top of the schema Tessera adds a few policies
(:data:`POLICY_REQUIRED`), e.g. a PEPOLAR field map (``fmap/epi``) must say its phase-encoding
direction, or nothing can pair it with the runs it corrects.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

from bidsschematools import schema as bids_schema

from tessera.bids import model
from tessera.bids.model import Plan, SeriesEntry
from tessera.core.errors import FieldViolation, InvalidArgument

# Entities required by Tessera beyond the schema, per (datatype, suffix), with why.
POLICY_REQUIRED: dict[tuple[str, str], dict[str, str]] = {
    ("fmap", "epi"): {"dir": "a PEPOLAR field map needs its phase-encoding direction to be paired with runs"},
}
# Entities the writer itself adds to multi-output series (echo-N, part-mag/phase).
WRITER_ENTITIES = ("echo", "part")


@dataclass(frozen=True)
class EntityRule:
    """What one (datatype, suffix) pair allows: short entity names -> 'required' | 'optional'."""

    datatype: str
    suffix: str
    entities: Mapping[str, str]


@dataclass(frozen=True)
class BidsRules:
    """The slice of the BIDS schema Tessera names files with."""

    bids_version: str
    entity_order: tuple[str, ...]  # short names ('sub', 'ses', 'task', ...) in file-name order
    suffixes: Mapping[str, tuple[str, ...]]  # datatype -> suffixes Tessera writes (schema-checked)
    rules: Mapping[tuple[str, str], EntityRule]
    formats: Mapping[str, re.Pattern[str]]  # short entity name -> full-match value pattern
    enums: Mapping[str, tuple[str, ...]]  # short entity name -> allowed values, where the schema fixes them


@cache
def bids_rules() -> BidsRules:
    """Read the schema once (about 0.5 s) and keep the parts naming needs."""
    schema = bids_schema.load_schema()
    short = {long: schema.objects.entities[long]["name"] for long in schema.rules.entities}
    order = tuple(short[long] for long in schema.rules.entities)
    # model.ENTITY_ORDER must be a subsequence of the schema's order, or names would be invalid.
    positions = [order.index(e) for e in model.ENTITY_ORDER]
    if positions != sorted(positions):
        raise RuntimeError(f"model.ENTITY_ORDER {model.ENTITY_ORDER} disagrees with the BIDS schema order")
    rules: dict[tuple[str, str], EntityRule] = {}
    suffixes: dict[str, tuple[str, ...]] = {}
    for datatype, wanted in model.SUFFIXES.items():
        allowed: list[str] = []
        for group in schema.rules.files.raw[datatype].values():
            for suffix in group["suffixes"]:
                if suffix in wanted and (datatype, suffix) not in rules:
                    entities = {short[k]: str(v) for k, v in group["entities"].items()}
                    rules[(datatype, suffix)] = EntityRule(datatype, suffix, entities)
                    allowed.append(suffix)
        missing = set(wanted) - set(allowed)
        if missing:
            raise RuntimeError(f"BIDS schema {schema.bids_version} has no {datatype} suffixes {sorted(missing)}")
        suffixes[datatype] = tuple(s for s in wanted if s in allowed)
    formats: dict[str, re.Pattern[str]] = {}
    enums: dict[str, tuple[str, ...]] = {}
    for long, name in short.items():
        entity = schema.objects.entities[long]
        pattern = schema.objects.formats[entity["format"]]["pattern"]
        formats[name] = re.compile(pattern)
        if "enum" in entity:
            enums[name] = tuple(str(v) for v in entity["enum"])
    return BidsRules(str(schema.bids_version), order, suffixes, rules, formats, enums)


def entity_order() -> tuple[str, ...]:
    """Short entity names in BIDS file-name order."""
    return bids_rules().entity_order


def name_entities(entry: SeriesEntry) -> dict[str, str]:
    """All entities of the entry's file name (sub, ses and the plan's), in file-name order."""
    values = {"sub": entry.subject, "ses": entry.session, **entry.plan.entities}
    return {e: values[e] for e in entity_order() if values.get(e)}


def format_name(datatype: str, suffix: str, entities: Mapping[str, str]) -> str:
    """``sub-01/ses-01/func/sub-01_ses-01_task-rest_bold`` from the parts (no extension).

    ``entities`` must hold ``sub``; ``ses`` is left out of the path and name when empty.
    """
    order = entity_order()
    ordered = [(e, entities[e]) for e in order if entities.get(e)]
    unknown = sorted(set(k for k, v in entities.items() if v) - set(order))
    if unknown:
        raise InvalidArgument.field("plan.entities", f"unknown BIDS entities {unknown}")
    stem = "_".join(f"{e}-{v}" for e, v in ordered) + f"_{suffix}"
    folders = [f"sub-{entities['sub']}"] + ([f"ses-{entities['ses']}"] if entities.get("ses") else [])
    return "/".join([*folders, datatype, stem])


def bids_name(entry: SeriesEntry) -> str:
    """The entry's BIDS path without extension, e.g.
    ``sub-01/ses-01/func/sub-01_ses-01_task-rest_dir-AP_run-1_bold``.

    Raises :class:`InvalidArgument` when the entry has no datatype/suffix yet. Label formats are
    not checked here (see :func:`check_plan`).
    """
    if not entry.plan.datatype or not entry.plan.suffix:
        raise InvalidArgument.field("plan.suffix", f"series {entry.series_id} has no datatype/suffix yet")
    return format_name(entry.plan.datatype, entry.plan.suffix, name_entities(entry))


def check_entry(entry: SeriesEntry, where: str) -> list[FieldViolation]:
    """Violations of one non-excluded series; ``where`` is its field path (``series[3]``)."""
    rules = bids_rules()
    found: list[FieldViolation] = []
    datatype, suffix = entry.plan.datatype, entry.plan.suffix
    if not entry.subject:
        found.append(FieldViolation(f"{where}.subject", "is required (the BIDS 'sub' label)"))
    for name, value in (("subject", entry.subject), ("session", entry.session)):
        if value and not rules.formats["sub"].fullmatch(value):
            found.append(FieldViolation(f"{where}.{name}", f"{value!r} must be alphanumeric (BIDS label)"))
    if datatype is None or datatype not in rules.suffixes:
        found.append(FieldViolation(f"{where}.plan.datatype", f"{datatype!r} is not one of {list(rules.suffixes)}"))
        return found
    if suffix is None or suffix not in rules.suffixes[datatype]:
        known = any(suffix in s for s in rules.suffixes.values())
        why = f"is not allowed in {datatype}/" if known else "is not a known suffix; allowed in " + f"{datatype}/"
        found.append(FieldViolation(f"{where}.plan.suffix", f"{suffix!r} {why}: {list(rules.suffixes[datatype])}"))
        return found
    rule = rules.rules[(datatype, suffix)]
    entities = entry.plan.entities
    for name, value in entities.items():
        field = f"{where}.plan.entities.{name}"
        if name in ("sub", "ses"):
            found.append(FieldViolation(field, f"set '{name}' through the series' subject/session fields"))
        elif name not in rule.entities:
            found.append(FieldViolation(field, f"entity '{name}' is not allowed for {datatype}/{suffix}"))
        elif not value:
            found.append(FieldViolation(field, "must not be empty (remove the entity instead)"))
        elif not rules.formats[name].fullmatch(value):
            kind = "a non-negative integer" if name in ("run", "echo") else "alphanumeric"
            found.append(FieldViolation(field, f"{value!r} must be {kind}"))
        elif name in rules.enums and value not in rules.enums[name]:
            found.append(FieldViolation(field, f"{value!r} must be one of {list(rules.enums[name])}"))
    required = {e: f"BIDS requires it for {datatype}/{suffix}" for e, lvl in rule.entities.items() if lvl == "required"}
    required.update(POLICY_REQUIRED.get((datatype, suffix), {}))
    for name, why in required.items():
        if name not in ("sub", "ses") and not entities.get(name):
            found.append(FieldViolation(f"{where}.plan.entities.{name}", f"is required: {why}"))
    return found


def check_plan(plan: Plan) -> list[FieldViolation]:
    """Everything that would stop :func:`tessera.bids.writer.write_dataset` writing a valid dataset.

    Checks non-excluded series (datatype, suffix, entities, labels), duplicate BIDS names (both
    series named), ``intended_for`` targets and the event-log -> run mapping. Returns field
    violations with paths such as ``series[3].plan.suffix``; empty means the plan can be written.
    """
    found: list[FieldViolation] = []
    index: dict[str, int] = {}
    for i, entry in enumerate(plan.series):
        index.setdefault(entry.series_id, i)  # the first holder of an id; later ones are reported
    names: dict[str, int] = {}
    for i, entry in enumerate(plan.series):
        where = f"series[{i}]"
        if entry.series_id in index and index[entry.series_id] != i:
            first = index[entry.series_id]
            found.append(FieldViolation(f"{where}.series_id", f"{entry.series_id!r} repeats series[{first}]"))
        if entry.plan.exclude:
            continue
        problems = check_entry(entry, where)
        found.extend(problems)
        if any(p.field.endswith((".datatype", ".suffix", ".subject")) for p in problems):
            continue
        name = bids_name(entry)
        if name in names:
            j = names[name]
            other = plan.series[j].series_id
            mine = entry.series_id
            found.append(FieldViolation(f"series[{j}].bids_name", f"{name!r} is also the name of series[{i}] ({mine})"))
            found.append(FieldViolation(f"{where}.bids_name", f"{name!r} is also the name of series[{j}] ({other})"))
        else:
            names[name] = i
        found.extend(_check_intended_for(plan, entry, where, index))
    found.extend(_check_event_logs(plan, index))
    return found


def _check_intended_for(plan: Plan, entry: SeriesEntry, where: str, index: dict[str, int]) -> list[FieldViolation]:
    found: list[FieldViolation] = []
    m0scan = entry.plan.datatype == "perf" and entry.plan.suffix == "m0scan"
    if entry.intended_for and entry.plan.datatype != "fmap" and not m0scan:
        found.append(FieldViolation(f"{where}.intended_for", "only field maps (fmap) and m0scan carry IntendedFor"))
        return found
    for k, target_id in enumerate(entry.intended_for):
        field = f"{where}.intended_for[{k}]"
        if target_id not in index:
            found.append(FieldViolation(field, f"names unknown series {target_id!r}"))
            continue
        target = plan.series[index[target_id]]
        if target.plan.exclude:
            found.append(FieldViolation(field, f"series {target_id!r} is excluded, so it will not be written"))
        elif m0scan and (target.plan.datatype, target.plan.suffix) != ("perf", "asl"):
            found.append(FieldViolation(field, f"series {target_id!r} is not an ASL run an m0scan can calibrate"))
        elif target.plan.datatype in ("fmap", None):
            found.append(FieldViolation(field, f"series {target_id!r} is not an image a field map can correct"))
        elif (target.subject, target.session) != (entry.subject, entry.session):
            found.append(FieldViolation(field, f"series {target_id!r} belongs to another subject/session"))
    return found


def _check_event_logs(plan: Plan, index: dict[str, int]) -> list[FieldViolation]:
    found: list[FieldViolation] = []
    mapped: dict[str, int] = {}
    for k, log in enumerate(plan.event_logs):
        if not log.series_id:
            continue  # unmapped logs are not written; the planner reports them as findings
        field = f"event_logs[{k}].series_id"
        if log.series_id not in index:
            found.append(FieldViolation(field, f"names unknown series {log.series_id!r}"))
            continue
        target = plan.series[index[log.series_id]]
        if target.plan.exclude:
            found.append(FieldViolation(field, f"series {log.series_id!r} is excluded; its events cannot be written"))
        elif (target.plan.datatype, target.plan.suffix) != ("func", "bold"):
            found.append(FieldViolation(field, f"series {log.series_id!r} is not a func/bold run"))
        elif log.series_id in mapped:
            other = mapped[log.series_id]
            found.append(FieldViolation(field, f"series {log.series_id!r} already has event_logs[{other}]"))
        else:
            mapped[log.series_id] = k
    return found


def require_valid(plan: Plan) -> None:
    """Raise :class:`InvalidArgument` with every violation of :func:`check_plan`, if any."""
    violations = check_plan(plan)
    if violations:
        raise InvalidArgument(violations)
