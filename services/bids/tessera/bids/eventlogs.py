"""Task-event logs from stimulus software -> BIDS ``events.tsv``.

Formats read:

- ``psychopy``: PsychoPy's trial CSV (columns like ``stim.started``, ``trials.thisN``,
  ``psychopyVersion``); times in seconds on the experiment clock.
- ``eprime``: E-Prime's own ``.txt`` log (UTF-16 with BOM, ``*** Header Start ***`` then one
  ``*** LogFrame Start ***`` block per trial) or an E-DataAid tab export (a table with
  ``Procedure``, ``Stim.OnsetTime``...); times in milliseconds.
- ``table``: any other CSV/TSV with a header row.

:func:`propose_columns` guesses which column gives onset, duration and trial_type, the unit, and
the run start (the scanner trigger), each with a confidence and readable messages.
:func:`to_events_tsv` writes the file: onsets in seconds from run start.
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from statistics import median

from tessera.bids.model import EventColumns, EventLogEntry, Finding, Level

_EPRIME_HEADER = "*** Header Start ***"
_MISSING = {"", "none", "nan", "n/a", "na", "null", "?"}
_MAX_ROW_FINDINGS = 20
# Names that mark a stimulus-software log (not just any spreadsheet).
_PSYCHOPY_MARKERS = ("psychopyversion", "framerate", "expname", "thisn", "thistrialn", "thisrepn")
_EPRIME_MARKERS = ("procedure", "experimentname", "running", ".onsettime", ".rttime", ".onsetdelay")
# Words in a column name that point at the scanner trigger / first volume.
_TRIGGER_WORDS = re.compile(r"trigger|scanner|waitfor|wait_for|sync|ttl|pulse|firstscan|first_scan|fmri|dummy",
                            re.IGNORECASE)


@dataclass
class EventLog:
    """A parsed log: ``rows`` are the trial records, ``extra_rows`` other records (E-Prime
    session/block frames) searched only for the run start. Paths are archive-relative."""

    file: str
    format: str
    columns: list[str] = field(default_factory=list)
    rows: list[dict[str, str]] = field(default_factory=list)
    extra_rows: list[dict[str, str]] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)


@dataclass
class ColumnProposal:
    """What :func:`propose_columns` suggests. ``run_start`` is in the log's unit (``columns.unit``)."""

    columns: EventColumns | None
    run_start: float = 0.0
    run_start_column: str | None = None
    confidence: float = 0.0
    messages: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------------------------ reading

def read_text(path: Path, limit: int | None = None) -> str:
    """Decode a log: UTF-16 (BOM, or NUL-heavy without BOM), UTF-8 (with or without BOM), else cp1252."""
    with path.open("rb") as fh:
        raw = fh.read() if limit is None else fh.read(limit)
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16", errors="replace")
    sample = raw[:4096]
    if sample and sample.count(b"\x00") > len(sample) // 4:
        enc = "utf-16-le" if sample[1:2] == b"\x00" else "utf-16-be"
        return raw[: len(raw) - len(raw) % 2].decode(enc, errors="replace")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        if limit is not None:  # a multi-byte character cut by the limit
            return raw.decode("utf-8-sig", errors="ignore")
        return raw.decode("cp1252", errors="replace")


