"""Which columns of a task-event log give onset, duration and trial_type, their unit, and the run start.

:func:`propose_columns` scores the columns of a parsed :class:`~tessera.bids.eventlogs.EventLog` (names such as
``stim.started`` or ``Stim.OnsetTime``, share of numeric values, coverage of the rows), picks the unit (seconds or
milliseconds, by name, format or magnitude) and the scanner trigger that starts the run, and says why in readable
messages with a confidence in [0, 1]. The user can edit the proposal before the dataset is written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import pairwise
from statistics import median

from tessera.bids.eventlogs import MISSING_VALUES, EventLog, is_end_time_column, parse_number
from tessera.bids.model import EventColumns

_TRIGGER_WORDS = re.compile(r"trigger|scanner|waitfor|wait_for|sync|ttl|pulse|firstscan|first_scan|fmri|dummy",
                            re.IGNORECASE)


@dataclass
class ColumnProposal:
    """What :func:`propose_columns` suggests. ``run_start`` is in the log's unit (``columns.unit``)."""

    columns: EventColumns | None
    run_start: float = 0.0
    run_start_column: str | None = None
    confidence: float = 0.0
    messages: list[str] = field(default_factory=list)


def _numeric_share(log: EventLog, column: str) -> tuple[float, list[float]]:
    """Share of non-empty values that parse as numbers, and those numbers."""
    present = [r.get(column, "") for r in log.rows if (r.get(column, "") or "").strip().lower() not in MISSING_VALUES]
    values = [v for v in (parse_number(p) for p in present) if v is not None]
    return (len(values) / len(present) if present else 0.0), values


def _onset_score(column: str, fmt: str) -> float:
    low = column.lower()
    if low in ("onset", "onset_time", "onsettime"):
        return 0.95
    if _TRIGGER_WORDS.search(low):
        return 0.0
    base = 0.0
    if low.endswith(".onsettime") or low.endswith(".started"):
        base = 0.7
    elif low.endswith(("onset", "_start", ".start", "starttime", "start_time")) or low in ("time", "start"):
        base = 0.6
    if base and re.search(r"stim|image|cue|target|word|face|pic|trial|probe|sound|movie", low):
        base += 0.15
    if base and re.search(r"fix|iti|instr|feedback|thanks|welcome|resp|key", low):
        base -= 0.25
    return max(base, 0.0)


def _unit(column: str, values: list[float], fmt: str) -> tuple[str, str]:
    """('s'|'ms', why)."""
    low = column.lower()
    if re.search(r"onsettime|rttime|offsettime|_ms$|\(ms\)|msec", low):
        return "ms", f"'{column}' is a millisecond column by name"
    if low.endswith((".started", ".stopped")) or re.search(r"_s$|\(s\)|sec", low):
        return "s", f"'{column}' is a seconds column by name"
    if fmt == "eprime":
        return "ms", "E-Prime logs times in milliseconds"
    if values and (max(values) > 10000 or (len(values) > 1 and median(_diffs(values)) > 100)):
        return "ms", "values are too large to be seconds"
    return "s", "values are in the range of seconds"


def _diffs(values: list[float]) -> list[float]:
    ordered = sorted(values)
    return [b - a for a, b in pairwise(ordered)] or [0.0]


_NOT_A_CLOCK = re.compile(r"[._](rt|keys|corr|resp|acc|cresp|duration|onsetdelay|onsettoonsettime|thisn|index)$",
                          re.IGNORECASE)


def _trigger_rank(name: str) -> int:
    """Lower is better: the moment the trigger arrived beats the moment a wait screen appeared."""
    low = name.lower()
    if low.endswith(".rttime"):
        return 0
    if low.endswith((".stopped", ".offsettime")):
        return 1
    if low.endswith((".onsettime", ".started")):
        return 3
    return 2  # a bare value such as 'scanner_trigger' or 'trigger_time'


def _run_start(log: EventLog) -> tuple[str | None, float | None]:
    """The trigger column (most exact kind first) and its first numeric value."""
    names: list[str] = []
    for r in log.extra_rows + log.rows:
        # only clock times: 'key_resp_trigger.rt' is a reaction time, 'trigger.keys' the key pressed
        names.extend(k for k in r if k not in names and _TRIGGER_WORDS.search(k) and not _NOT_A_CLOCK.search(k))
    names.sort(key=_trigger_rank)
    for name in names:
        for r in log.rows + log.extra_rows:
            value = parse_number(r.get(name))
            if value is not None:
                return name, value
    return None, None


