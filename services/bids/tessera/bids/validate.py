"""Run the BIDS validator (PyPI ``bids-validator-deno``, offline) and parse its JSON report.

The validator prints one JSON object with ``--format json``::

    {"issues": {"issues": [{"code", "subCode"?, "severity": "error"|"warning"|"ignore",
                            "location": "/sub-01/...", "issueMessage"?, "rule"?}, ...],
                "codeMessages": {code: text}},
     "summary": {"totalFiles", "subjects", "sessions", "schemaVersion", ...}}

It exits non-zero when it finds errors, so the exit status alone is not trusted; only output
that is not that JSON raises :class:`Unavailable`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tessera.core.errors import FailedPrecondition, Unavailable

VALIDATOR_EXECUTABLE = "bids-validator-deno"
DEFAULT_TIMEOUT_S = 300.0
MAX_ROWS = 1000  # TSV rows checked per file (the validator's default); -1 checks all


@dataclass(frozen=True)
class ValidationIssue:
    """One validator code and every file it was raised for."""

    code: str
    severity: str  # 'error' | 'warning'
    message: str
    sub_code: str = ""
    files: tuple[str, ...] = ()  # dataset-relative, with a leading '/'

    def describe(self) -> str:
        where = f" ({', '.join(self.files[:3])}{' ...' if len(self.files) > 3 else ''})" if self.files else ""
        sub = f"[{self.sub_code}]" if self.sub_code else ""
        return f"{self.code}{sub}: {self.message.strip().splitlines()[0] if self.message else ''}{where}"


@dataclass(frozen=True)
class ValidationReport:
    """``ok`` is true when the validator reported no errors (warnings are allowed)."""

    ok: bool
    errors: list[ValidationIssue] = field(default_factory=list)
    warnings: list[ValidationIssue] = field(default_factory=list)
    summary: dict[str, object] = field(default_factory=dict)  # the validator's own summary block
    seconds: float = 0.0  # wall time of the validator run

    def describe(self) -> str:
        head = f"BIDS validator: {len(self.errors)} errors, {len(self.warnings)} warnings"
        return "\n".join([head, *(f"  error {i.describe()}" for i in self.errors)])


def validator_executable() -> str:
    """The validator next to this interpreter (the venv's bin/), else on PATH."""
    beside = Path(sys.executable).parent / VALIDATOR_EXECUTABLE
    if beside.is_file():
        return str(beside)
    found = shutil.which(VALIDATOR_EXECUTABLE)
    if not found:
        raise FailedPrecondition(f"{VALIDATOR_EXECUTABLE} is not installed (pip install bids-validator-deno)")
    return found


def validate_dataset(path: Path, *, timeout_s: float = DEFAULT_TIMEOUT_S, max_rows: int = MAX_ROWS) -> ValidationReport:
    """Validate the BIDS dataset in ``path`` (a directory) and return the parsed report."""
    if not (path / "dataset_description.json").is_file():
        raise FailedPrecondition(f"{path} is not a BIDS dataset (no dataset_description.json)")
    command = [validator_executable(), str(path), "--format", "json", "--max-rows", str(max_rows), "--no-color"]
    env = {**os.environ, "NO_COLOR": "1"}
    started = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, env=env, check=False)
    except subprocess.TimeoutExpired:
        raise Unavailable(f"BIDS validator did not finish within {timeout_s:.0f} s on {path}") from None
    seconds = time.perf_counter() - started
    try:
        output = json.loads(done.stdout)
    except json.JSONDecodeError:
        tail = (done.stderr or done.stdout)[-2000:]
        raise Unavailable(f"BIDS validator exited {done.returncode} without a JSON report: {tail}") from None
    return parse_report(output, seconds=seconds)


def parse_report(output: dict[str, object], *, seconds: float = 0.0) -> ValidationReport:
    """Group the validator's issues by (severity, code, subCode), collecting their files."""
    block = output.get("issues") or {}
    if not isinstance(block, dict):
        raise Unavailable("BIDS validator JSON has no 'issues' object")
    messages: dict[str, str] = block.get("codeMessages") or {}
    grouped: dict[tuple[str, str, str], tuple[str, list[str]]] = {}
    for issue in block.get("issues") or []:
        severity = str(issue.get("severity", "error"))
        if severity not in ("error", "warning"):
            continue  # 'ignore'
        key = (severity, str(issue.get("code", "")), str(issue.get("subCode", "")))
        message = str(issue.get("issueMessage") or messages.get(key[1], ""))
        _, files = grouped.setdefault(key, (message, []))
        location = issue.get("location")
        if location and location not in files:
            files.append(str(location))
    errors: list[ValidationIssue] = []
    warnings: list[ValidationIssue] = []
    for (severity, code, sub_code), (message, files) in grouped.items():
        item = ValidationIssue(code, severity, message, sub_code, tuple(files))
        (errors if severity == "error" else warnings).append(item)
    summary = output.get("summary")
    return ValidationReport(not errors, errors, warnings, dict(summary) if isinstance(summary, dict) else {}, seconds)
