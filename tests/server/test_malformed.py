"""Requests whose bytes do not decode: INVALID_ARGUMENT, MALFORMED_REQUEST, one log line."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from ibmq_gateway.server.ops.embedded import EmbeddedGateway
from ibmq_gateway.v1 import backend_service_pb2, job_service_pb2
from tests.conftest import TEST_TOKEN, gateway_settings
from tests.server.test_metrics import scrape

CORRUPT = b"\x0a\xff\xff\xff\xff"  # field 1, a length that runs past the end
SERVICES = (
    job_service_pb2.DESCRIPTOR.services_by_name["JobService"],
    backend_service_pb2.DESCRIPTOR.services_by_name["BackendService"],
)
AUTH = (("authorization", f"Bearer {TEST_TOKEN}"),)
METHODS = [
    (f"/{service.full_name}/{method.name}", method.server_streaming)
    for service in SERVICES
    for method in service.methods
]
STANDARD_METHODS = [
    ("/grpc.health.v1.Health/Check", False),
    ("/grpc.health.v1.Health/Watch", True),
]
REFLECTION = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[EmbeddedGateway]:
    with EmbeddedGateway(gateway_settings(tmp_path / "state", metrics_port=0)) as running:
        yield running


def send_raw(channel: grpc.Channel, method: str, streaming: bool) -> grpc.RpcError:
    # No serializers: the bytes go on the wire as they are.
    with pytest.raises(grpc.RpcError) as failed:
        if streaming:
            list(channel.unary_stream(method, None, None)(CORRUPT, metadata=AUTH, timeout=10))
        else:
            channel.unary_unary(method, None, None)(CORRUPT, metadata=AUTH, timeout=10)
    return failed.value


def test_corrupt_bytes_to_every_rpc_are_invalid_argument(
    gateway: EmbeddedGateway, caplog: pytest.LogCaptureFixture
) -> None:
    assert len(METHODS) == 11
    caplog.set_level(logging.WARNING)
    with grpc.insecure_channel(gateway.address) as channel:
        for method, streaming in METHODS:
            error = send_raw(channel, method, streaming)
            assert isinstance(error, grpc.Call)
            assert error.code() is grpc.StatusCode.INVALID_ARGUMENT, method
            assert "is not a valid protobuf message" in (error.details() or ""), method
            status = rpc_status.from_call(error)
            assert status is not None
            info = error_details_pb2.ErrorInfo()
            assert status.details[0].Unpack(info)
            assert info.reason == "MALFORMED_REQUEST"
    assert gateway.gateway is not None
    samples = scrape(gateway.gateway.metrics_port)
    assert samples.requests("SubmitJob", "INVALID_ARGUMENT") == 1
    assert samples.requests("WatchJob", "INVALID_ARGUMENT") == 1
    # One peer, eleven bad requests: one line, and never a traceback.
    malformed = [r for r in caplog.records if "malformed request" in r.getMessage()]
    assert len(malformed) == 1
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records]


def test_corrupt_bytes_to_the_standard_services_are_invalid_argument(
    gateway: EmbeddedGateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    with grpc.insecure_channel(gateway.address) as channel:
        errors = [send_raw(channel, method, streaming) for method, streaming in STANDARD_METHODS]
        # Reflection streams its requests: a corrupt one mid-stream is refused the same way.
        with pytest.raises(grpc.RpcError) as failed:
            call = channel.stream_stream(REFLECTION, None, None)
            list(call(iter([CORRUPT]), metadata=AUTH, timeout=10))
        errors.append(failed.value)
    for error in errors:
        assert isinstance(error, grpc.Call)
        assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert "is not a valid protobuf message" in (error.details() or "")
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records]


def test_many_connections_from_one_host_log_one_line(
    gateway: EmbeddedGateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    # A local subchannel pool gives each channel a connection (a port) of its own.
    for _ in range(5):
        options = (("grpc.use_local_subchannel_pool", 1),)
        with grpc.insecure_channel(gateway.address, options) as channel:
            send_raw(channel, METHODS[0][0], METHODS[0][1])
    malformed = [r for r in caplog.records if "malformed request" in r.getMessage()]
    assert len(malformed) == 1


def test_the_gateway_goes_on_serving(gateway: EmbeddedGateway) -> None:
    with grpc.insecure_channel(gateway.address) as channel:
        send_raw(channel, METHODS[0][0], METHODS[0][1])
        listed = channel.unary_unary(
            "/ibmq_gateway.v1.BackendService/ListBackends",
            request_serializer=backend_service_pb2.ListBackendsRequest.SerializeToString,
            response_deserializer=backend_service_pb2.ListBackendsResponse.FromString,
        )(
            backend_service_pb2.ListBackendsRequest(),
            metadata=AUTH,
            timeout=10,
        )
    assert "aer_simulator" in [backend.name for backend in listed.backends]
