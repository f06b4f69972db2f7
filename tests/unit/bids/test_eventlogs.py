"""Event logs: format detection, column proposal, run start, events.tsv in seconds from run start."""

from __future__ import annotations

from pathlib import Path

from tessera.bids.event_columns import propose_columns
from tessera.bids.eventlogs import (
    looks_like_log,
    read_event_log,
    render_events_tsv,
    to_events_tsv,
)
from tessera.bids.model import EventColumns, EventLogEntry, Finding, Level

PSYCHOPY = """\
trigger.started,trigger.stopped,key_resp_trigger.rt,stim.started,stim.stopped,condition,trials.thisN,participant,psychopyVersion
2.0000,10.5000,8.5,,,,,P01,2023.2.3
,,,12.5000,13.5000,face,0,P01,2023.2.3
,,,15.0166,16.0166,house,1,P01,2023.2.3
,,,18.5,19.25,face,2,P01,2023.2.3
"""

EPRIME_TXT = """\
*** Header Start ***
VersionPersist: 1
LevelName: Session
Experiment: faces
Subject: 1
*** Header End ***
Level: 1
*** LogFrame Start ***
Procedure: SessionProc
WaitForScanner.RTTime: 15000
WaitForScanner.OnsetTime: 9000
*** LogFrame End ***
\tLevel: 2
\t*** LogFrame Start ***
\tProcedure: TrialProc
\tCondition: happy
\tStimulus.OnsetTime: 17000
\tStimulus.Duration: 1500
\t*** LogFrame End ***
\tLevel: 2
\t*** LogFrame Start ***
\tProcedure: TrialProc
\tCondition: sad
\tStimulus.OnsetTime: 20250
\tStimulus.Duration: 1500
\t*** LogFrame End ***
"""


def _write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def test_psychopy_csv_with_trigger_routine(tmp_path: Path) -> None:
    path = _write(tmp_path, "sub01_task.csv", PSYCHOPY)
    log = read_event_log(path, "logs/sub01_task.csv")
    assert log.format == "psychopy" and len(log.rows) == 4 and log.file == "logs/sub01_task.csv"
    prop = propose_columns(log)
    assert prop.columns == EventColumns(onset="stim.started", duration="stim.stopped", trial_type="condition", unit="s")
    # the routine ends on the trigger key: 'stopped' beats 'started'; 'key_resp_trigger.rt' is a reaction time
    assert prop.run_start_column == "trigger.stopped" and prop.run_start == 10.5
    assert prop.confidence > 0.6
    assert any("run start" in m for m in prop.messages)
    tsv = to_events_tsv(log, prop.columns, prop.run_start)
    assert tsv == "onset\tduration\ttrial_type\n2\t1\tface\n4.5166\t1\thouse\n8\t0.75\tface\n"


def test_eprime_txt_utf16_with_bom(tmp_path: Path) -> None:
    path = _write(tmp_path, "faces-1-1.txt", EPRIME_TXT, encoding="utf-16")  # Python writes a BOM
    assert path.read_bytes()[:2] == b"\xff\xfe"
    assert looks_like_log(path)
    log = read_event_log(path)
    assert log.format == "eprime" and len(log.rows) == 2
    prop = propose_columns(log)
    assert prop.columns == EventColumns(onset="Stimulus.OnsetTime", duration="Stimulus.Duration",
                                        trial_type="Condition", unit="ms")
    assert prop.run_start_column == "WaitForScanner.RTTime" and prop.run_start == 15000
    tsv = to_events_tsv(log, prop.columns, prop.run_start)
    assert tsv == "onset\tduration\ttrial_type\n2\t1.5\thappy\n5.25\t1.5\tsad\n"


def test_eprime_edataaid_tab_export(tmp_path: Path) -> None:
    text = ("C:\\data\\faces-1-1.edat2\n"
            "ExperimentName\tSubject\tProcedure\tTrialType\tScanner.OnsetTime\tFace.OnsetTime\tFace.OffsetTime\n"
            "faces\t1\tTrialProc\tA\t4000\t6000\t7000\n"
            "faces\t1\tTrialProc\tB\t\t9000\t9500\n")
    path = _write(tmp_path, "export.txt", text, encoding="utf-16-le")  # no BOM: detected from NUL bytes
    log = read_event_log(path)
    assert log.format == "eprime" and log.columns[0] == "ExperimentName" and len(log.rows) == 2
    prop = propose_columns(log)
    assert prop.columns is not None
    assert (prop.columns.onset, prop.columns.duration, prop.columns.trial_type, prop.columns.unit) == \
        ("Face.OnsetTime", "Face.OffsetTime", "TrialType", "ms")
    assert prop.run_start == 4000
    assert to_events_tsv(log, prop.columns, prop.run_start) == "onset\tduration\ttrial_type\n2\t1\tA\n5\t0.5\tB\n"


