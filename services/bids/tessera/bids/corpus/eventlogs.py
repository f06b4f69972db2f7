"""Task-event logs as stimulus software writes them, for the n-back runs.

* PsychoPy (Builder) CSV: one row per routine/trial; times in seconds since the experiment clock
  started; a 'trigger' routine waits for the scanner's '5' key and the experiment code stores the
  trigger time in ``scanner_trigger`` (seconds).
* E-Prime 2/3 E-DataAid "E-Prime text" export: a first line naming the .edat2 file, then a
  tab-separated table; times in milliseconds since E-Prime started; ``WaitForScanner.RTTime`` is
  the trigger; fixation rows (``Procedure`` = FixProc) have no Stimulus timing. E-DataAid exports
  in "Unicode" (UTF-16 LE with BOM) by default, so that is the encoding used.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tessera.bids.corpus.manifest import EventLogTruth

STIM_S = 0.5  # stimulus duration, s
SOA_S = 2.0  # stimulus onset asynchrony, s
BLOCK = 4  # trials per n-back block


@dataclass(frozen=True)
class Trial:
    """One stimulus, timed in seconds from the run's first volume (the scanner trigger)."""

    onset: float
    duration: float
    condition: str  # '0back' | '2back'
    stimulus: str
    correct_key: str
    key: str
    rt: float | None


