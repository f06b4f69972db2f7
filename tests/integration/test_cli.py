"""The tessera CLI against a running service."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from tessera.cli.main import app
from tests.servers import running_service

runner = CliRunner()


def test_jobs_watch_follows_to_success_and_get_prints_json(tmp_path: Path) -> None:
    with running_service(tmp_path) as sut:
        job = sut.jobs.submit("test.steps", labels={"steps": "3", "step_s": "0.1"})
        watched = runner.invoke(app, ["jobs", "watch", job.id, "--target", sut.target])
        got = runner.invoke(app, ["jobs", "get", job.id, "--target", sut.target])
    assert watched.exit_code == 0, watched.output
    assert "SUCCEEDED" in watched.output
    assert got.exit_code == 0, got.output
    record = json.loads(got.stdout)
    assert record["id"] == job.id and record["state"] == "JOB_STATE_SUCCEEDED"


def test_jobs_get_reports_errors_with_code_and_exit_status(tmp_path: Path) -> None:
    with running_service(tmp_path) as sut:
        missing = runner.invoke(app, ["jobs", "get", "nosuchjob", "--target", sut.target])
        cancelled = sut.jobs.submit("test.steps", labels={"steps": "50", "step_s": "0.05"})
        runner.invoke(app, ["jobs", "cancel", cancelled.id, "--target", sut.target])
        watched = runner.invoke(app, ["jobs", "watch", cancelled.id, "--target", sut.target])
    assert missing.exit_code == 1
    assert "NOT_FOUND" in missing.output
    assert watched.exit_code == 1, "a job that did not succeed fails the command"
    assert "CANCELLED" in watched.output


def test_jobs_with_auth_token(tmp_path: Path) -> None:
    with running_service(tmp_path, auth_token="clitoken") as sut:
        job = sut.jobs.submit("test.steps", labels={"steps": "1", "step_s": "0.01"})
        denied = runner.invoke(app, ["jobs", "get", job.id, "--target", sut.target])
        allowed = runner.invoke(app, ["jobs", "get", job.id, "--target", sut.target, "--token", "clitoken"])
    assert denied.exit_code == 1 and "UNAUTHENTICATED" in denied.output
    assert allowed.exit_code == 0, allowed.output
