"""The bids jobs: ``bids.ingest`` (archive -> converted series + plan) and ``bids.finalize``
(plan -> validated dataset in S3 + ``tessera.bids.dataset.ready``), and the ingest event handler.

The ingest job's id is the upload id. Intermediate state lives in :class:`UploadArea`, so a job
resumed after a restart, or a finalize on another replica, starts from what is stored.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import uuid
from pathlib import Path
from typing import Any

from tessera.bids import naming
from tessera.bids.archive import ExtractLimits
from tessera.bids.model import Plan
from tessera.bids.pipeline import inspect_and_plan, write_and_validate
from tessera.bids.publish import DatasetManifest, publish_dataset
from tessera.bids.settings import BidsSettings
from tessera.bids.store import UploadArea
from tessera.core.artifacts.factory import open_uri
from tessera.core.errors import FailedPrecondition, FieldViolation, InvalidArgument
from tessera.core.events import Event, artifact_ref_json, topic_name
from tessera.core.jobs import JobContext
from tessera.core.runtime import ServiceRuntime
from tessera.v1 import common_pb2

INGEST_REQUESTED = topic_name("bids", "ingest.requested")
DATASET_READY = topic_name("bids", "dataset.ready")
DATASET_READY_TYPE = "tessera.bids.dataset.ready"
INGEST, FINALIZE = "bids.ingest", "bids.finalize"


def dataset_prefix(upload_id: str) -> str:
    return f"datasets/bids/{upload_id}"


class BidsWorker:
    def __init__(self, runtime: ServiceRuntime):
        self.runtime = runtime
        self.settings: BidsSettings = runtime.settings  # type: ignore[assignment]
        runtime.jobs.register(INGEST, self.ingest)
        runtime.jobs.register(FINALIZE, self.finalize)

    def area(self, upload_id: str) -> UploadArea:
        return UploadArea(self.runtime.store, upload_id)

    def load_plan(self, upload_id: str) -> Plan:
        return self.area(upload_id).load_plan()

    def save_plan(self, plan: Plan) -> None:
        self.area(plan.upload_id).save_plan(plan)

    # starting jobs ---------------------------------------------------------------------------
    def start_ingest(self, archive: common_pb2.ArtifactRef, *, auto_finalize: bool = False, dataset_name: str = "",
                     keep_fields: list[str] | None = None, upload_id: str | None = None) -> common_pb2.Job:
        upload_id = upload_id or f"up-{uuid.uuid4().hex[:24]}"
        return self.runtime.jobs.submit(
            INGEST, [archive], job_id=upload_id,
            labels={"auto_finalize": "true" if auto_finalize else "false", "dataset_name": dataset_name,
                    "keep_fields": json.dumps(sorted(keep_fields or []))},
        )

    def start_finalize(self, upload_id: str, *, keep_fields: list[str] | None = None) -> common_pb2.Job:
        """Check the plan now (so a client gets field errors at once), then run the finalize job."""
        plan = self.load_plan(upload_id)
        if not any(not s.plan.exclude for s in plan.series):
            raise InvalidArgument.field("upload_id", f"plan {upload_id} has no series to write; see its findings")
        problems = naming.check_plan(plan)
        if problems:
            raise InvalidArgument(problems, f"plan {upload_id} v{plan.version} needs edits before finalize: "
                                  + "; ".join(f"{p.field}: {p.description}" for p in problems[:5]))
        return self.runtime.jobs.submit(
            FINALIZE, job_id=f"{upload_id}-final-v{plan.version}",
            labels={"upload_id": upload_id, "keep_fields": json.dumps(sorted(keep_fields or []))},
        )

    def on_ingest_requested(self, event: Event) -> None:
        """``tessera.bids.ingest.requested``: ``{"archive": ArtifactRef, "auto_finalize": true, ...}``.

        The upload id derives from the event id, so a replayed event finds its job instead of
        starting another. Bad data raises InvalidArgument: the event goes to retry, then the DLQ.
        """
        data: Any = event.get_data()
        archive = data.get("archive") if isinstance(data, dict) else None
        problems = []
        if not isinstance(archive, dict) or not archive.get("uri") or not archive.get("sha256"):
            problems.append(FieldViolation("archive", "must be an artifact ref with uri and sha256"))
        if isinstance(data, dict) and not isinstance(data.get("auto_finalize", True), bool):
            problems.append(FieldViolation("auto_finalize", "must be true or false"))
        if problems:
            raise InvalidArgument(problems)
        assert isinstance(data, dict) and isinstance(archive, dict)
        ref = common_pb2.ArtifactRef(uri=archive["uri"], sha256=archive["sha256"], size=int(archive.get("size", 0)),
                                     media_type=str(archive.get("media_type", "")))
        self.start_ingest(ref, auto_finalize=data.get("auto_finalize", True),
                          dataset_name=str(data.get("dataset_name", "")),
                          keep_fields=[str(f) for f in data.get("keep_fields", [])],
                          upload_id="ev-" + hashlib.sha256(event.get_id().encode()).hexdigest()[:24])

    # jobs ---------------------------------------------------------------------------------------
    def ingest(self, ctx: JobContext) -> list[common_pb2.ArtifactRef]:
        ref, upload_id = ctx.job.inputs[0], ctx.job_id
        area = self.area(upload_id)
        with tempfile.TemporaryDirectory(prefix=f"bids-{upload_id}-") as tmp:
            work = Path(tmp)
            archive = work / "upload.archive"
            ctx.progress(0.01, f"downloading {ref.uri}")
            with open(archive, "wb") as fh:
                for chunk in open_uri(ref.uri, self.settings, expected_sha256=ref.sha256):
                    fh.write(chunk)
            local = inspect_and_plan(
                archive, work, upload_id=upload_id, dataset_name=ctx.job.labels.get("dataset_name", ""),
                limits=ExtractLimits.from_settings(self.settings),
                convert_timeout_s=self.settings.bids_convert_timeout_s,
                progress=lambda f, msg: ctx.progress(0.02 + 0.8 * f, msg),
            )
            ctx.progress(0.85, "storing converted series and logs")
            area.put_tree(local.converted_root, "converted", sorted(p for p in local.converted_root.rglob("*")
                                                                     if p.is_file()))
            area.put_tree(local.logs_root, "logs", sorted(p for p in local.logs_root.rglob("*") if p.is_file()))
            area.save_plan(local.plan)
        plan_info = self.runtime.store.stat(f"{area.prefix}/plan.json")
        results = [plan_info.to_proto()]
        if ctx.job.labels.get("auto_finalize") == "true":
            results += self._finalize(ctx, upload_id, json.loads(ctx.job.labels.get("keep_fields", "[]")), start=0.9)
        return results

    def finalize(self, ctx: JobContext) -> list[common_pb2.ArtifactRef]:
        return self._finalize(ctx, ctx.job.labels["upload_id"], json.loads(ctx.job.labels.get("keep_fields", "[]")))

    def _finalize(self, ctx: JobContext, upload_id: str, keep_fields: list[str], start: float = 0.0
                  ) -> list[common_pb2.ArtifactRef]:
        def step(fraction: float, message: str) -> None:
            ctx.progress(start + (1 - start) * fraction, message)

        area = self.area(upload_id)
        plan = area.load_plan()
        naming.require_valid(plan)
        with tempfile.TemporaryDirectory(prefix=f"bids-final-{upload_id}-") as tmp:
            work = Path(tmp)
            step(0.05, "fetching converted series")
            area.get_tree("converted", work / "converted")
            area.get_tree("logs", work / "logs")
            step(0.4, "writing and validating the dataset")
            summary, report = write_and_validate(
                plan, work / "converted", work / "logs", work / "dataset", keep_fields=frozenset(keep_fields),
                validator_timeout_s=self.settings.bids_validator_timeout_s,
            )
            if not report.ok:
                raise FailedPrecondition("BIDS validator found errors, nothing published: " + report.describe())
            step(0.7, f"publishing {len(summary.files)} files ({len(report.warnings)} validator warnings)")
            prefix = dataset_prefix(upload_id)
            manifest_ref = publish_dataset(work / "dataset", self.runtime.store, prefix, validation=report,
                                           anatomical=summary.anatomical)
        manifest = DatasetManifest.model_validate_json(self.runtime.store.get_bytes(f"{prefix}/manifest.json"))
        anatomical = []
        for path in manifest.anatomical:
            info = self.runtime.store.stat(manifest.key_of(path))
            anatomical.append({"path": path, **artifact_ref_json(info)})
        if self.runtime.publisher is not None:
            step(0.95, "announcing tessera.bids.dataset.ready")
            self.runtime.publisher.publish(
                DATASET_READY, DATASET_READY_TYPE,
                {"upload_id": upload_id, "plan_version": plan.version,
                 "dataset_uri": self.runtime.store.uri_for(prefix),
                 "manifest": artifact_ref_json(manifest_ref), "anatomical": anatomical,
                 "subjects": summary.subjects},
                key=upload_id, event_id=f"{upload_id}-v{plan.version}-ready", subject=upload_id,
            )
        return [manifest_ref]
