"""deploy/: the kustomize base is the chart's output (one source of truth) and both overlays render
with `kubectl kustomize` into objects that validate and meet the policies."""

from __future__ import annotations

import pytest
import yaml

from tests.unit.deploy.manifests import CHART, REPO, by_kind, kustomize, pod_specs, render_base, schema_errors
from tests.unit.deploy.policies import policy_violations

SERVICES = yaml.safe_load((CHART / "values.yaml").read_text())["services"]
APIS = {f"tessera-{name}" for name in SERVICES}
# KEDA workers scale on consumer lag: only services that consume events have them.
WORKERS = {f"tessera-{name}-worker" for name, svc in SERVICES.items() if svc.get("consumes")}


def test_base_is_the_current_render_of_the_chart() -> None:
    committed = (REPO / "deploy" / "base" / "tessera.yaml").read_text()
    stale = "deploy/base/tessera.yaml is stale: run python deploy/render_base.py"
    assert committed == render_base.base_manifest(), stale


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_overlay_objects_validate_and_meet_policies(overlay: str) -> None:
    objs = kustomize(overlay)
    assert objs
    assert [e for o in objs for e in schema_errors(o)] == []
    assert policy_violations(objs) == []


def test_dev_overlay_one_replica_each_no_gpu_in_process_inference() -> None:
    objs = kustomize("dev")
    assert {o["metadata"]["namespace"] for o in objs} == {"tessera-dev"}
    deployments = by_kind(objs, "Deployment")
    assert set(deployments) == APIS
    assert all(d["spec"]["replicas"] == 1 for d in deployments.values())
    for kind in ("HorizontalPodAutoscaler", "ScaledObject", "KafkaTopic", "ServiceMonitor"):
        assert not by_kind(objs, kind), kind
    for _, pod in pod_specs(objs):
        assert all("nvidia.com/gpu" not in c["resources"].get("limits", {}) for c in pod["containers"])
    data = by_kind(objs, "ConfigMap")["tessera-segmentation"]["data"]
    assert "TESSERA_TRITON_URL" not in data  # onnxruntime in-process
    assert by_kind(objs, "ConfigMap")["tessera-common"]["data"]["TESSERA_LOG_LEVEL"] == "DEBUG"


def test_prod_overlay_gpu_triton_and_autoscaling() -> None:
    objs = kustomize("prod")
    deployments = by_kind(objs, "Deployment")
    (triton,) = deployments["tessera-triton"]["spec"]["template"]["spec"]["containers"]
    assert triton["resources"]["limits"]["nvidia.com/gpu"] == 1
    hpas = by_kind(objs, "HorizontalPodAutoscaler")
    assert set(hpas) == APIS | {"tessera-triton"}
    assert hpas["tessera-bids"]["spec"]["maxReplicas"] == 12  # the overlay's patch over the chart's 6
    assert set(by_kind(objs, "ScaledObject")) == WORKERS
    assert all(o["metadata"]["labels"]["tessera.io/environment"] == "prod" for o in objs)
    assert "replicas" not in deployments["tessera-bids"]["spec"]  # the HPA owns it
