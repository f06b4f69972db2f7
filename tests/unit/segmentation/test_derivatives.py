"""Segmentation outputs form a BIDS-derivatives dataset; failures are reported, not fatal."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tessera.bids.validate import validate_dataset
from tessera.segmentation.derivatives import SegmentedImage, derivative_path, write_derivatives

CLASSES = {0: "background", 1: "CSF", 2: "GM", 3: "WM", 4: "lesion"}


def test_derivative_names_keep_entities() -> None:
    assert derivative_path("sub-01/ses-02/anat/sub-01_ses-02_acq-highres_T1w.nii.gz", "tissue") == \
        "sub-01/ses-02/anat/sub-01_ses-02_acq-highres_desc-tissue_dseg.nii.gz"
    assert derivative_path("sub-7/anat/sub-7_FLAIR.nii", "deep") == "sub-7/anat/sub-7_desc-deep_dseg.nii.gz"
    with pytest.raises(ValueError):
        derivative_path("sub-01/func/sub-01_task-rest_bold.nii.gz", "tissue")


def test_written_dataset_validates_and_reports_failures(tmp_path: Path) -> None:
    labels = np.zeros((12, 12, 12), np.int64)
    labels[3:9, 3:9, 3:9] = 3
    ok = SegmentedImage("sub-01/anat/sub-01_T1w.nii.gz", labels, np.diag([2.0, 2.0, 2.0, 1.0]),
                        volumes_ml={"WM": 1.728})
    bad = SegmentedImage("sub-02/anat/sub-02_T1w.nii.gz", error="volumes[0].nifti: has 3 non-finite voxels")
    root = tmp_path / "derivatives" / "tessera-seg"
    written = write_derivatives(root, [ok, bad], task="tissue", class_names=CLASSES,
                                model={"name": "seg-tissue", "version": "3"}, source_dataset_uri="s3://b/ds")
    assert "sub-01/anat/sub-01_desc-tissue_dseg.nii.gz" in written
    assert not list(root.glob("sub-02/**/*.nii.gz"))
    report = (root / "segmentation_report.tsv").read_text().splitlines()
    assert report[2].startswith("sub-02/anat/sub-02_T1w.nii.gz\tfailed") and "non-finite" in report[2]
    sidecar = json.loads((root / "sub-01/anat/sub-01_desc-tissue_dseg.json").read_text())
    assert sidecar["Sources"] == ["bids:raw:sub-01/anat/sub-01_T1w.nii.gz"]
    assert validate_dataset(root).ok
