"""Segmentation jobs: ``segmentation.train`` and ``segmentation.dataset`` (segment a BIDS dataset
announced on ``tessera.bids.dataset.ready`` into ``derivatives/tessera-seg/``), and the event handler."""

from __future__ import annotations

import hashlib
import re
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

from tessera.core.artifacts.factory import open_uri, store_for_uri
from tessera.core.errors import FieldViolation, InvalidArgument, TesseraError
from tessera.core.events import Event, artifact_ref_json, topic_name
from tessera.core.jobs import JobContext
from tessera.segmentation.derivatives import PIPELINE_NAME, SegmentedImage, write_derivatives
from tessera.segmentation.service import SegmentationService
from tessera.segmentation.trainer import CascadeTrainSpec, train_cascade
from tessera.segmentation.volumes import parse_nifti
from tessera.v1 import common_pb2, segmentation_pb2

DATASET_READY = topic_name("bids", "dataset.ready")
COMPLETED = topic_name("segmentation", "completed")
COMPLETED_TYPE = "tessera.segmentation.completed"
TRAIN, DATASET = "segmentation.train", "segmentation.dataset"
_CONTRAST = re.compile(r"^(?P<key>.+)_(?P<contrast>T1w|T2w|FLAIR)\.nii(\.gz)?$")


def group_subject_images(paths: list[str]) -> dict[str, dict[str, str]]:
    """Anatomical paths grouped per acquisition session: ``{key: {contrast: path}}`` where ``key``
    is the path without its suffix (``sub-01/ses-01/anat/sub-01_ses-01``)."""
    groups: dict[str, dict[str, str]] = defaultdict(dict)
    for path in sorted(paths):
        match = _CONTRAST.match(path)
        if match and match["contrast"] not in groups[match["key"]]:
            groups[match["key"]][match["contrast"]] = path
    return dict(groups)