def nback_trials(run_seconds: float, rng: np.random.Generator) -> list[Trial]:
    """Alternating 0-back / 2-back blocks filling ``run_seconds`` (last trial ends >= 1 s before the end)."""
    trials: list[Trial] = []
    letters: list[str] = []
    t, i = 1.0, 0
    while t + STIM_S <= run_seconds - 1.0:
        cond = "0back" if (i // BLOCK) % 2 == 0 else "2back"
        target = cond == "2back" and len(letters) >= 2 and rng.random() < 0.35
        letter = letters[-2] if target else str(rng.choice(list("BCDFGHJKLMNPQRSTVWXZ")))
        is_target = target or (cond == "0back" and letter == "X")
        correct = "1" if is_target else "2"
        key = correct if rng.random() < 0.9 else ("2" if correct == "1" else "1")
        rt = round(float(rng.uniform(0.35, 0.9)), 4)
        trials.append(Trial(round(t + float(rng.uniform(0, 0.02)), 4), STIM_S, cond, letter, correct, key, rt))
        letters.append(letter)
        t += SOA_S
        i += 1
    return trials


def write_psychopy(path: Path, trials: list[Trial], *, participant: str, session: str, run: int, date: dt.datetime,
                   trigger_s: float) -> EventLogTruth:
    """Write a PsychoPy Builder CSV; ``trigger_s`` = scanner trigger on the experiment clock (s)."""
    cols = ["trials.thisRepN", "trials.thisTrialN", "trials.thisN", "trials.thisIndex", "condition", "stimulus",
            "corrAns", "trigger.started", "trigger.stopped", "trigger.keys", "scanner_trigger", "stim.started",
            "stim.stopped", "duration", "key_resp.keys", "key_resp.corr", "key_resp.rt", "participant", "session",
            "run", "date", "expName", "psychopyVersion", "frameRate"]
    info = {"participant": participant, "session": session, "run": str(run),
            "date": date.strftime("%Y-%m-%d_%Hh%M.%S.%f")[:-3],
            "expName": "nback", "psychopyVersion": "2023.2.3", "frameRate": "60.0"}
    # The trigger routine's row: it started 3.2 s before the scanner's first "5" ended it.
    rows: list[dict[str, str]] = [{"trigger.started": f"{trigger_s - 3.2117:.4f}",
                                   "trigger.stopped": f"{trigger_s:.4f}", "trigger.keys": "5",
                                   "scanner_trigger": f"{trigger_s:.4f}", **info}]
    for n, tr in enumerate(trials):
        start = trigger_s + tr.onset
        rows.append({"trials.thisRepN": "0", "trials.thisTrialN": str(n), "trials.thisN": str(n),
                     "trials.thisIndex": str(n), "condition": tr.condition, "stimulus": tr.stimulus,
                     "corrAns": tr.correct_key, "stim.started": f"{start:.4f}",
                     "stim.stopped": f"{start + tr.duration:.4f}", "duration": f"{tr.duration}",
                     "key_resp.keys": tr.key, "key_resp.corr": str(int(tr.key == tr.correct_key)),
                     "key_resp.rt": "" if tr.rt is None else f"{tr.rt}", **info})
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=cols, restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_text(buf.getvalue(), encoding="utf-8")
    return _truth(path, "psychopy", "utf-8", run, "stim.started", "duration", "condition", "s", trigger_s, trials)


def write_eprime(path: Path, trials: list[Trial], *, subject: int, session: int, run: int,
                 trigger_ms: int) -> EventLogTruth:
    """Write an E-DataAid text export (UTF-16); ``trigger_ms`` = scanner trigger on E-Prime's clock (ms)."""
    cols = ["ExperimentName", "Subject", "Session", "Run", "Display.RefreshRate", "Block", "Trial", "Procedure",
            "Condition", "Stimulus", "CorrectResponse", "WaitForScanner.RTTime", "Fixation.OnsetTime",
            "Stimulus.OnsetTime", "Stimulus.OnsetDelay", "Stimulus.Duration", "Stimulus.OffsetTime", "Stimulus.RESP",
            "Stimulus.RT", "Stimulus.ACC"]
    common = {"ExperimentName": f"nback_run{run}", "Subject": str(subject), "Session": str(session), "Run": str(run),
              "Display.RefreshRate": "60.004", "WaitForScanner.RTTime": str(trigger_ms)}
    lines = ["\t".join(cols)]
    for n, tr in enumerate(trials):
        block = n // BLOCK + 1
        if n % BLOCK == 0:  # a fixation row opens each block: no Stimulus timing, parsers must skip it
            fix = {**common, "Block": str(block), "Procedure": "FixProc",
                   "Fixation.OnsetTime": str(trigger_ms + int(tr.onset * 1000) - 500)}
            lines.append("\t".join(fix.get(c, "") for c in cols))
        onset = trigger_ms + round(tr.onset * 1000)
        row = {**common, "Block": str(block), "Trial": str(n + 1), "Procedure": "TrialProc", "Condition": tr.condition,
               "Stimulus": tr.stimulus, "CorrectResponse": tr.correct_key, "Stimulus.OnsetTime": str(onset),
               "Stimulus.OnsetDelay": "1", "Stimulus.Duration": str(int(tr.duration * 1000)),
               "Stimulus.OffsetTime": str(onset + int(tr.duration * 1000)), "Stimulus.RESP": tr.key,
               "Stimulus.RT": "0" if tr.rt is None else str(int(tr.rt * 1000)),
               "Stimulus.ACC": str(int(tr.key == tr.correct_key))}
        lines.append("\t".join(row.get(c, "") for c in cols))
    header = f"C:\\Users\\fmri\\Desktop\\nback\\nback_run{run}-{subject}-{session}.edat2"
    path.write_text("\r\n".join([header, *lines]) + "\r\n", encoding="utf-16")  # BOM + UTF-16 LE, as E-DataAid writes
    truth = _truth(path, "eprime", "utf-16", run, "Stimulus.OnsetTime", "Stimulus.Duration", "Condition", "ms",
                   float(trigger_ms), trials)
    # The log rounds onsets to whole milliseconds.
    truth.onsets_s = [round(round(t.onset * 1000) / 1000.0, 3) for t in trials]
    return truth


def _truth(path: Path, fmt: str, encoding: str, run: int, onset: str, duration: str, trial_type: str, unit: str,
           run_start: float, trials: list[Trial]) -> EventLogTruth:
    return EventLogTruth(subject="", session="", path=str(path), format=fmt, encoding=encoding, task="nback", run=run,
                         series_number=0, onset=onset, duration=duration, trial_type=trial_type, unit=unit,
                         run_start=run_start, n_trials=len(trials), onsets_s=[t.onset for t in trials])
