"""`tessera bids plan|convert` on a generated upload, no server needed."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from tessera.bids.corpus import corpus_archive, generate_corpus
from tessera.cli.main import app

runner = CliRunner()


def test_plan_json_and_convert_to_a_valid_dataset(tmp_path: Path) -> None:
    generate_corpus(tmp_path / "corpus", subjects=1, sessions=1, vendors=("philips",), seed=5)
    archive = corpus_archive(tmp_path / "corpus", tmp_path / "upload.tar.gz", fmt="tar.gz")

    planned = runner.invoke(app, ["bids", "plan", str(archive), "--json"])
    assert planned.exit_code == 0, planned.output
    plan = json.loads(planned.stdout)
    kept = [s for s in plan["series"] if not s["plan"]["exclude"]]
    assert any(s["bids_name"].endswith("_T1w") for s in kept)
    assert all(s["plan"]["messages"] for s in plan["series"])

    # Edit the plan as a person would (exclude the FLAIR), then convert with it.
    flair = next(s for s in kept if s["plan"]["suffix"] == "FLAIR")
    flair["plan"]["exclude"] = True
    edited = tmp_path / "plan.json"
    edited.write_text(json.dumps(plan))
    converted = runner.invoke(app, ["bids", "convert", str(archive), str(tmp_path / "out"), "--plan", str(edited)])
    assert converted.exit_code == 0, converted.output
    summary = json.loads(converted.stdout.strip().splitlines()[-1])
    assert summary["validator_errors"] == 0
    assert not list((tmp_path / "out").rglob("*_FLAIR.nii.gz"))
    assert list((tmp_path / "out").rglob("*_T1w.nii.gz"))


def test_plan_of_a_non_archive_reports_findings(tmp_path: Path) -> None:
    junk = tmp_path / "notes.zip"
    junk.write_text("not an archive")
    result = runner.invoke(app, ["bids", "plan", str(junk)])
    assert result.exit_code == 0
    assert "ERROR" in result.output and "notes.zip" in result.output
