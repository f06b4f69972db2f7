"""`tessera segmentation train` then `tessera segment` locally (artifact store on disk, no servers)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from typer.testing import CliRunner

from tessera.cli.main import app

runner = CliRunner()


def test_train_then_segment_locally(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("TESSERA_ARTIFACTS_URI", (tmp_path / "store").as_uri())
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps({"contrasts": ["T1w"], "epochs": 1, "steps_per_epoch": 1, "train_samples": 2,
                                  "val_samples": 1, "spacing_mm": 4.0, "coarse_spacing_mm": 8.0, "roi": 24,
                                  "depth": 2, "base_width": 4}))
    trained = runner.invoke(app, ["segmentation", "train", "--config", str(config), "--name", "seg-cli"])
    assert trained.exit_code == 0, trained.output
    assert json.loads(trained.stdout)["version"] == 1

    shape = (32, 36, 30)
    grid = np.stack(np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij"))
    data = ((np.sqrt((grid**2).sum(0)) < 0.8) * 100.0).astype(np.float32)
    t1 = tmp_path / "t1.nii.gz"
    t1.write_bytes(gzip.compress(nib.Nifti1Image(data, np.diag([4.0, 4.0, 4.0, 1.0])).to_bytes()))
    out = tmp_path / "labels.nii.gz"
    segmented = runner.invoke(app, ["segment", str(t1), str(out), "--model", "seg-cli"])
    assert segmented.exit_code == 0, segmented.output
    assert nib.load(out).shape == shape
    summary = json.loads(segmented.stdout)
    assert summary["model"] == "seg-cli v1" and summary["missing_contrasts"] == []

    missing = runner.invoke(app, ["segment", str(t1), str(out), "--model", "seg-none"])
    assert missing.exit_code == 1 and "NOT_FOUND" in missing.output