def _table_lines(text: str) -> tuple[list[str], str] | None:
    """The header-onward lines and the delimiter of a delimited table, or None."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    # E-DataAid exports may start with the .edat path on its own line: skip lines before the header.
    for i, line in enumerate(lines[:3]):
        for delim in ("\t", ",", ";"):
            n = line.count(delim)
            if n >= 1 and len(lines) > i + 1:
                following = lines[i + 1: i + 6]
                # quoted fields may hold delimiters: accept rows with at least one delimiter
                if all(ln.count(delim) >= 1 for ln in following):
                    return lines[i:], delim
    return None


def looks_like_log(path: Path) -> bool:
    """Cheap check: an E-Prime log, or a delimited table with a header and at least one data row."""
    try:
        text = read_text(path, limit=65536)
    except OSError:
        return False
    if "\x00" in text:
        return False
    if _EPRIME_HEADER in text[:2000]:
        return True
    return _table_lines(text) is not None


def read_event_log(path: Path, rel: str | None = None) -> EventLog:
    """Parse a log file; problems become findings on the returned log (never raises on content)."""
    name = rel or path.name
    try:
        text = read_text(path)
    except OSError as exc:
        return EventLog(file=name, format="", findings=[Finding(level=Level.ERROR, file=name,
                                                                message=f"cannot read event log: {exc}")])
    if _EPRIME_HEADER in text[:2000]:
        return _parse_eprime_frames(text, name)
    table = _table_lines(text)
    if table is None:
        return EventLog(file=name, format="", findings=[Finding(level=Level.ERROR, file=name,
                                                                message="event log is not a delimited table")])
    lines, delim = table
    reader = csv.reader(io.StringIO("\n".join(lines)), delimiter=delim)
    header = [h.strip() for h in next(reader)]
    rows = []
    for values in reader:
        if not any(v.strip() for v in values):
            continue
        rows.append({h: (values[i].strip() if i < len(values) else "") for i, h in enumerate(header) if h})
    columns = [h for h in header if h]
    low = [c.lower() for c in columns]
    if any(m in c for c in low for m in _PSYCHOPY_MARKERS) or any(c.endswith(".started") for c in low):
        fmt = "psychopy"
    elif any(m in c for c in low for m in _EPRIME_MARKERS):
        fmt = "eprime"
    else:
        fmt = "table"
    log = EventLog(file=name, format=fmt, columns=columns, rows=rows)
    if not rows:
        log.findings.append(Finding(level=Level.ERROR, file=name, message="event log has a header but no rows"))
    return log


def _parse_eprime_frames(text: str, name: str) -> EventLog:
    """E-Prime .txt: LogFrames of the deepest level that has onset times are the trials."""
    frames: list[tuple[int, dict[str, str]]] = []
    level = 0
    current: dict[str, str] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("Level:") and current is None:
            try:
                level = int(line.split(":", 1)[1])
            except ValueError:
                level = 0
        elif line in ("*** LogFrame Start ***", _EPRIME_HEADER):
            current = {}
        elif line in ("*** LogFrame End ***", "*** Header End ***"):
            if current is not None:
                frames.append((level if line.startswith("*** LogFrame") else 0, current))
            current = None
        elif current is not None and ":" in line:
            key, value = line.split(":", 1)
            current[key.strip()] = value.strip()
    trial_levels = {lv for lv, f in frames if lv > 0 and any(k.endswith(".OnsetTime") for k in f)}
    trial_level = max(trial_levels) if trial_levels else max((lv for lv, _ in frames), default=0)
    rows = [f for lv, f in frames if lv == trial_level and lv > 0]
    extra = [f for lv, f in frames if not (lv == trial_level and lv > 0)]
    columns: list[str] = []
    for f in rows:
        columns.extend(k for k in f if k not in columns)
    log = EventLog(file=name, format="eprime", columns=columns, rows=rows, extra_rows=extra)
    if not rows:
        log.findings.append(Finding(level=Level.ERROR, file=name, message="E-Prime log has no trial frames"))
    return log


# ------------------------------------------------------------------------------------------ proposing

def _number(text: str | None) -> float | None:
    if text is None or text.strip().lower() in _MISSING:
        return None
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _numeric_share(log: EventLog, column: str) -> tuple[float, list[float]]:
    """Share of non-empty values that parse as numbers, and those numbers."""
    present = [r.get(column, "") for r in log.rows if (r.get(column, "") or "").strip().lower() not in _MISSING]
    values = [v for v in (_number(p) for p in present) if v is not None]
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
            value = _number(r.get(name))
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
                                                            if _is_end_time(duration) else ""))
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


def _is_end_time(column: str) -> bool:
    low = column.lower()
    return low.endswith((".stopped", ".offsettime", "offset", "_end", ".end", "stop", "endtime", "end_time"))


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


# ------------------------------------------------------------------------------------------ writing

def _fmt(value: float) -> str:
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def to_events_tsv(log: EventLog, columns: EventColumns, run_start: float = 0.0,
                  findings: list[Finding] | None = None) -> str:
    """BIDS events.tsv text: ``onset``, ``duration`` (seconds from run start), ``trial_type``.

    ``run_start`` is in the log's unit (``columns.unit``). Rows with an empty onset (no stimulus
    on that row) are skipped; rows whose onset does not parse are skipped and reported as warning
    findings naming the file and row (appended to ``findings`` when given). A duration column
    that holds an end time (``*.stopped``, ``*.OffsetTime``) gives duration = end - onset.
    Missing durations and trial types are written as 'n/a'. Rows are sorted by onset.
    """
    scale = 0.001 if columns.unit == "ms" else 1.0
    end_time = columns.duration is not None and _is_end_time(columns.duration)
    out: list[tuple[float, str, str]] = []
    bad = 0
    for i, row in enumerate(log.rows, start=1):
        raw = row.get(columns.onset, "")
        if raw.strip().lower() in _MISSING:
            continue
        onset = _number(raw)
        if onset is None:
            bad += 1
            if findings is not None and bad <= _MAX_ROW_FINDINGS:
                findings.append(Finding(level=Level.WARNING, file=log.file,
                                        message=f"row {i}: onset {raw!r} in '{columns.onset}' is not a number; "
                                                "event skipped"))
            continue
        duration = "n/a"
        if columns.duration:
            d = _number(row.get(columns.duration))
            if d is not None:
                d = d - onset if end_time else d
                duration = _fmt(max(d, 0.0) * scale)
        trial_type = "n/a"
        if columns.trial_type:
            tt = (row.get(columns.trial_type) or "").strip()
            if tt and tt.lower() not in _MISSING:
                trial_type = re.sub(r"[\t\r\n]+", " ", tt)
        out.append(((onset - run_start) * scale, duration, trial_type))
    if findings is not None and bad > _MAX_ROW_FINDINGS:
        findings.append(Finding(level=Level.WARNING, file=log.file,
                                message=f"{bad - _MAX_ROW_FINDINGS} more rows with unparseable onsets skipped"))
    out.sort(key=lambda t: t[0])
    lines = ["onset\tduration\ttrial_type"]
    lines.extend(f"{_fmt(o)}\t{d}\t{t}" for o, d, t in out)
    return "\n".join(lines) + "\n"


def render_events_tsv(entry: EventLogEntry, path: Path, findings: list[Finding] | None = None) -> str:
    """events.tsv text for a plan's log entry (its ``columns`` and ``run_start``) read from ``path``.

    The ``(log entry, log path) -> text`` shape the dataset writer calls. Raises ValueError when
    the entry has no column mapping (the plan validation refuses that before Finalize).
    """
    if entry.columns is None:
        raise ValueError(f"event log {entry.file!r} has no column mapping")
    log = read_event_log(path, entry.file)
    if findings is not None:
        findings.extend(log.findings)
    return to_events_tsv(log, entry.columns, entry.run_start, findings)
