"""Transport limits of the gateway's port, and the bound on each user's open streams."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from ibmq_gateway.server.api.auth import new_token, token_digest
from ibmq_gateway.server.core.model import User
from ibmq_gateway.server.core.settings import Settings
from ibmq_gateway.server.ops.app import server_options
from ibmq_gateway.server.ops.embedded import EmbeddedGateway
from ibmq_gateway.v1 import backend_service_pb2, job_pb2, job_service_pb2
from tests.conftest import gateway_settings
from tests.helpers import BELL_QASM3, Stubs, connect, details

OWN_CONNECTION = ("grpc.use_local_subchannel_pool", 1)
"""A channel option: this channel's calls go on a connection of its own."""


def _start(tmp_path: Path, **settings: Any) -> EmbeddedGateway:
    return EmbeddedGateway(gateway_settings(tmp_path / "state", **settings))


def _add_user(gateway: EmbeddedGateway, name: str) -> str:
    assert gateway.gateway is not None
    token = new_token()
    user = User(name, "h", "g", "p", datetime.now(UTC))
    gateway.call(gateway.gateway.store.add_user(user, token_digest(token)))
    return token


def _watch_all(stubs: Stubs, timeout: float = 30) -> Any:
    """A WatchJobs stream, once it has answered (so the gateway holds it open)."""
    stream = stubs.jobs.WatchJobs(job_service_pb2.WatchJobsRequest(), timeout=timeout)
    next(stream)
    return stream


def test_the_port_takes_messages_up_to_the_request_quota(tmp_path: Path) -> None:
    limit = 4096
    padding = "// " + "x" * 3000 + "\n"
    with _start(tmp_path, quota_request_bytes=limit) as gateway:
        stubs = connect(gateway.address)
        # The admin has no quota: a request under the limit reaches the gateway.
        fits = _submit(stubs, padding)
        assert fits.job.id
        with pytest.raises(grpc.RpcError) as failed:
            _submit(stubs, padding * 2)
        stubs.close()
    error = failed.value
    assert isinstance(error, grpc.Call)
    assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert f"vs. {limit})" in (error.details() or ""), error.details()


def _submit(stubs: Stubs, padding: str) -> job_service_pb2.SubmitJobResponse:
    circuit = job_pb2.Circuit(qasm3=padding + BELL_QASM3)
    request = job_service_pb2.SubmitJobRequest(backend="aer_simulator", circuits=[circuit])
    response: job_service_pb2.SubmitJobResponse = stubs.jobs.SubmitJob(request, timeout=30)
    return response


@pytest.fixture
def bounded(tmp_path: Path) -> Iterator[tuple[EmbeddedGateway, Stubs]]:
    """A gateway where each user may hold two streams, and bob's stubs on it."""
    with _start(tmp_path, quota_open_streams=2) as gateway:
        stubs = connect(gateway.address, _add_user(gateway, "bob"))
        yield gateway, stubs
        stubs.close()


def test_streams_past_the_per_user_bound_are_resource_exhausted(
    bounded: tuple[EmbeddedGateway, Stubs],
) -> None:
    gateway, bob = bounded
    streams = [_watch_all(bob), _watch_all(bob)]
    with pytest.raises(grpc.RpcError) as failed:
        _watch_all(bob)
    error = failed.value
    assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    info, _ = details(error)
    assert (info.reason, info.metadata["limit"], info.metadata["value"]) == (
        "QUOTA_EXCEEDED",
        "open streams",
        "2",
    )
    assert "open streams is limited to 2" in (error.details() or "")
    assert _quota_failure(error).violations[0].subject == "user:bob"
    # Another user, and the admin, are not held to bob's streams.
    carol, admin = connect(gateway.address, _add_user(gateway, "carol")), connect(gateway.address)
    others = [_watch_all(carol), *(_watch_all(admin) for _ in range(3))]
    for stream in [*streams, *others]:
        stream.cancel()
    for stubs in (carol, admin):
        stubs.close()


