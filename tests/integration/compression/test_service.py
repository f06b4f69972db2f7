"""The compression service through the real stack (broker, S3, its own server process):
EstimateTrainingAccuracy equals the in-process estimate, bad input is named field by field, and
Compress refuses methods this deployment has not wired with FAILED_PRECONDITION."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tessera.cli.up import RunningService, start_services
from tessera.compression import estimate_training_accuracy
from tessera.compression.server import available_methods
from tessera.compression.worker import METHOD_NAMES, method_enum
from tessera.core.server import field_violations
from tessera.devstack import DevStack
from tessera.v1 import compression_pb2, compression_pb2_grpc

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def channel(dev_stack: DevStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[grpc.Channel]:
    service: RunningService = start_services(dev_stack, tmp_path_factory.mktemp("cmp-logs"), only=["compression"])[0]
    with grpc.insecure_channel(f"127.0.0.1:{service.grpc_port}") as ch:
        yield ch
    service.process.stop()


def test_serving_and_estimate_equals_in_process(channel: grpc.Channel) -> None:
    health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=30)
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    stub = compression_pb2_grpc.CompressionStub(channel)
    replies = []
    for d, n, l_hidden in [(2, 200, 4), (10, 200, 8), (5, 1000, 16)]:
        reply = stub.EstimateTrainingAccuracy(
            compression_pb2.EstimateTrainingAccuracyRequest(d=d, n=n, l=l_hidden), timeout=30)
        assert reply.training_accuracy == pytest.approx(estimate_training_accuracy(d, n, l_hidden), abs=1e-12)
        assert reply.method == "space-partitioning"
        replies.append(reply)
    narrow, wide, _ = replies
    assert wide.regions == 256.0 and wide.points_per_region == pytest.approx(200 / 256)
    assert narrow.regions == 11.0  # four lines in the plane
    assert 0.5 < narrow.training_accuracy < wide.training_accuracy < 1.0


def test_bad_estimate_input_names_every_field(channel: grpc.Channel) -> None:
    stub = compression_pb2_grpc.CompressionStub(channel)
    with pytest.raises(grpc.RpcError) as err:
        stub.EstimateTrainingAccuracy(compression_pb2.EstimateTrainingAccuracyRequest(d=0, n=-5, l=0), timeout=30)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [field for field, _ in field_violations(err.value)] == ["d", "n", "l"]
    with pytest.raises(grpc.RpcError) as err:
        stub.EstimateTrainingAccuracy(compression_pb2.EstimateTrainingAccuracyRequest(d=3, n=10**12, l=4))
    assert field_violations(err.value)[0][0] == "n"


def test_compress_request_errors_are_named(channel: grpc.Channel) -> None:
    stub = compression_pb2_grpc.CompressionStub(channel)
    with pytest.raises(grpc.RpcError) as err:
        stub.Compress(compression_pb2.CompressRequest(config_json="[1, 2]"), timeout=30)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [field for field, _ in field_violations(err.value)] == ["model.name", "method", "config_json"]
    with pytest.raises(grpc.RpcError) as err:
        stub.Compress(compression_pb2.CompressRequest(model=compression_pb2.ModelRef(name="m"), method=42))
    assert field_violations(err.value)[0][0] == "method"


@pytest.mark.parametrize("name", METHOD_NAMES)
def test_compress_refuses_unwired_methods(channel: grpc.Channel, name: str) -> None:
    stub = compression_pb2_grpc.CompressionStub(channel)
    request = compression_pb2.CompressRequest(model=compression_pb2.ModelRef(name="no-such-model"),
                                              method=method_enum(name))
    with pytest.raises(grpc.RpcError) as err:
        stub.Compress(request, timeout=30)
    if name in available_methods():  # wired: it gets as far as looking the model up
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
        assert "no-such-model" in (err.value.details() or "")
    else:
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert repr(name) in (err.value.details() or "")
