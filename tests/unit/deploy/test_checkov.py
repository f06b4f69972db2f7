"""checkov's Kubernetes checks over every chart render (ci values) and both overlays: clean, with
the skips in deploy/checkov.yaml each justified there.

checkov pins packages the project's venv cannot share (older boto3, networkx, packaging), so it lives
in its own venv, .stack/checkov-venv (deploy/checkov-requirements.txt), made by `make setup` or,
failing that, here on first use.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from tests.unit.deploy.manifests import CI_VALUES, REPO, kustomize, render_ci

CHECKOV_VENV = REPO / ".stack" / "checkov-venv"
CONFIG = REPO / "deploy" / "checkov.yaml"


def checkov_binary() -> Path:
    binary = CHECKOV_VENV / "bin" / "checkov"
    if not binary.exists():
        subprocess.run([sys.executable, "-m", "venv", str(CHECKOV_VENV)], check=True)
        subprocess.run([str(CHECKOV_VENV / "bin" / "pip"), "install", "-q", "-r",
                        str(REPO / "deploy" / "checkov-requirements.txt")], check=True, timeout=900)
    return binary


def test_checkov_kubernetes_checks_pass(tmp_path: Path) -> None:
    sets = {p.name.removesuffix("-values.yaml"): render_ci(p.name.removesuffix("-values.yaml")) for p in CI_VALUES}
    sets |= {f"overlay-{o}": kustomize(o) for o in ("dev", "prod")}
    for name, objs in sets.items():
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump_all(list(objs), sort_keys=False))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "BC_SKIP_MAPPING": "TRUE"}
    result = subprocess.run([str(checkov_binary()), "--config-file", str(CONFIG), "-d", str(tmp_path), "-o", "json"],
                            capture_output=True, text=True, timeout=300, env=env, check=False)
    report = json.loads(result.stdout)
    summary = report["summary"]
    failed = [(c["check_id"], c["resource"], c["file_path"]) for c in report["results"]["failed_checks"]]
    assert failed == [] and summary["parsing_errors"] == 0, failed
    assert summary["resource_count"] >= sum(len(o) for o in sets.values()) // 2 and summary["passed"] > 500
    skipped = yaml.safe_load(CONFIG.read_text())["skip-check"]
    assert len(skipped) == CONFIG.read_text().count("\n  # \"")  # one justification per skip


def test_checkov_with_this_config_flags_an_unsafe_pod(tmp_path: Path) -> None:
    """The run above is not vacuous: the same config fails a privileged, root, probe-less pod."""
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "unsafe", "namespace": "tessera"},
           "spec": {"containers": [{"name": "c", "image": "busybox:1.36", "securityContext": {"privileged": True}}]}}
    (tmp_path / "unsafe.yaml").write_text(yaml.safe_dump(pod))
    result = subprocess.run([str(checkov_binary()), "--config-file", str(CONFIG), "-d", str(tmp_path), "-o", "json"],
                            capture_output=True, text=True, timeout=300, check=False,
                            env={**os.environ, "BC_SKIP_MAPPING": "TRUE"})
    failed = {c["check_id"] for c in json.loads(result.stdout)["results"]["failed_checks"]}
    assert {"CKV_K8S_16", "CKV_K8S_8", "CKV_K8S_9", "CKV_K8S_22"} <= failed  # privileged, probes, writable root
