"""values.schema.json accepts the chart defaults and every ci values set, and refuses bad values with
a message that names the field and the problem (Helm's validator, as `helm install` runs it)."""

from __future__ import annotations

from typing import Any

import helm_python as helm
import pytest

from tests.unit.deploy.manifests import CHART, CI_VALUES, render, values_file


@pytest.fixture(scope="module")
def chart() -> Any:
    with helm.Chart.load(CHART) as loaded:
        yield loaded


def test_defaults_and_ci_values_pass(chart: Any) -> None:
    chart.validate_schema({})
    for path in CI_VALUES:
        chart.validate_schema(values_file(path))


@pytest.mark.parametrize(("values", "expected"), [
    ({"services": {"bids": {"grpcPort": 70000}}}, ["/services/bids/grpcPort", "maximum"]),
    ({"global": {"imageTag": "latest"}}, ["/global/imageTag", "latest is not allowed"]),
    ({"triton": {"image": {"repository": "nvcr.io/nvidia/tritonserver", "tag": "latest"}}},
     ["/triton/image/tag", "latest is not allowed"]),
    ({"services": {"bids": {"settings": {"s3_secret_key": "hunter2"}}}},
     ["s3_secret_key", "credentials come from the s3.credentials / auth Secrets"]),
    ({"services": {"bids": {"env": [{"name": "TESSERA_AUTH_TOKEN", "value": "hunter2"}]}}},
     ["/services/bids/env/0/name", "not env values"]),
    ({"services": {"bids": {"settings": {"grpc_port": 1}}}}, ["grpc_port", "set by the chart from grpcPort"]),
    ({"services": {"Bids_Service": {}}}, ["Bids_Service", "does not match pattern"]),
    ({"services": {"bids": {"workers": {"kind": "Job"}}}}, ["/services/bids/workers/kind", "ScaledObject"]),
    ({"services": {"bids": {"consumes": ["bids-ingest"]}}}, ["/services/bids/consumes/0", "does not match pattern"]),
    ({"services": {"bids": {"grpcport": 50051}}}, ["grpcport"]),
    ({"config": {"logLevel": "VERBOSE"}}, ["/config/logLevel", "INFO"]),
    ({"s3": {"endpoint": "http://minio:9000"}}, ["/s3/endpoint", "does not match pattern"]),
    ({"global": {"containerSecurityContext": {"runAsNonRoot": False}}},
     ["/global/containerSecurityContext/runAsNonRoot", "true"]),
    ({"triton": {"extraArgs": ["--model-control-mode=poll"]}}, ["/triton/extraArgs/0", "model control is explicit"]),
    ({"kafka": {"partitions": 0}}, ["/kafka/partitions", "minimum"]),
])
def test_bad_values_are_refused_with_a_clear_message(chart: Any, values: dict[str, Any], expected: list[str]) -> None:
    with pytest.raises(helm.HelmValuesError) as caught:
        chart.validate_schema(values)
    for text in expected:
        assert text in str(caught.value)


def test_render_applies_the_schema_too() -> None:
    with pytest.raises(helm.HelmValuesError, match="/services/bids/metricsPort"):
        render({"services": {"bids": {"metricsPort": -1}}})
