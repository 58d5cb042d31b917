"""Bearer tokens: who may call, the first admin, and what a bad token gets."""

from __future__ import annotations

import stat
from datetime import UTC, datetime

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ibmq_gateway.server.api.auth import ADMIN_TOKEN_FILE, new_token, token_digest
from ibmq_gateway.server.api.peers import FailureThrottle
from ibmq_gateway.server.core.model import User
from ibmq_gateway.server.ops.embedded import EmbeddedGateway
from ibmq_gateway.v1 import backend_service_pb2, job_service_pb2
from tests.conftest import TEST_TOKEN, gateway_settings
from tests.helpers import connect, details, submit

LIST = backend_service_pb2.ListBackendsRequest()


def _list_backends(address: str, metadata: list[tuple[str, str]]) -> None:
    stubs = connect(address, token="")
    try:
        stubs.backends.ListBackends(backend_service_pb2.ListBackendsRequest(), metadata=metadata)
    finally:
        stubs.close()


def _add_user(gateway: EmbeddedGateway, name: str, **fields: object) -> str:
    token = new_token()
    values: dict[str, object] = {"hub": "h", "group": "g", "project": "p"}
    user = User(name=name, created=datetime.now(UTC), **{**values, **fields})  # type: ignore[arg-type]
    assert gateway.gateway is not None
    gateway.call(gateway.gateway.store.add_user(user, token_digest(token)))
    return token


@pytest.mark.parametrize(
    ("metadata", "reason"),
    [
        ([], "MISSING_TOKEN"),
        ([("authorization", "Bearer igw_not-a-real-token")], "INVALID_TOKEN"),
        ([("authorization", f"Basic {TEST_TOKEN}")], "MALFORMED_TOKEN"),
        ([("authorization", "Bearer ")], "MALFORMED_TOKEN"),
        ([("authorization", "Bearer " + "x" * 300)], "MALFORMED_TOKEN"),
        (
            [("authorization", f"Bearer {TEST_TOKEN}"), ("authorization", "Bearer other")],
            "MALFORMED_TOKEN",
        ),
    ],
    ids=["missing", "unknown", "not-bearer", "empty", "oversized", "two"],
)
def test_calls_without_a_valid_token_are_unauthenticated(gateway, metadata, reason):
    with pytest.raises(grpc.RpcError) as caught:
        _list_backends(gateway.address, metadata)
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert details(caught.value)[0].reason == reason
    assert TEST_TOKEN not in str(caught.value.details())


def test_streams_need_a_token_too(gateway):
    stubs = connect(gateway.address, token="")
    with pytest.raises(grpc.RpcError) as caught:
        list(stubs.jobs.WatchJobs(job_service_pb2.WatchJobsRequest(), timeout=10))
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    stubs.close()


def test_health_answers_without_a_token(gateway):
    channel = grpc.insecure_channel(gateway.address)
    check = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
    assert check.status == health_pb2.HealthCheckResponse.SERVING
    channel.close()


def test_health_watch_streams_the_status_without_a_token(gateway):
    # Found by the fuzzer: every Watch ended INTERNAL (health writes, the wrappers iterated).
    with grpc.insecure_channel(gateway.address) as channel:
        watch = health_pb2_grpc.HealthStub(channel).Watch(
            health_pb2.HealthCheckRequest(), timeout=10
        )
        first = next(watch)
        watch.cancel()
    assert first.status == health_pb2.HealthCheckResponse.SERVING


def test_a_method_the_gateway_lacks_is_unimplemented_not_internal(gateway):
    # Found by the fuzzer: health's List (in the proto, not in grpc_health's servicer).
    with grpc.insecure_channel(gateway.address) as channel, pytest.raises(grpc.RpcError) as caught:
        health_pb2_grpc.HealthStub(channel).List(health_pb2.HealthListRequest(), timeout=10)
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_a_revoked_token_stops_working(gateway):
    token = _add_user(gateway, "bob")
    bearer = [("authorization", f"Bearer {token}")]
    _list_backends(gateway.address, bearer)
    assert gateway.gateway is not None
    assert gateway.call(gateway.gateway.store.revoke_user("bob", datetime.now(UTC)))
    with pytest.raises(grpc.RpcError) as caught:
        _list_backends(gateway.address, bearer)
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_jobs_belong_to_the_caller(gateway):
    token = _add_user(gateway, "alice")
    stubs = connect(gateway.address, token=token)
    assert submit(stubs).job.owner == "alice"
    stubs.close()
    admin = connect(gateway.address)
    assert submit(admin).job.owner == "admin"
    admin.close()


def test_a_gateway_with_no_users_writes_a_private_admin_token(tmp_path):
    settings = gateway_settings(tmp_path / "state", bootstrap_token=None)
    with EmbeddedGateway(settings) as gateway:
        path = tmp_path / "state" / ADMIN_TOKEN_FILE
        token = path.read_text().strip()
        assert token.startswith("igw_") and len(token) > 40
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        stubs = connect(gateway.address, token=token)
        assert submit(stubs).job.owner == "admin"
        stubs.close()
        database = (tmp_path / "state" / "gateway.sqlite3").read_bytes()
        assert token.encode() not in database


def test_the_first_admin_is_made_once(tmp_path):
    settings = gateway_settings(tmp_path / "state")
    with EmbeddedGateway(settings) as gateway:
        gateway.restart()
        assert gateway.gateway is not None
        users = gateway.call(gateway.gateway.store.list_users())
        assert [(user.name, user.admin) for user in users] == [("admin", True)]


def test_a_host_that_keeps_sending_bad_tokens_is_slowed_but_good_tokens_pass(gateway):
    bad = [("authorization", "Bearer igw_not-a-real-token")]
    free = FailureThrottle().free
    stubs = connect(gateway.address, token="")
    for _ in range(free):  # answered at once, however short the deadline
        with pytest.raises(grpc.RpcError) as caught:
            stubs.backends.ListBackends(LIST, metadata=bad, timeout=10)
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    # Each further failure is held longer; soon longer than a short deadline allows.
    codes = []
    for _ in range(8):
        with pytest.raises(grpc.RpcError) as caught:
            stubs.backends.ListBackends(LIST, metadata=bad, timeout=0.3)
        codes.append(caught.value.code())
    assert codes[0] == grpc.StatusCode.UNAUTHENTICATED
    assert codes[-1] == grpc.StatusCode.DEADLINE_EXCEEDED
    # The same host with a good token is not held: not locked out.
    good = [("authorization", f"Bearer {TEST_TOKEN}")]
    assert stubs.backends.ListBackends(LIST, metadata=good, timeout=10).backends
    stubs.close()


def test_the_failure_throttle_grows_to_its_ceiling_and_forgets_after_its_window():
    throttle = FailureThrottle(free=2, window_s=60.0, first_delay_s=0.1, max_delay_s=1.0)
    delays = [throttle.failed("ipv4:10.0.0.1") for _ in range(10)]
    assert delays[:2] == [0.0, 0.0]
    assert 0.05 <= delays[2] <= 0.1 and 0.1 <= delays[3] <= 0.2
    assert all(0.5 <= delay <= 1.0 for delay in delays[-4:])
    assert throttle.failed("ipv4:10.0.0.2") == 0.0  # another host has its own count
    expired = FailureThrottle(free=0, window_s=0.0, first_delay_s=0.1)
    expired.failed("ipv4:10.0.0.1")
    assert expired.failed("ipv4:10.0.0.1") <= 0.1  # a new window: back to the first delay
