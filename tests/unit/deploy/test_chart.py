"""The Helm chart rendered offline (real Helm v4 via helm-python-sdk) for every ci/*-values.yaml:
lint, Kubernetes/CRD schemas, policies, and what each values set must produce."""

from __future__ import annotations

from typing import Any

import helm_python as helm
import pytest
import yaml

from tests.unit.deploy.manifests import CHART, CI_VALUES, by_kind, render, render_ci, schema_errors, values_file
from tests.unit.deploy.policies import policy_violations

CI_NAMES = [p.name.removesuffix("-values.yaml") for p in CI_VALUES]
CONSUMERS = {name: svc.get("consumes", []) for name, svc in
             yaml.safe_load((CHART / "values.yaml").read_text())["services"].items()}
SERVICES = tuple(CONSUMERS)
TRITON_USERS = ("segmentation", "compression", "graph")


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


def test_ci_values_sets_cover_prod_dev_trial_and_extension() -> None:
    assert {"default", "prod", "dev", "trial", "extended"} <= set(CI_NAMES)


@pytest.mark.parametrize("name", CI_NAMES)
def test_helm_lint_is_clean(name: str) -> None:
    report = helm.lint(CHART, values_file(CHART / "ci" / f"{name}-values.yaml"), strict=True, kube_version="v1.32.0")
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert not report["errors"] and not problems, (report["errors"], problems)


@pytest.mark.parametrize("name", CI_NAMES)
def test_every_object_validates_against_its_schema(name: str) -> None:
    objs = render_ci(name)
    assert objs
    assert [e for o in objs for e in schema_errors(o)] == []


@pytest.mark.parametrize("name", CI_NAMES)
def test_policies_hold(name: str) -> None:
    assert policy_violations(render_ci(name)) == []


def test_schema_validator_catches_a_wrong_field() -> None:
    """The validation is not vacuous: a misspelt field and a wrong type are both reported."""
    deployment = dict(by_kind(render_ci("default"), "Deployment")["tessera-bids"])
    broken = {**deployment, "spec": {**deployment["spec"], "replica": 2}}
    assert any("replica" in e for e in schema_errors(broken))
    monitor = dict(by_kind(render_ci("default"), "ServiceMonitor")["tessera-bids"])
    assert schema_errors({**monitor, "spec": {**monitor["spec"], "endpoints": [{"port": 9100}]}})