def test_a_closed_stream_frees_its_place(bounded: tuple[EmbeddedGateway, Stubs]) -> None:
    _, bob = bounded
    first, second = _watch_all(bob), _watch_all(bob)
    first.cancel()
    # The gateway learns of the cancel a moment later.
    third = _retrying(lambda: _watch_all(bob))
    for stream in (second, third):
        stream.cancel()


def _retrying(open_stream: Callable[[], Any], attempts: int = 100) -> Any:
    for _ in range(attempts - 1):
        try:
            return open_stream()
        except grpc.RpcError as error:
            assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        time.sleep(0.05)
    return open_stream()


def _quota_failure(error: grpc.RpcError) -> error_details_pb2.QuotaFailure:
    failure = error_details_pb2.QuotaFailure()
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None
    assert any(detail.Unpack(failure) for detail in status.details)
    return failure


def test_clients_pinging_too_often_are_told_to_back_off(tmp_path: Path) -> None:
    # No heartbeats: pings on a quiet connection are what the limit is about.
    with _start(tmp_path, heartbeat_interval=60.0, keepalive_min_ping_interval=5.0) as gateway:
        options = [
            ("grpc.keepalive_time_ms", 200),
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.max_pings_without_data", 0),
            OWN_CONNECTION,
        ]
        with grpc.insecure_channel(gateway.address, options) as channel:
            watch = channel.unary_stream(
                "/ibmq_gateway.v1.JobService/WatchJobs",
                job_service_pb2.WatchJobsRequest.SerializeToString,
                job_service_pb2.WatchJobsResponse.FromString,
            )
            token = (("authorization", "Bearer igw_test-admin-token"),)
            with pytest.raises(grpc.RpcError) as failed:
                list(watch(job_service_pb2.WatchJobsRequest(), metadata=token, timeout=30))
    error = failed.value
    assert error.code() is grpc.StatusCode.UNAVAILABLE
    assert "Too many pings" in (error.details() or "")


def test_old_connections_are_asked_to_go(tmp_path: Path) -> None:
    with _start(tmp_path, max_connection_age=0.5, max_connection_age_grace=0.5) as gateway:
        stubs = connect(gateway.address)
        with pytest.raises(grpc.RpcError) as failed:
            list(stubs.jobs.WatchJobs(job_service_pb2.WatchJobsRequest(), timeout=30))
        # The channel connects again for the next call.
        listed = stubs.backends.ListBackends(backend_service_pb2.ListBackendsRequest(), timeout=10)
        stubs.close()
    assert failed.value.code() is grpc.StatusCode.UNAVAILABLE
    assert listed.backends


def test_calls_past_the_streams_of_a_connection_wait(tmp_path: Path) -> None:
    with _start(tmp_path, max_streams_per_connection=2) as gateway:
        stubs, other = connect(gateway.address), connect(gateway.address)
        streams = [_watch_all(stubs), _watch_all(stubs)]
        request = backend_service_pb2.ListBackendsRequest()
        with pytest.raises(grpc.RpcError) as waited:
            stubs.backends.ListBackends(request, timeout=1)
        assert other.backends.ListBackends(request, timeout=10).backends
        streams[0].cancel()
        assert stubs.backends.ListBackends(request, timeout=10).backends
        streams[1].cancel()
        for each in (stubs, other):
            each.close()
    assert waited.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED


def test_the_settings_reach_the_port() -> None:
    settings = Settings(
        quota_request_bytes=1000,
        max_streams_per_connection=7,
        max_connection_age=60.0,
        max_connection_age_grace=30.0,
        keepalive_min_ping_interval=2.5,
    )
    options = dict(server_options(settings))
    assert options["grpc.max_receive_message_length"] == 1000
    assert options["grpc.max_concurrent_streams"] == 7
    assert options["grpc.max_connection_age_ms"] == 60_000
    assert options["grpc.max_connection_age_grace_ms"] == 30_000
    assert options["grpc.http2.min_ping_interval_without_data_ms"] == 2500
    assert (
        dict(server_options(Settings(max_receive_bytes=5)))["grpc.max_receive_message_length"] == 5
    )
