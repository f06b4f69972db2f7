"""BIDS-derivatives output of segmenting a dataset: ``derivatives/tessera-seg/`` inside it.

Layout (BIDS 1.11 derivatives, "discrete segmentations")::

    derivatives/tessera-seg/dataset_description.json     DatasetType derivative, GeneratedBy
    derivatives/tessera-seg/desc-<task>_dseg.tsv          look-up table: index, name
    derivatives/tessera-seg/sub-01/[ses-01/]anat/
        sub-01[_ses-01]_<entities>_desc-<task>_dseg.nii.gz   labels on the source image's grid
        sub-01[_ses-01]_<entities>_desc-<task>_dseg.json     Sources, model, per-class volumes (mL)
    derivatives/tessera-seg/segmentation_report.tsv       one row per source image: ok / failed + why
    derivatives/tessera-seg/.bidsignore                   lists the report for the validator

A source image that could not be segmented is a ``failed`` row with its reason; the others are
written as usual.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np

PIPELINE_NAME = "tessera-seg"
BIDS_VERSION = "1.11.1"
_ANAT = re.compile(r"^(?P<dir>.*/)?(?P<stem>sub-[^/]+?)_(?P<suffix>T1w|T2w|FLAIR|T2starw|PDw)\.nii(\.gz)?$")


@dataclass
class SegmentedImage:
    """One source image's outcome: labels (int, on its grid) and volumes, or the error."""

    source: str  # dataset-relative path of the anatomical image
    labels: np.ndarray | None = None
    affine: np.ndarray | None = None
    volumes_ml: dict[str, float] = field(default_factory=dict)
    error: str = ""
    extra: dict[str, object] = field(default_factory=dict)


def derivative_path(source: str, task: str) -> str:
    """``sub-01/anat/sub-01_acq-x_T1w.nii.gz`` -> ``sub-01/anat/sub-01_acq-x_desc-<task>_dseg.nii.gz``."""
    match = _ANAT.match(source)
    if not match:
        raise ValueError(f"{source!r} is not a BIDS anatomical image name")
    return f"{match['dir'] or ''}{match['stem']}_desc-{task}_dseg.nii.gz"


def write_derivatives(
    root: Path,
    results: Sequence[SegmentedImage],
    *,
    task: str,
    class_names: Mapping[int, str],
    model: Mapping[str, object],
    source_dataset_uri: str = "",
) -> list[str]:
    """Write the derivative dataset under ``root`` (``.../derivatives/tessera-seg``); returns the
    dataset-relative paths written."""
    root.mkdir(parents=True, exist_ok=True)
    written: list[str] = []

    def put(rel: str, text: str) -> None:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(rel)

    description: dict[str, object] = {
        "Name": f"Tessera segmentation ({task})",
        "BIDSVersion": BIDS_VERSION,
        "DatasetType": "derivative",
        "GeneratedBy": [{"Name": PIPELINE_NAME, "Version": str(model.get("version", "")),
                         "Description": "coarse-to-fine cascaded 3D FCN (tessera.segmentation)"}],
    }
    if source_dataset_uri:
        description["SourceDatasets"] = [{"URL": source_dataset_uri}]
    put("dataset_description.json", json.dumps(description, indent=2) + "\n")
    put(f"desc-{task}_dseg.tsv", "index\tname\n" + "".join(f"{i}\t{n}\n" for i, n in sorted(class_names.items())))
    report = ["source\tstatus\tderivative\treason"]
    for result in results:
        if result.error or result.labels is None or result.affine is None:
            report.append(f"{result.source}\tfailed\tn/a\t{_tsv(result.error or 'no labels produced')}")
            continue
        rel = derivative_path(result.source, task)
        image = nib.Nifti1Image(result.labels.astype(np.uint8 if max(class_names) < 256 else np.int16), result.affine)
        image.header.set_xyzt_units("mm")
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        nib.save(image, root / rel)
        written.append(rel)
        sidecar = {"Sources": [f"bids:raw:{result.source}"], "Model": dict(model),
                   "VolumesMilliliters": result.volumes_ml, **result.extra}
        put(rel.replace(".nii.gz", ".json"), json.dumps(sidecar, indent=2) + "\n")
        report.append(f"{result.source}\tok\t{rel}\tn/a")
    put("segmentation_report.tsv", "\n".join(report) + "\n")
    put(".bidsignore", "segmentation_report.tsv\n")  # our run report is not a BIDS file type
    return written


def _tsv(text: str) -> str:
    return " ".join(text.split()).replace("\t", " ") or "n/a"
