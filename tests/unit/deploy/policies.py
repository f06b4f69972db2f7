"""The deployment policies every rendered manifest set must meet, as a list of violations.

- every long-running container: startup, liveness and readiness probes (Tessera services: native
  gRPC probes on the container's gRPC port; a run-to-completion Job has nothing to probe, its
  backoffLimit does that job); every container: CPU and memory requests and limits, non-root, read-only root
  filesystem, no privilege escalation, all capabilities dropped, an image pinned by tag (not latest);
- no Secret object and no credential as a literal env value or ConfigMap entry;
- every Tessera service (Deployment with a ``grpc`` port) is selected by a NetworkPolicy that admits
  its gRPC port and limits egress.
"""

from __future__ import annotations

import re
from typing import Any

from tests.unit.deploy.manifests import Manifest, labels_match, pod_specs

CREDENTIAL_NAME = re.compile(r"(SECRET|PASSWORD|TOKEN|ACCESS_KEY|ROOT_USER)", re.IGNORECASE)


def _container_violations(where: str, pod: dict[str, Any], container: dict[str, Any]) -> list[str]:
    out: list[str] = []
    name = f"{where}/{container['name']}"
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        if probe not in container and not where.startswith("Job/"):
            out.append(f"{name}: no {probe}")
    ports = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
    if container["image"].split("/")[-1].startswith("tessera-"):
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            grpc = container.get(probe, {}).get("grpc")
            if not grpc or grpc.get("port") != ports.get("grpc"):
                out.append(f"{name}: {probe} is not a gRPC probe on the grpc port {ports.get('grpc')}")
    resources = container.get("resources", {})
    for section in ("requests", "limits"):
        for res in ("cpu", "memory"):
            if res not in resources.get(section, {}):
                out.append(f"{name}: no {section}.{res}")
    sc = {**pod.get("securityContext", {}), **container.get("securityContext", {})}
    if sc.get("runAsNonRoot") is not True or sc.get("runAsUser", 1) == 0:
        out.append(f"{name}: may run as root")
    csc = container.get("securityContext", {})
    if csc.get("readOnlyRootFilesystem") is not True:
        out.append(f"{name}: root filesystem is writable")
    if csc.get("allowPrivilegeEscalation") is not False:
        out.append(f"{name}: privilege escalation allowed")
    if "ALL" not in csc.get("capabilities", {}).get("drop", []):
        out.append(f"{name}: capabilities not dropped")
    image = container["image"].split("@")[0]
    tag = image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else ""
    if not tag or tag == "latest":
        out.append(f"{name}: image {container['image']} is not pinned by tag")
    for env in container.get("env", []):
        if CREDENTIAL_NAME.search(env["name"]) and "value" in env:
            out.append(f"{name}: credential {env['name']} given as a literal value")
    return out


def policy_violations(objs: tuple[Manifest, ...] | list[Manifest]) -> list[str]:
    out: list[str] = []
    for obj in objs:
        if obj["kind"] == "Secret":
            out.append(f"Secret/{obj['metadata']['name']} is inlined in the manifests")
        if obj["kind"] == "ConfigMap":
            out += [f"ConfigMap/{obj['metadata']['name']}: credential key {k}"
                    for k in obj.get("data", {}) if CREDENTIAL_NAME.search(k)]
    policies = [o for o in objs if o["kind"] == "NetworkPolicy"]
    for owner, pod in pod_specs(objs):
        where = f"{owner['kind']}/{owner['metadata']['name']}"
        if pod.get("automountServiceAccountToken") is not False:
            out.append(f"{where}: mounts a service account token")
        for container in pod["containers"] + pod.get("initContainers", []):
            out += _container_violations(where, pod, container)
        grpc_ports = [p["containerPort"] for c in pod["containers"] for p in c.get("ports", [])
                      if p.get("name") == "grpc"]
        if owner["kind"] != "Deployment" or not grpc_ports:
            continue
        labels = owner["spec"]["template"]["metadata"]["labels"]
        selecting = [p for p in policies if labels_match(p["spec"]["podSelector"].get("matchLabels", {}), labels)]
        if not selecting:
            out.append(f"{where}: no NetworkPolicy selects its pods")
            continue
        admitted = {port.get("port") for p in selecting for rule in p["spec"].get("ingress", [])
                    for port in rule.get("ports", [])}
        if grpc_ports[0] not in admitted:
            out.append(f"{where}: no NetworkPolicy admits its gRPC port {grpc_ports[0]}")
        if not all("Egress" in p["spec"].get("policyTypes", []) for p in selecting):
            out.append(f"{where}: egress is not restricted")
    return out
