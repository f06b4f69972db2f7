"""Task-event logs from stimulus software -> BIDS ``events.tsv``.

Formats read:

- ``psychopy``: PsychoPy's trial CSV (columns like ``stim.started``, ``trials.thisN``,
  ``psychopyVersion``); times in seconds on the experiment clock.
- ``eprime``: E-Prime's own ``.txt`` log (UTF-16 with BOM, ``*** Header Start ***`` then one
  ``*** LogFrame Start ***`` block per trial) or an E-DataAid tab export (a table with
  ``Procedure``, ``Stim.OnsetTime``...); times in milliseconds.
- ``table``: any other CSV/TSV with a header row.

:func:`tessera.bids.event_columns.propose_columns` guesses which column gives onset, duration and
trial_type, the unit, and the run start (the scanner trigger), each with a confidence and readable
messages. :func:`to_events_tsv` writes the file: onsets in seconds from run start.
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from tessera.bids.model import EventColumns, EventLogEntry, Finding, Level

_EPRIME_HEADER = "*** Header Start ***"
MISSING_VALUES = {"", "none", "nan", "n/a", "na", "null", "?"}
_MAX_ROW_FINDINGS = 20
# Names that mark a stimulus-software log (not just any spreadsheet).
_PSYCHOPY_MARKERS = ("psychopyversion", "framerate", "expname", "thisn", "thistrialn", "thisrepn")
_EPRIME_MARKERS = ("procedure", "experimentname", "running", ".onsettime", ".rttime", ".onsetdelay")
# Words in a column name that point at the scanner trigger / first volume.


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


# ------------------------------------------------------------------------------------------ values

def parse_number(text: str | None) -> float | None:
    """The finite float a cell holds, or None (empty, a missing-value marker, not a number, inf/nan)."""
    if text is None or text.strip().lower() in MISSING_VALUES:
        return None
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def is_end_time_column(column: str) -> bool:
    """Whether a column holds an end time (``stim.stopped``, ``Stim.OffsetTime``) rather than a duration."""
    low = column.lower()
    return low.endswith((".stopped", ".offsettime", "offset", "_end", ".end", "stop", "endtime", "end_time"))


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
    end_time = columns.duration is not None and is_end_time_column(columns.duration)
    out: list[tuple[float, str, str]] = []
    bad = 0
    for i, row in enumerate(log.rows, start=1):
        raw = row.get(columns.onset, "")
        if raw.strip().lower() in MISSING_VALUES:
            continue
        onset = parse_number(raw)
        if onset is None:
            bad += 1
            if findings is not None and bad <= _MAX_ROW_FINDINGS:
                findings.append(Finding(level=Level.WARNING, file=log.file,
                                        message=f"row {i}: onset {raw!r} in '{columns.onset}' is not a number; "
                                                "event skipped"))
            continue
        duration = "n/a"
        if columns.duration:
            d = parse_number(row.get(columns.duration))
            if d is not None:
                d = d - onset if end_time else d
                duration = _fmt(max(d, 0.0) * scale)
        trial_type = "n/a"
        if columns.trial_type:
            tt = (row.get(columns.trial_type) or "").strip()
            if tt and tt.lower() not in MISSING_VALUES:
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