def propose_columns(log: EventLog) -> ColumnProposal:
    """Guess onset / duration / trial_type columns, unit and run start, with confidence and messages."""
    prop = ColumnProposal(columns=None)
    scored = []
    for col in log.columns:
        score = _onset_score(col, log.format)
        if score <= 0:
            continue
        share, values = _numeric_share(log, col)
        if share < 0.5 or not values:
            continue
        # Prefer the column present on most rows: the stimulus, not a one-off instruction screen.
        coverage = len(values) / max(len(log.rows), 1)
        scored.append((score * share * (0.5 + 0.5 * coverage), col, values))
    if not scored:
        prop.messages.append(f"no onset column found among {len(log.columns)} columns; map it by hand")
        return prop
    scored.sort(key=lambda t: -t[0])
    confidence, onset, values = scored[0]
    prop.messages.append(f"onset <- '{onset}' ({len(values)} of {len(log.rows)} rows numeric)")
    share = _numeric_share(log, onset)[0]
    if share < 1.0:
        prop.messages.append(f"'{onset}' has values that are not numbers ({share:.0%} numeric): those rows are skipped")
    unit, why = _unit(onset, values, log.format)
    prop.messages.append(f"unit {unit}: {why}")
    duration = _duration_column(log, onset)
    if duration:
        prop.messages.append(f"duration <- '{duration}'" + (" (an end time: duration = end - onset)"
                                                            if is_end_time_column(duration) else ""))
    else:
        prop.messages.append("no duration column: duration written as n/a")
        confidence *= 0.9
    trial_type = _trial_type_column(log, onset)
    prop.messages.append(f"trial_type <- '{trial_type}'" if trial_type else "no trial_type column")
    trig, start = _run_start(log)
    if trig is not None and start is not None:
        prop.run_start, prop.run_start_column = start, trig
        prop.messages.append(f"run start = {start:g} {unit} from '{trig}' (scanner trigger)")
    elif log.format == "psychopy" and any(c.lower() == "non_slip" for c in log.columns):
        prop.messages.append("no trigger column; non-slip timing: onsets taken as relative to run start")
    else:
        prop.messages.append("no trigger column found: onsets taken as already relative to run start")
        confidence *= 0.8
    prop.columns = EventColumns(onset=onset, duration=duration, trial_type=trial_type, unit=unit)
    prop.confidence = round(min(max(confidence, 0.0), 1.0), 3)
    return prop


def _duration_column(log: EventLog, onset: str) -> str | None:
    stem = onset.rsplit(".", 1)[0] if "." in onset else ""
    # A planned duration beats an end time (end - onset also counts frame jitter).
    options = [f"{stem}.duration", "duration", "dur", f"{stem}.stopped", f"{stem}.offsettime"] if stem \
        else ["duration", "dur"]
    lower = {c.lower(): c for c in log.columns}
    for opt in options:
        col = lower.get(opt.lower())
        if col and _numeric_share(log, col)[0] >= 0.8 and _numeric_share(log, col)[1]:
            return col
    return None


def _trial_type_column(log: EventLog, onset: str) -> str | None:
    lower = {c.lower(): c for c in log.columns}
    for name in ("trial_type", "trialtype", "condition", "cond", "stim_type", "stimtype", "category", "type"):
        if name in lower:
            return lower[name]
    # A text column with a few repeating values is most likely the condition.
    best: tuple[int, str] | None = None
    for col in log.columns:
        if col == onset or "." in col or re.search(r"participant|subject|session|date|exp|file|version", col, re.I):
            continue
        values = [r.get(col, "") for r in log.rows if r.get(col, "")]
        if not values or _numeric_share(log, col)[0] > 0.5:
            continue
        distinct = len(set(values))
        if 2 <= distinct <= 20 and distinct < len(values) and (best is None or distinct < best[0]):
            best = (distinct, col)
    return best[1] if best else None
