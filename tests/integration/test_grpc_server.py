"""The gRPC bootstrap: health, reflection, error details, auth, metrics."""

from __future__ import annotations

import re
import time
import urllib.request
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from tessera.core.server import field_violations
from tessera.v1 import common_pb2, common_pb2_grpc
from tests.servers import running_service


def test_health_reports_serving(tmp_path: Path) -> None:
    with running_service(tmp_path) as sut, grpc.insecure_channel(sut.target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        overall = stub.Check(health_pb2.HealthCheckRequest(service=""))
        jobs = stub.Check(health_pb2.HealthCheckRequest(service="tessera.v1.Jobs"))
    assert overall.status == health_pb2.HealthCheckResponse.SERVING
    assert jobs.status == health_pb2.HealthCheckResponse.SERVING


def test_reflection_lists_services(tmp_path: Path) -> None:
    with running_service(tmp_path) as sut, grpc.insecure_channel(sut.target) as channel:
        services = set(ProtoReflectionDescriptorDatabase(channel).get_services())
    assert {"tessera.v1.Jobs", "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"} <= services


def test_bad_request_returns_invalid_argument_with_field_violation(tmp_path: Path) -> None:
    with running_service(tmp_path) as sut, grpc.insecure_channel(sut.target) as channel:
        stub = common_pb2_grpc.JobsStub(channel)
        with pytest.raises(grpc.RpcError) as err:
            stub.GetJob(common_pb2.GetJobRequest(id="../etc"))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    violations = field_violations(err.value)
    assert [field for field, _ in violations] == ["id"]
    assert "[A-Za-z0-9._-]" in violations[0][1]


def test_unknown_job_is_not_found(tmp_path: Path) -> None:
    with running_service(tmp_path) as sut, grpc.insecure_channel(sut.target) as channel:
        with pytest.raises(grpc.RpcError) as err:
            common_pb2_grpc.JobsStub(channel).GetJob(common_pb2.GetJobRequest(id="nosuchjob"))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert "nosuchjob" in (err.value.details() or "")


def test_auth_rejects_missing_and_wrong_token(tmp_path: Path) -> None:
    with running_service(tmp_path, auth_token="s3cret") as sut, grpc.insecure_channel(sut.target) as channel:
        stub = common_pb2_grpc.JobsStub(channel)
        request = common_pb2.GetJobRequest(id="nosuchjob")
        with pytest.raises(grpc.RpcError) as no_token:
            stub.GetJob(request)
        with pytest.raises(grpc.RpcError) as wrong_token:
            stub.GetJob(request, metadata=[("authorization", "Bearer nope")])
        with pytest.raises(grpc.RpcError) as good_token:
            stub.GetJob(request, metadata=[("authorization", "Bearer s3cret")])
        # Probes stay open so a kubelet needs no token.
        health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
    assert no_token.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert wrong_token.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert good_token.value.code() == grpc.StatusCode.NOT_FOUND  # authenticated, reached the servicer
    assert health.status == health_pb2.HealthCheckResponse.SERVING


def _handled(metrics_text: str, code: str) -> float:
    pattern = (
        r'tessera_grpc_server_handled_total\{code="' + code
        + r'",method="/tessera.v1.Jobs/GetJob",service="testsvc"\} ([0-9.e+]+)'
    )
    match = re.search(pattern, metrics_text)
    return float(match.group(1)) if match else 0.0


def test_metrics_endpoint_counts_requests(tmp_path: Path) -> None:
    with running_service(tmp_path) as sut, grpc.insecure_channel(sut.target) as channel:
        url = f"http://127.0.0.1:{sut.service.metrics_port}/metrics"
        stub = common_pb2_grpc.JobsStub(channel)
        before = urllib.request.urlopen(url).read().decode()
        for _ in range(3):
            with pytest.raises(grpc.RpcError):
                stub.GetJob(common_pb2.GetJobRequest(id="missing"))
        # The status reaches the client before the server's interceptor finishes counting the
        # call (abort sends it first), so the last count may land a moment after the reply.
        deadline = time.monotonic() + 5.0
        while True:
            after = urllib.request.urlopen(url).read().decode()
            counted = _handled(after, "NOT_FOUND") - _handled(before, "NOT_FOUND")
            if counted >= 3 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
    assert counted == 3
    assert "tessera_grpc_server_handling_seconds_bucket" in after
    assert "tessera_grpc_server_in_flight" in after


def test_message_size_limit_comes_from_settings(tmp_path: Path) -> None:
    with running_service(tmp_path, max_message_bytes=64 * 1024) as sut, grpc.insecure_channel(sut.target) as channel:
        with pytest.raises(grpc.RpcError) as err:
            common_pb2_grpc.JobsStub(channel).GetJob(common_pb2.GetJobRequest(id="x" * 100_000))
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