def test_default_services_have_grpc_probes_ports_and_secret_refs() -> None:
    objs = render_ci("default")
    deployments = by_kind(objs, "Deployment")
    for svc in SERVICES:
        (container,) = deployments[f"tessera-{svc}"]["spec"]["template"]["spec"]["containers"]
        assert container["startupProbe"]["grpc"] == {"port": 50051}
        assert {p["name"]: p["containerPort"] for p in container["ports"]} == {"grpc": 50051, "metrics": 9100}
        env = env_of(container)
        assert env["TESSERA_S3_SECRET_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "tessera-s3", "key": "secretKey"}
        assert "TESSERA_AUTH_TOKEN" not in env  # no auth secret configured by default
    config = by_kind(objs, "ConfigMap")
    assert config["tessera-segmentation"]["data"]["TESSERA_TRITON_URL"] == "tessera-triton:8001"
    assert "TESSERA_TRITON_URL" not in config["tessera-bids"]["data"]
    assert config["tessera-bids"]["data"]["TESSERA_BIDS_MAX_UPLOAD_BYTES"] == "21474836480"
    assert config["tessera-common"]["data"]["TESSERA_ARTIFACTS_URI"] == "s3://tessera"
    assert set(by_kind(objs, "ServiceMonitor")) == {f"tessera-{s}" for s in SERVICES} | {"tessera-triton"}
    assert not by_kind(objs, "HorizontalPodAutoscaler") and not by_kind(objs, "ScaledObject")


def test_segmentation_network_policy_allows_triton_bids_does_not() -> None:
    policies = by_kind(render_ci("default"), "NetworkPolicy")

    def egress_ports(name: str) -> set[int]:
        return {p["port"] for rule in policies[name]["spec"]["egress"] for p in rule["ports"]}

    assert 8001 in egress_ports("tessera-segmentation")
    assert 8001 not in egress_ports("tessera-bids")
    assert {53, 9092, 9000} <= egress_ports("tessera-bids")
    assert 9092 not in egress_ports("tessera-triton")  # Triton reads S3, never the broker


def test_prod_autoscaling_keda_topics_and_triton() -> None:
    objs = render_ci("prod")
    hpas = by_kind(objs, "HorizontalPodAutoscaler")
    for svc in SERVICES:
        metrics = hpas[f"tessera-{svc}"]["spec"]["metrics"]
        assert {m["type"] for m in metrics} == {"Resource", "Pods"}
        pods_metrics = [m["pods"]["metric"]["name"] for m in metrics if m["type"] == "Pods"]
        assert pods_metrics == ["tessera_grpc_server_in_flight"]
        (container,) = by_kind(objs, "Deployment")[f"tessera-{svc}"]["spec"]["template"]["spec"]["containers"]
        assert env_of(container)["TESSERA_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "tessera-grpc-token"
        assert "@sha256:" in container["image"]
        if f"tessera-{svc}-worker" not in by_kind(objs, "ScaledObject"):
            assert not CONSUMERS[svc], f"{svc} consumes events but has no KEDA worker"
            continue
        # API replicas leave the events to the workers; the workers consume them.
        assert env_of(container)["TESSERA_KAFKA_CONSUME"]["value"] == "false"
        (worker,) = by_kind(objs, "Deployment")[f"tessera-{svc}-worker"]["spec"]["template"]["spec"]["containers"]
        assert "TESSERA_KAFKA_CONSUME" not in env_of(worker)
        scaled = by_kind(objs, "ScaledObject")[f"tessera-{svc}-worker"]["spec"]
        assert scaled["scaleTargetRef"]["name"] == f"tessera-{svc}-worker"
        assert scaled["minReplicaCount"] == 0 and scaled["maxReplicaCount"] <= 6  # kafka.partitions
        for trigger in scaled["triggers"]:
            meta = trigger["metadata"]
            assert trigger["type"] == "kafka" and meta["consumerGroup"] == svc
            assert int(meta["lagThreshold"]) > 0 and int(meta["activationLagThreshold"]) >= 0
            assert meta["allowIdleConsumers"] == "false"
            assert trigger["authenticationRef"]["name"] == f"tessera-{svc}-worker"
        auth = by_kind(objs, "TriggerAuthentication")[f"tessera-{svc}-worker"]
        assert {r["name"] for r in auth["spec"]["secretTargetRef"]} == {"tessera-kafka-keda"}
    assert set(by_kind(objs, "ScaledObject")["tessera-bids-worker"]["spec"]["triggers"][i]["metadata"]["topic"]
               for i in range(2)) == {"tessera.bids.ingest.requested", "tessera.bids.ingest.requested.retry"}
    topics = {t["spec"]["topicName"]: t for t in by_kind(objs, "KafkaTopic").values()}
    assert {"tessera.jobs", "tessera.bids.dataset.ready", "tessera.bids.ingest.requested.dlq",
            "tessera.segmentation.completed", "tessera.bids.dataset.ready.retry"} <= set(topics)
    assert all(t["spec"]["partitions"] == 6 and t["metadata"]["namespace"] == "kafka" for t in topics.values())
    assert set(by_kind(objs, "PodDisruptionBudget")) >= {f"tessera-{s}" for s in SERVICES} | {"tessera-triton"}
    triton_hpa = hpas["tessera-triton"]["spec"]["metrics"][0]["pods"]["metric"]["name"]
    assert triton_hpa == "nv_inference_queue_duration_us"


def test_triton_runs_on_gpu_nodes_with_an_s3_repository_and_explicit_control() -> None:
    deployment = by_kind(render_ci("prod"), "Deployment")["tessera-triton"]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert pod["tolerations"][0]["key"] == "nvidia.com/gpu"
    args = container["args"]
    assert "--model-repository=s3://https://minio.tessera-minio.svc:443/tessera/models" in args
    assert "--model-control-mode=explicit" in args and "--load-model=seg-tissue" in args
    assert {p["name"]: p["containerPort"] for p in container["ports"]}["metrics"] == 8002
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 300  # model loading from S3 takes minutes
    env = env_of(container)
    assert env["AWS_SECRET_ACCESS_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "tessera-s3"


def test_trial_stack_runs_minio_and_a_broker_in_the_release() -> None:
    objs = render_ci("trial")
    deployments = by_kind(objs, "Deployment")
    assert {"tessera-minio", "tessera-kafka"} <= set(deployments)
    assert "tessera-minio-bucket" in by_kind(objs, "Job")
    data = by_kind(objs, "ConfigMap")["tessera-common"]["data"]
    assert data["TESSERA_KAFKA_BOOTSTRAP"] == "tessera-kafka:9092"
    assert data["TESSERA_S3_ENDPOINT"] == "tessera-minio:9000"
    (triton,) = deployments["tessera-triton"]["spec"]["template"]["spec"]["containers"]
    assert "nvidia.com/gpu" not in triton["resources"]["limits"]
    assert "--model-repository=s3://tessera-minio:9000/tessera/models" in triton["args"]
    assert not by_kind(objs, "ServiceMonitor")


def test_dev_values_drop_triton_so_inference_runs_in_process() -> None:
    objs = render_ci("dev")
    assert not any("triton" in name for kind in ("Deployment", "Service") for name in by_kind(objs, kind))
    assert "TESSERA_TRITON_URL" not in by_kind(objs, "ConfigMap")["tessera-segmentation"]["data"]
    assert all(d["spec"]["replicas"] == 1 for d in by_kind(objs, "Deployment").values())


def test_a_values_block_adds_a_service_and_ports_flow_everywhere() -> None:
    """ci/extended-values.yaml: metalearning (a service still to come) exists by values only; bids moves to ports
    6000/9400."""
    objs = render_ci("extended")
    deployments, services = by_kind(objs, "Deployment"), by_kind(objs, "Service")
    assert "tessera-segmentation" not in deployments
    for kind in ("Deployment", "Service", "NetworkPolicy", "ConfigMap", "PodDisruptionBudget", "ServiceMonitor"):
        assert "tessera-metalearning" in by_kind(objs, kind), kind
    assert "tessera-metalearning-worker" in by_kind(objs, "ScaledObject")
    (container,) = deployments["tessera-metalearning"]["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "ghcr.io/tessera/tessera-metalearning:0.1.0"
    assert by_kind(objs, "ConfigMap")["tessera-metalearning"]["data"]["TESSERA_METALEARNING_MAX_TASKS"] == "1000"

    (bids,) = deployments["tessera-bids"]["spec"]["template"]["spec"]["containers"]
    assert {p["name"]: p["containerPort"] for p in bids["ports"]} == {"grpc": 6000, "metrics": 9400}
    assert all(bids[p]["grpc"]["port"] == 6000 for p in ("startupProbe", "livenessProbe", "readinessProbe"))
    assert {p["name"]: p["port"] for p in services["tessera-bids"]["spec"]["ports"]} == {"grpc": 6000, "metrics": 9400}
    ingress = by_kind(objs, "NetworkPolicy")["tessera-bids"]["spec"]["ingress"]
    assert {p["port"] for rule in ingress for p in rule["ports"]} == {6000, 9400}
    data = by_kind(objs, "ConfigMap")["tessera-bids"]["data"]
    assert (data["TESSERA_GRPC_PORT"], data["TESSERA_METRICS_PORT"]) == ("6000", "9400")


def test_scaled_job_workers_render_as_a_keda_scaled_job() -> None:
    command = ["python", "-m", "tessera.bids.server"]
    objs = render({"services": {"bids": {"workers": {"enabled": True, "kind": "ScaledJob", "command": command}}}})
    job = by_kind(objs, "ScaledJob")["tessera-bids-worker"]
    template = job["spec"]["jobTargetRef"]["template"]["spec"]
    assert template["restartPolicy"] == "Never" and template["containers"][0]["command"] == command
    assert "tessera-bids-worker" not in by_kind(objs, "Deployment")
    assert [e for e in schema_errors(job)] == [] and policy_violations(objs) == []


@pytest.mark.parametrize(("values", "message"), [
    ({"services": {"bids": {"workers": {"enabled": True, "kind": "ScaledJob"}}}}, "needs workers.command"),
    ({"services": {"bids": {"workers": {"enabled": True, "maxReplicas": 9}}}}, "exceeds kafka.partitions (3)"),
    ({"services": {"bids": {"consumes": [], "workers": {"enabled": True}}}}, "needs services.bids.consumes"),
])
def test_inconsistent_values_fail_the_render_with_a_reason(values: dict[str, Any], message: str) -> None:
    with pytest.raises(helm.HelmError, match=message.replace("(", r"\(").replace(")", r"\)")):
        render(values)


def test_prometheus_adapter_serves_the_metrics_the_hpas_read() -> None:
    rules = values_file(CHART.parents[1] / "deploy" / "prometheus-adapter" / "values.yaml")["rules"]["custom"]
    served = {rule["name"]["as"] for rule in rules}
    hpas = by_kind(render_ci("prod"), "HorizontalPodAutoscaler").values()
    read = {m["pods"]["metric"]["name"] for h in hpas for m in h["spec"]["metrics"] if m["type"] == "Pods"}
    assert read and read <= served
