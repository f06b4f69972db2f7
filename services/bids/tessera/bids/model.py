"""The plan: what the service inferred for an upload, what a person may edit, what Finalize writes.

Pydantic models, stored as JSON in the artifact store (``bids/uploads/<upload id>/plan.json``)
and mirrored in ``protos/tessera/v1/bids.proto`` for clients.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field

# BIDS entity order in file names (BIDS 1.10 appendix "Entity table"), for the entities we infer.
ENTITY_ORDER = ("sub", "ses", "task", "acq", "ce", "rec", "dir", "run", "echo", "part")
DATATYPES = ("anat", "func", "dwi", "fmap", "perf")
SUFFIXES: dict[str, tuple[str, ...]] = {
    "anat": ("T1w", "T2w", "FLAIR", "T2starw", "PDw"),
    "func": ("bold", "sbref"),
    "dwi": ("dwi", "sbref"),
    "fmap": ("epi", "phasediff", "magnitude1", "magnitude2", "phase1", "phase2"),
    "perf": ("asl", "m0scan"),
}


class Level(StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class Finding(BaseModel):
    """A problem or note about one input file or series, readable by a person."""

    level: Level
    file: str = Field("", description="Archive-relative path the finding is about, if any.")
    series_id: str = Field("", description="Series the finding is about, if any.")
    message: str


class SeriesPlan(BaseModel):
    """What :func:`tessera.bids.infer_series` decides for one series.

    ``entities`` holds the entities inferred from the series itself (task, acq, ce, dir, echo,
    part); ``sub``, ``ses`` and ``run`` are assigned by the planner across series.
    """

    datatype: str | None = None
    suffix: str | None = None
    entities: dict[str, str] = Field(default_factory=dict)
    exclude: bool = False
    confidence: float = Field(0.0, ge=0.0, le=1.0)
    messages: list[str] = Field(default_factory=list, description="Why, in words: first the decision, then evidence.")


class SeriesEntry(BaseModel):
    """One series of the upload and its BIDS mapping."""

    series_id: str = Field(description="Stable id within the upload: '<study key>-<series number>'.")
    subject: str = Field(description="BIDS label without 'sub-'.")
    session: str = Field("", description="BIDS label without 'ses-'; empty for single-session subjects.")
    series_number: int = 0
    series_description: str = ""
    protocol_name: str = ""
    acquisition_time: str = Field("", description="HH:MM:SS(.ffffff) from the headers, for ordering and scans.tsv.")
    files: list[str] = Field(default_factory=list, description="Archive-relative source files.")
    converted: list[str] = Field(default_factory=list, description="Converted files (.nii.gz, .json, .bval, .bvec), "
                                 "relative to the upload's conversion prefix.")
    metadata: dict[str, object] = Field(default_factory=dict, description="dcm2niix sidecar + NumVolumes, BValues.")
    plan: SeriesPlan = Field(default_factory=lambda: SeriesPlan.model_validate({}))
    intended_for: list[str] = Field(default_factory=list, description="series_ids a field map corrects.")
    bids_name: str = Field("", description="e.g. 'sub-01/ses-01/anat/sub-01_ses-01_T1w' (no extension).")


class EventColumns(BaseModel):
    """Which column of a log holds each events.tsv column, and in what unit."""

    onset: str
    duration: str | None = None
    trial_type: str | None = None
    unit: str = Field("s", pattern="^(s|ms)$")


class EventLogEntry(BaseModel):
    """One task-event log and the functional run it belongs to."""

    file: str
    format: str = Field("", description="'psychopy', 'eprime' or 'table'.")
    series_id: str = Field("", description="The func run it maps to; empty when unmapped.")
    columns: EventColumns | None = None
    run_start: float = Field(0.0, description="Time (in the log's unit) that is t=0 of the run.")
    confidence: float = Field(0.0, ge=0.0, le=1.0)
    messages: list[str] = Field(default_factory=list)


class Plan(BaseModel):
    upload_id: str
    version: int = Field(1, description="Incremented by every accepted edit.")
    dataset_name: str = "Tessera dataset"
    series: list[SeriesEntry] = Field(default_factory=list)
    event_logs: list[EventLogEntry] = Field(default_factory=list)
    findings: list[Finding] = Field(default_factory=list)

    def series_by_id(self) -> dict[str, SeriesEntry]:
        return {s.series_id: s for s in self.series}