def test_generic_table_with_bad_onsets_reports_rows(tmp_path: Path) -> None:
    path = _write(tmp_path, "events.tsv", "onset\tduration\ttrial_type\n0.5\t1\tgo\nabc\t1\tstop\n"
                                          "\t\t\n3.25\tn/a\tgo\n4\t1\t\n")
    log = read_event_log(path, "logs/events.tsv")
    assert log.format == "table" and len(log.rows) == 4
    prop = propose_columns(log)
    assert prop.columns == EventColumns(onset="onset", duration="duration", trial_type="trial_type", unit="s")
    assert any("no trigger column" in m for m in prop.messages)
    findings: list[Finding] = []
    tsv = to_events_tsv(log, prop.columns, 0.0, findings)
    assert tsv == "onset\tduration\ttrial_type\n0.5\t1\tgo\n3.25\tn/a\tgo\n4\t1\tn/a\n"
    (bad,) = findings
    assert bad.level == Level.WARNING and bad.file == "logs/events.tsv" and "row 2" in bad.message
    assert "'abc'" in bad.message


def test_millisecond_magnitudes_without_unit_in_name(tmp_path: Path) -> None:
    path = _write(tmp_path, "log.csv", "start,cond\n12000,a\n14500,b\n17000,a\n")
    prop = propose_columns(read_event_log(path))
    assert prop.columns is not None and prop.columns.onset == "start" and prop.columns.unit == "ms"
    assert prop.columns.trial_type == "cond"


def test_no_onset_column_is_a_message_not_a_crash(tmp_path: Path) -> None:
    path = _write(tmp_path, "answers.csv", "question,answer\nage,31\nhand,right\n")
    prop = propose_columns(read_event_log(path))
    assert prop.columns is None and prop.confidence == 0.0 and "no onset column" in prop.messages[0]


def test_not_a_log(tmp_path: Path) -> None:
    readme = _write(tmp_path, "README.txt", "Scanned on a Tuesday.\nAll good.\n")
    assert not looks_like_log(readme)
    log = read_event_log(readme)
    assert log.rows == [] and log.findings[0].level == Level.ERROR and log.findings[0].file == "README.txt"
    binary = tmp_path / "data.txt"
    binary.write_bytes(bytes(range(256)) * 4)
    assert not looks_like_log(binary)
    header_only = _write(tmp_path, "empty.csv", "onset,duration\n")
    assert read_event_log(header_only).findings  # no crash, a finding


def test_many_bad_rows_are_summarised(tmp_path: Path) -> None:
    rows = "".join(f"x{i},1\n" for i in range(30))
    path = _write(tmp_path, "bad.csv", "onset,duration\n" + rows + "1,1\n")
    findings: list[Finding] = []
    tsv = to_events_tsv(read_event_log(path), EventColumns(onset="onset", duration="duration"), 0.0, findings)
    assert tsv.splitlines()[1:] == ["1\t1\tn/a"]
    assert len(findings) == 21 and "10 more rows" in findings[-1].message


def test_render_for_plan_entry(tmp_path: Path) -> None:
    path = _write(tmp_path, "sub01_task.csv", PSYCHOPY)
    entry = EventLogEntry(file="logs/sub01_task.csv", format="psychopy", series_id="x-3",
                          columns=EventColumns(onset="stim.started", trial_type="condition"), run_start=12.5)
    assert render_events_tsv(entry, path) == "onset\tduration\ttrial_type\n0\tn/a\tface\n2.5166\tn/a\thouse\n" \
                                             "6\tn/a\tface\n"


def test_corpus_logs_match_their_ground_truth(tmp_path: Path) -> None:
    """The corpus generator's PsychoPy and E-Prime logs: the proposal recovers the mapping it wrote."""
    import datetime as dt

    import numpy as np

    from tessera.bids.corpus.eventlogs import nback_trials, write_eprime, write_psychopy

    trials = nback_trials(60.0, np.random.default_rng(3))
    truths = [
        write_psychopy(tmp_path / "p.csv", trials, participant="01", session="1", run=1,
                       date=dt.datetime(2024, 1, 1, 9), trigger_s=17.25),
        write_eprime(tmp_path / "e.txt", trials, subject=1, session=1, run=2, trigger_ms=40123),
    ]
    for truth in truths:
        log = read_event_log(Path(truth.path))
        assert log.format == truth.format
        prop = propose_columns(log)
        assert prop.columns == EventColumns(onset=truth.onset, duration=truth.duration,
                                            trial_type=truth.trial_type, unit=truth.unit), truth.format
        assert prop.run_start == truth.run_start
        findings: list[Finding] = []
        rows = to_events_tsv(log, prop.columns, prop.run_start, findings).splitlines()[1:]
        assert findings == []
        assert [float(r.split("\t")[0]) for r in rows] == truth.onsets_s
        assert {r.split("\t")[2] for r in rows} == {"0back", "2back"}
