"""Cross-series planning: run numbers, field-map targets, event-log to run mapping, BIDS names.

:func:`tessera.bids.infer_series` decides each series alone; this module decides what needs
the whole session: ``run-N`` among repeats, ``IntendedFor`` of field maps, duplicates, and which
functional run each task log belongs to. Every decision adds a readable message.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence

from tessera.bids.model import EventLogEntry, Finding, Level, Plan, SeriesEntry

# Entities that, with sub/ses/datatype/suffix, make two series "the same scan" (repeats get run-N).
_RUN_KEY_ENTITIES = ("task", "acq", "ce", "rec", "dir", "echo", "part")


def _order(entry: SeriesEntry) -> tuple[str, int, str]:
    return (entry.acquisition_time or "99", entry.series_number, entry.series_id)


def _included(series: list[SeriesEntry]) -> list[SeriesEntry]:
    return [s for s in series if not s.plan.exclude and s.plan.datatype and s.plan.suffix]


def assign_runs(series: list[SeriesEntry]) -> None:
    """Number repeats of the same scan ``run-1..n`` in acquisition order (no run entity when unique).

    An SBRef takes the run of the BOLD/DWI series it precedes, so the pair keeps matching names.
    """
    groups: dict[tuple[object, ...], list[SeriesEntry]] = defaultdict(list)
    for s in _included(series):
        key = (s.subject, s.session, s.plan.datatype, s.plan.suffix,
               tuple((e, s.plan.entities.get(e, "")) for e in _RUN_KEY_ENTITIES))
        groups[key].append(s)
    for members in groups.values():
        members.sort(key=_order)
        for index, s in enumerate(members, start=1):
            if len(members) > 1:
                s.plan.entities["run"] = str(index)
                s.plan.messages.append(f"run-{index}: repeat {index} of {len(members)} of this scan in the session")
            else:
                s.plan.entities.pop("run", None)


def assign_intended_for(series: list[SeriesEntry]) -> None:
    """Field maps correct the functional and diffusion runs of their session (ezBIDS' default);
    an ``m0scan`` calibrates the session's ASL runs.

    A ``dir``-labelled EPI field map whose ``acq`` names a datatype (``acq-dwi``/``acq-func``)
    only targets that datatype. Edits may narrow the list.
    """
    by_session: dict[tuple[str, str], list[SeriesEntry]] = defaultdict(list)
    for s in _included(series):
        by_session[(s.subject, s.session)].append(s)
    for members in by_session.values():
        targets = [t for t in members if t.plan.datatype in ("func", "dwi") and t.plan.suffix in ("bold", "dwi")]
        for fmap in (s for s in members if s.plan.datatype == "fmap"):
            wanted = fmap.plan.entities.get("acq", "")
            chosen = [t for t in targets if wanted not in ("func", "dwi") or t.plan.datatype == wanted]
            fmap.intended_for = [t.series_id for t in sorted(chosen, key=_order)]
            if chosen:
                fmap.plan.messages.append(
                    f"IntendedFor: {len(chosen)} {'/'.join(sorted({t.plan.datatype or '' for t in chosen}))}"
                    " run(s) of the same session")
        # An M0 scan calibrates the ASL runs of its session (BIDS requires IntendedFor on m0scan).
        asl_runs = sorted((t for t in members if t.plan.datatype == "perf" and t.plan.suffix == "asl"), key=_order)
        for m0 in (s for s in members if s.plan.datatype == "perf" and s.plan.suffix == "m0scan"):
            m0.intended_for = [t.series_id for t in asl_runs]
            if asl_runs:
                m0.plan.messages.append(f"IntendedFor: {len(asl_runs)} ASL run(s) of the same session")


def flag_duplicates(plan: Plan, name_of: Callable[[SeriesEntry], str]) -> None:
    """Keep the last acquisition of series that would get the same BIDS name; exclude earlier ones.

    A re-acquired scan (same protocol run again after motion) is the usual cause; the earlier
    one stays in the plan, excluded with the reason, so a person can swap them in an edit.
    """
    seen: dict[str, list[SeriesEntry]] = defaultdict(list)
    for s in _included(plan.series):
        seen[name_of(s)].append(s)
    for name, members in seen.items():
        if len(members) < 2:
            continue
        members.sort(key=_order)
        for s in members[:-1]:
            s.plan.exclude = True
            s.plan.messages.insert(0, f"series {s.series_number} '{s.series_description}' excluded:"
                                      f" duplicate of series {members[-1].series_number} for {name} (kept the later)")
            plan.findings.append(Finding(level=Level.WARNING, series_id=s.series_id,
                                         message=f"duplicate of {members[-1].series_id} as {name}; excluded"))


def _squash(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _candidate_runs(
    file: str, runs: list[SeriesEntry], hints: Mapping[str, Sequence[str]]
) -> tuple[list[SeriesEntry], list[str]]:
    """The runs ``file``'s path points to (task, then subject, session, run number), and why."""
    path = _squash(file)
    run_token = re.search(r"run[-_ ]?0*(\d+)", file, flags=re.IGNORECASE)
    candidates = [s for s in runs if _squash(s.plan.entities.get("task", "\0")) in path]
    evidence = ["task name in the file name"]
    checks: list[tuple[Callable[[SeriesEntry], bool], str]] = [
        (lambda s: f"sub{_squash(s.subject)}" in path
         or any(h and _squash(h) in path for h in hints.get(s.series_id, ())), "subject in the path"),
        (lambda s: bool(s.session) and f"ses{_squash(s.session)}" in path, "session in the path"),
    ]
    if run_token:
        number = run_token.group(1)
        checks.append((lambda s: s.plan.entities.get("run", "1") == number, f"run {number} in the file name"))
    for keep, why in checks:
        chosen = [s for s in candidates if keep(s)]
        if chosen and len(chosen) < len(candidates):
            candidates = chosen
            evidence.append(why)
    return candidates, evidence


def map_event_logs(
    plan: Plan, logs: list[EventLogEntry], hints: Mapping[str, Sequence[str]] | None = None
) -> list[EventLogEntry]:
    """Assign each log to a BOLD run by what its path says, then by acquisition order.

    A run is a candidate when its task name appears in the log's path. Among candidates, the
    path narrows the choice by the subject (``sub01``, or any of the series' ``hints``: patient
    ID, name, study date, which stimulus PCs often put in folder names), the session and a
    ``run<N>`` token. The earliest unmatched candidate wins; unmatched logs stay unmapped with
    a message, for a person to map in an edit.
    """
    hints = hints or {}
    bold = [s for s in _included(plan.series) if s.plan.datatype == "func" and s.plan.suffix == "bold"]
    remaining = sorted(bold, key=lambda s: (s.subject, s.session, *_order(s)))
    for log in sorted(logs, key=lambda entry: entry.file):
        candidates, evidence = _candidate_runs(log.file, remaining, hints)
        if not candidates:
            log.messages.append("no BOLD run with a task name found in this log's path; map it in an edit")
            continue
        run = candidates[0]
        remaining.remove(run)
        log.series_id = run.series_id
        log.confidence = min(log.confidence or 1.0, 0.95 if len(candidates) == 1 else 0.6)
        log.messages.insert(0, f"{log.file} -> {run.bids_name or run.series_id}: " + "; ".join(evidence)
                               + ("" if len(candidates) == 1 else f"; earliest of {len(candidates)} candidate runs"))
    return logs