class SegmentationWorker:
    def __init__(self, service: SegmentationService):
        self.service = service
        self.runtime = service.runtime
        self.runtime.jobs.register(TRAIN, self.train)
        self.runtime.jobs.register(DATASET, self.segment_dataset)

    # training ------------------------------------------------------------------------------
    def start(self, request: segmentation_pb2.TrainRequest) -> common_pb2.Job:
        problems = []
        if request.task not in ("tissue", "deep"):
            problems.append(FieldViolation("task", f"must be tissue or deep, got {request.task!r}"))
        unknown = [c for c in request.contrasts if c not in ("T1w", "T2w", "FLAIR")]
        if unknown or len(set(request.contrasts)) != len(request.contrasts):
            problems.append(FieldViolation("contrasts",
                                           f"must be distinct T1w/T2w/FLAIR, got {list(request.contrasts)}"))
        if request.epochs < 0 or request.train_samples < 0 or request.spacing_mm < 0:
            problems.append(FieldViolation("epochs", "epochs, train_samples and spacing_mm must not be negative"))
        if problems:
            raise InvalidArgument(problems)
        labels = {"task": request.task, "contrasts": ",".join(request.contrasts or ("T1w", "T2w", "FLAIR")),
                  "balanced": str(request.balanced).lower(), "epochs": str(request.epochs or 4),
                  "train_samples": str(request.train_samples or 40), "spacing_mm": str(request.spacing_mm or 2.0),
                  "model": request.model or f"seg-{request.task}", "seed": str(request.seed)}
        return self.runtime.jobs.submit(TRAIN, labels=labels)

    def train(self, ctx: JobContext) -> list[common_pb2.ArtifactRef]:
        labels = ctx.job.labels
        spacing, samples = float(labels["spacing_mm"]), int(labels["train_samples"])
        spec = CascadeTrainSpec(task=labels["task"], contrasts=tuple(labels["contrasts"].split(",")),
                                balanced=labels["balanced"] == "true", epochs=int(labels["epochs"]),
                                train_samples=samples, steps_per_epoch=max(1, samples // 2),  # one pass, batch 2
                                spacing_mm=spacing, coarse_spacing_mm=2 * spacing, seed=int(labels["seed"]))
        card = train_cascade(spec, self.runtime.models, labels["model"], progress=ctx.progress)
        info = self.runtime.store.stat(f"segmentation/models/{card.name}/{card.version}/model_card.json")
        return [info.to_proto()]

    # datasets from the bids service ----------------------------------------------------------
    def on_dataset_ready(self, event: Event) -> None:
        data: Any = event.get_data()
        if not isinstance(data, dict) or not isinstance(data.get("anatomical"), list) or not data.get("dataset_uri"):
            raise InvalidArgument.field("data", "needs dataset_uri and an anatomical list")
        job_id = "segds-" + hashlib.sha256(event.get_id().encode()).hexdigest()[:24]
        inputs = [common_pb2.ArtifactRef(uri=a["uri"], sha256=a.get("sha256", ""), size=int(a.get("size", 0)))
                  for a in data["anatomical"]]
        self.runtime.jobs.submit(DATASET, inputs, job_id=job_id, labels={
            "dataset_uri": str(data["dataset_uri"]), "upload_id": str(data.get("upload_id", "")),
            "paths": "\n".join(str(a["path"]) for a in data["anatomical"]),
        })

    def segment_dataset(self, ctx: JobContext) -> list[common_pb2.ArtifactRef]:
        paths = ctx.job.labels["paths"].split("\n") if ctx.job.labels.get("paths") else []
        refs = dict(zip(paths, ctx.job.inputs, strict=True))
        card = self.service.card()
        results: list[SegmentedImage] = []
        groups = group_subject_images(paths)
        for i, (key, contrasts) in enumerate(sorted(groups.items())):
            ctx.progress(i / max(len(groups), 1), f"segmenting {key}")
            primary = contrasts.get("T1w") or next(iter(contrasts.values()))
            try:
                images = []
                for contrast, path in contrasts.items():
                    ref = refs[path]
                    data = b"".join(open_uri(ref.uri, self.runtime.settings, expected_sha256=ref.sha256))
                    images.append((contrast, parse_nifti(data, path)))
                subject = self.service.subject(images, card)
                outcome = self.service.segmenter(card).segment(subject)
                results.append(SegmentedImage(primary, outcome.labels, subject.affine, outcome.volumes_ml,
                                              extra={"MissingContrasts": outcome.missing}))
            except TesseraError as exc:  # one bad subject is reported, the others go on
                results.append(SegmentedImage(primary, error=str(exc)))
        ctx.progress(0.9, "writing derivatives")
        dataset_uri = ctx.job.labels["dataset_uri"]
        store, prefix = store_for_uri(dataset_uri, self.runtime.settings)
        out_prefix = f"{prefix.rstrip('/')}/derivatives/{PIPELINE_NAME}"
        with tempfile.TemporaryDirectory(prefix="tessera-seg-deriv-") as tmp:
            root = Path(tmp)
            written = write_derivatives(root, results, task=card.task, class_names=card.class_names,
                                        model={"name": card.name, "version": card.version},
                                        source_dataset_uri=dataset_uri)
            refs_out = []
            for rel in written:
                with open(root / rel, "rb") as fh:
                    refs_out.append(store.put_stream(f"{out_prefix}/{rel}", fh, size=(root / rel).stat().st_size))
        report = next(r for r in refs_out if r.key.endswith("segmentation_report.tsv"))
        failed = [{"source": r.source, "reason": r.error} for r in results if r.error]
        if self.runtime.publisher is not None:
            self.runtime.publisher.publish(COMPLETED, COMPLETED_TYPE, {
                "upload_id": ctx.job.labels.get("upload_id", ""), "dataset_uri": dataset_uri,
                "derivatives_uri": store.uri_for(out_prefix), "report": artifact_ref_json(report),
                "segmented": sum(1 for r in results if not r.error), "failed": failed,
                "model": {"name": card.name, "version": card.version},
            }, key=ctx.job_id, event_id=f"{ctx.job_id}-completed")
        return [report.to_proto()]
