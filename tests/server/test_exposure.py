"""What the gateway shows those who hold no token, and what its metrics carry: no jobs, no
users."""

from __future__ import annotations

import socket
import urllib.request
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

from ibmq_gateway.server.ops.embedded import EmbeddedGateway
from tests.conftest import gateway_settings
from tests.helpers import connect, states_until_final, submit
from tests.server.test_auth import _add_user

SERVICES = {
    "ibmq_gateway.v1.JobService",
    "ibmq_gateway.v1.BackendService",
    "grpc.health.v1.Health",
    "grpc.reflection.v1alpha.ServerReflection",
}
# What metrics may be labelled by: nothing that names a person or a job.
ALLOWED_LABELS = {"service", "method", "code", "backend", "state", "le", "upstream"}


@pytest.fixture
def gateway(tmp_path: Path):
    with EmbeddedGateway(gateway_settings(tmp_path / "state", metrics_port=0)) as running:
        yield running


@pytest.fixture
def alices_job(gateway: EmbeddedGateway) -> tuple[str, str]:
    """A finished job of a user named alice-carter, and its id."""
    stubs = connect(gateway.address, _add_user(gateway, "alice-carter"))
    submitted = submit(stubs, name="confidential-run", tags=["project-x"])
    assert states_until_final(stubs, submitted.job.id)[-1] == "COMPLETED"
    stubs.close()
    return "alice-carter", submitted.job.id


def test_metrics_carry_no_user_names_or_job_ids_in_labels(gateway, alices_job) -> None:
    assert gateway.gateway is not None
    port = gateway.gateway.metrics_port
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    samples = [s for family in text_string_to_metric_families(text) for s in family.samples]
    labels = {name for sample in samples for name in sample.labels}
    values = {value for sample in samples for value in sample.labels.values()}
    assert labels <= ALLOWED_LABELS, labels - ALLOWED_LABELS
    for secret in (*alices_job, "confidential-run", "project-x"):
        assert secret not in text
        assert not any(secret in value for value in values)
    assert any(sample.labels.get("backend") == "aer_simulator" for sample in samples)


def test_the_metrics_endpoint_listens_on_loopback_only_by_default(gateway) -> None:
    assert gateway.gateway is not None
    port = gateway.gateway.metrics_port
    assert gateway.settings.metrics_address == "127.0.0.1"
    assert _listening_addresses(port) == {"127.0.0.1"}


def _listening_addresses(port: int) -> set[str]:
    """The IPv4 addresses a socket listens on at ``port`` (from /proc/net/tcp)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, hex_port = local.split(":")
        if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
            found.add(socket.inet_ntoa(bytes.fromhex(address)[::-1]))
    return found


def test_reflection_needs_a_token_and_lists_services_and_nothing_else(gateway, alices_job) -> None:
    asks = [
        reflection_pb2.ServerReflectionRequest(list_services=""),
        reflection_pb2.ServerReflectionRequest(file_containing_symbol=alices_job[1]),
    ]
    with grpc.insecure_channel(gateway.address) as channel:
        anonymous = reflection_pb2_grpc.ServerReflectionStub(channel)
        with pytest.raises(grpc.RpcError) as refused:
            list(anonymous.ServerReflectionInfo(iter(asks), timeout=10))
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    stubs = connect(gateway.address)
    reflection = reflection_pb2_grpc.ServerReflectionStub(stubs.channel)
    listing, about_job = list(reflection.ServerReflectionInfo(iter(asks), timeout=10))
    stubs.close()
    assert {service.name for service in listing.list_services_response.service} == SERVICES
    assert about_job.error_response.error_code == grpc.StatusCode.NOT_FOUND.value[0]


def test_health_answers_for_services_only(gateway, alices_job) -> None:
    with grpc.insecure_channel(gateway.address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        overall = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
        for name in alices_job:  # a user's name or a job's id is no service
            with pytest.raises(grpc.RpcError) as unknown:
                health.Check(health_pb2.HealthCheckRequest(service=name), timeout=10)
            assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
    assert overall.status == health_pb2.HealthCheckResponse.SERVING
