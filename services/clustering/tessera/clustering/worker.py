"""The ``clustering.cluster`` job (a table from the artifact store -> labels, summary and PNGs in the
store, ``tessera.clustering.completed``) and the ``tessera.clustering.requested`` event handler."""

from __future__ import annotations

import hashlib
import time
from pathlib import PurePosixPath
from typing import Any

from google.protobuf import json_format

from tessera.core.errors import FieldViolation, InvalidArgument
from tessera.core.events import Event, artifact_ref_json, topic_name
from tessera.core.jobs import JobContext
from tessera.v1 import clustering_pb2, common_pb2

from .protocol import params_from_options, renamed
from .scadda import PHASES
from .service import ClusteringService

REQUESTED = topic_name("clustering", "requested")
COMPLETED = topic_name("clustering", "completed")
COMPLETED_TYPE = "tessera.clustering.completed"
CLUSTER = "clustering.cluster"

# Share of the job's progress bar before each phase: reading 0-5 %, the four SCADDA phases, then
# summary, plots and uploads. DTW dominates the run time on real data.
_PHASE_SPAN = {"kde": (0.05, 0.15), "neighbours": (0.15, 0.35), "dtw": (0.35, 0.80), "expansion": (0.80, 0.85)}
assert set(_PHASE_SPAN) == set(PHASES)


class PhaseProgress:
    """SCADDA's ``progress(phase, fraction)`` as job progress: monotone, at most one record per
    ``interval_s`` within a phase (every record is a write to the job store), always at phase ends."""

    def __init__(self, ctx: JobContext, interval_s: float):
        self.ctx = ctx
        self.interval_s = interval_s
        self.stage = 1
        self.phase = ""
        self.fraction = 0.0
        self.last = 0.0

    def __call__(self, phase: str, fraction: float) -> None:
        if phase == "kde" and fraction == 0.0 and self.phase:
            self.stage += 1  # a new stage starts again with the KDE (outlier_perc re-clustering)
        start, stop = _PHASE_SPAN[phase]
        now = time.monotonic()
        changed = phase != self.phase
        if not changed and fraction < 1.0 and now - self.last < self.interval_s:
            return
        self.phase, self.last = phase, now
        self.fraction = max(self.fraction, start + (stop - start) * fraction)
        stage = f"stage {self.stage} " if self.stage > 1 else ""
        self.ctx.progress(self.fraction, f"{stage}{phase} {100 * fraction:.0f}%")


class ClusteringWorker:
    def __init__(self, service: ClusteringService):
        self.service = service
        self.runtime = service.runtime
        self.runtime.jobs.register(CLUSTER, self.run)

    def start(self, request: clustering_pb2.ClusterJobRequest, job_id: str | None = None) -> common_pb2.Job:
        """Check the request (options, table ref and format) and submit the job."""
        problems: list[FieldViolation] = []
        try:
            params_from_options(request.options)
        except InvalidArgument as error:
            problems.extend(error.violations)
        fmt, table = "", request.table
        try:
            fmt, table = self.service.check_table_ref(request.table, request.format)
        except InvalidArgument as error:
            problems.extend(error.violations)
        if problems:
            raise InvalidArgument(problems)
        name = request.name or PurePosixPath(request.table.uri).name
        labels = {"format": fmt, "name": name,
                  "options": json_format.MessageToJson(request.options, indent=None, sort_keys=True)}
        return self.runtime.jobs.submit(CLUSTER, [table], job_id=job_id, labels=labels)

    def run(self, ctx: JobContext) -> list[common_pb2.ArtifactRef]:
        labels = ctx.job.labels
        options = json_format.Parse(labels["options"], clustering_pb2.ScaddaOptions())
        params = params_from_options(options)
        ref = ctx.job.inputs[0]
        ctx.progress(0.0, f"reading {ref.uri}")
        try:
            table = self.service.load_table(ref, labels["format"])
            ctx.progress(0.05, f"{len(table.ids)} points read")
            clustered = self.service.cluster(
                table, params, PhaseProgress(ctx, self.service.settings.clustering_progress_interval_s))
        except InvalidArgument as error:
            raise renamed(error, options=options) from None
        ctx.progress(0.9, f"{clustered.result.n_clusters} clusters: writing outputs")
        outputs = self.service.store_outputs(ctx.job_id, clustered, labels["name"])
        if self.runtime.publisher is not None:
            self.runtime.publisher.publish(COMPLETED, COMPLETED_TYPE, {
                "job_id": ctx.job_id, "name": labels["name"], "table": artifact_ref_json(ref),
                "labels": artifact_ref_json(outputs.labels), "summary": artifact_ref_json(outputs.summary),
                "map": artifact_ref_json(outputs.map), "series": artifact_ref_json(outputs.series),
                "points": len(table.ids), "clusters": clustered.result.n_clusters,
                "noise": int(clustered.result.noise.sum()),
            }, key=ctx.job_id, event_id=f"{ctx.job_id}-completed")
        return outputs.refs()

    def on_requested(self, event: Event) -> None:
        """``tessera.clustering.requested``: a ``ClusterJobRequest`` as JSON (proto field names), e.g.
        ``{"table": {"uri": "s3://...", "sha256": "..."}, "options": {"s_limit": 50, ...}}``.

        The job id derives from the event id, so a replayed event finds its job. Bad data raises
        ``InvalidArgument``: the event is retried, then dead-lettered with the reason in its headers.
        """
        data: Any = event.get_data()
        if not isinstance(data, dict):
            raise InvalidArgument.field("data", "must be a JSON object (a ClusterJobRequest)")
        try:
            request = json_format.ParseDict(data, clustering_pb2.ClusterJobRequest(), ignore_unknown_fields=False)
        except json_format.ParseError as error:
            raise InvalidArgument.field("data", f"not a ClusterJobRequest: {error}") from None
        self.start(request, job_id="clev-" + hashlib.sha256(event.get_id().encode()).hexdigest()[:24])
