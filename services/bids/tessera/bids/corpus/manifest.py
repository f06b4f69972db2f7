"""Ground truth of a generated corpus, written next to it as ``manifest.json``.

Everything a test or benchmark needs to score an inferred BIDS plan: for every series the BIDS
mapping a careful person would choose (or why it is excluded), and for every task-event log the
run it belongs to and how to read its timing columns.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class OutputTruth:
    """One file dcm2niix writes for the series (multi-echo series give one per echo)."""

    echo: int  # 1-based EchoNumbers value; 0 when the series has one echo
    suffix: str
    entities: dict[str, str]


@dataclass
class SeriesTruth:
    """One DICOM series and its expected BIDS mapping.

    ``entities`` are the ones inferred from the series itself plus ``run`` where a protocol repeats
    a task (``sub``/``ses`` come from ``subject``/``session``). ``phase_encoding`` is the
    acquisition's direction ('AP', 'PA', 'RL', ...); ``expected_pe`` is the BIDS
    PhaseEncodingDirection dcm2niix should report from our headers ('' where the vendor's headers
    cannot carry the polarity, e.g. Philips).
    """

    subject: str
    session: str
    vendor: str
    patient_id: str
    study_uid: str
    series_uid: str
    series_number: int
    description: str
    protocol_name: str
    kind: str
    datatype: str | None
    suffix: str | None
    entities: dict[str, str]
    exclude: bool
    reason: str
    path: str  # folder of the series' files, relative to the corpus root
    n_files: int
    n_volumes: int
    echo_times: list[float]  # ms
    outputs: list[OutputTruth] = field(default_factory=list)
    phase_encoding: str = ""
    expected_pe: str = ""
    intended_for: list[int] = field(default_factory=list)  # series numbers a field map corrects
    bvals: list[float] = field(default_factory=list)
    asl_context: list[str] = field(default_factory=list)

    @property
    def bids_stem(self) -> str:
        """e.g. 'sub-01_ses-01_task-nback_run-1_bold' ('' for excluded series)."""
        if self.exclude or not self.suffix:
            return ""
        from tessera.bids.model import ENTITY_ORDER  # the project's entity order, one source of truth

        ents = {"sub": self.subject, "ses": self.session, **self.entities}
        parts = [f"{k}-{ents[k]}" for k in ENTITY_ORDER if ents.get(k)]
        return "_".join([*parts, self.suffix])


@dataclass
class EventLogTruth:
    """A stimulus-software log and how its columns map to events.tsv.

    ``run_start`` is the scanner trigger (t=0 of the run) in the log's ``unit``;
    events.tsv onset = (log onset - run_start) in seconds.
    """

    subject: str
    session: str
    path: str
    format: str  # 'psychopy' | 'eprime'
    encoding: str
    task: str
    run: int
    series_number: int  # the BOLD series this log belongs to
    onset: str
    duration: str
    trial_type: str
    unit: str  # 's' | 'ms'
    run_start: float
    n_trials: int
    onsets_s: list[float] = field(default_factory=list)  # expected events.tsv onsets (s from run start)


@dataclass
class CorpusManifest:
    root: str
    seed: int
    size: str
    vendors: list[str]
    series: list[SeriesTruth] = field(default_factory=list)
    event_logs: list[EventLogTruth] = field(default_factory=list)
    seconds: float = 0.0
    bytes: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=1))

    @classmethod
    def load(cls, path: Path) -> CorpusManifest:
        raw = json.loads(Path(path).read_text())
        series = [SeriesTruth(**{**s, "outputs": [OutputTruth(**o) for o in s["outputs"]]}) for s in raw.pop("series")]
        logs = [EventLogTruth(**e) for e in raw.pop("event_logs")]
        return cls(**raw, series=series, event_logs=logs)

    def sessions(self) -> list[tuple[str, str]]:
        """(subject, session) pairs in generation order."""
        return list(dict.fromkeys((s.subject, s.session) for s in self.series))
