"""Fixtures for the IBM tests: a network guard on every test, the fake, and a service on it."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

from ibmq_gateway.server.ops.embedded import EmbeddedGateway
from tests.conftest import gateway_settings
from tests.ibm.fake import FakeIBM

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from qiskit_ibm_runtime import QiskitRuntimeService

    from ibmq_gateway.server.core.settings import Settings

# Variables that would send the client elsewhere than the fake, or through a proxy.
_FOREIGN_ENVIRONMENT = (
    "QISKIT_IBM_TOKEN",
    "QISKIT_IBM_URL",
    "QISKIT_IBM_INSTANCE",
    "QISKIT_IBM_CHANNEL",
    "QISKIT_FUNCTIONS_EXPERIMENTAL",
    "IBM_CREDENTIALS_FILE",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
)


def _is_loopback(host: object) -> bool:
    if not isinstance(host, str):
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


@dataclass
class NetworkGuard:
    """Every attempt to reach a host outside 127.0.0.0/8 and ::1, refused and remembered."""

    attempts: list[str] = field(default_factory=list)

    def refuse(self, host: object, port: object, how: str) -> None:
        self.attempts.append(f"{host}:{port} ({how})")
        message = f"network guard: {how} for {host}:{port} refused, not loopback"
        if how == "name lookup":
            raise socket.gaierror(socket.EAI_NONAME, message)
        raise ConnectionRefusedError(message)

    def check(self) -> None:
        """Fail the test if anything tried to leave the machine, naming where it went."""
        if self.attempts:
            attempts, self.attempts = self.attempts, []
            pytest.fail("network guard: the code tried to reach " + ", ".join(attempts))


@pytest.fixture(autouse=True)
def network_guard(monkeypatch: pytest.MonkeyPatch) -> Iterator[NetworkGuard]:
    """Refuse, record and fail on any connection that is not to loopback.

    Name resolution is the first gate: a host name other than localhost is refused before any
    DNS query leaves, and the failure names it (``iam.cloud.ibm.com``, not an address).
    Clients that swallow the refusal still fail the test, at teardown.
    """
    guard = NetworkGuard()
    real_getaddrinfo = socket.getaddrinfo
    real_create_connection = socket.create_connection
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None and not _is_loopback(host):
            guard.refuse(host, port, "name lookup")
        return real_getaddrinfo(host, port, *args, **kwargs)

    def create_connection(address: Any, *args: Any, **kwargs: Any) -> socket.socket:
        if not _is_loopback(address[0]):
            guard.refuse(address[0], address[1], "create_connection")
        return real_create_connection(address, *args, **kwargs)

    def allowed(sock: socket.socket, address: Any) -> bool:
        return sock.family not in (socket.AF_INET, socket.AF_INET6) or _is_loopback(address[0])

    def connect(sock: socket.socket, address: Any) -> None:
        if not allowed(sock, address):
            guard.refuse(address[0], address[1], "connect")
        real_connect(sock, address)

    def connect_ex(sock: socket.socket, address: Any) -> int:
        if not allowed(sock, address):
            guard.refuse(address[0], address[1], "connect_ex")
        return real_connect_ex(sock, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket, "create_connection", create_connection)
    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    yield guard
    guard.check()


@pytest.fixture
def fake_ibm(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeIBM]:
    """A started fake, and an environment in which the client finds IBM's hosts on it."""
    for name in _FOREIGN_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    with FakeIBM(queue_seconds=0.3, run_seconds=0.3) as fake:
        for name, value in fake.environ().items():
            monkeypatch.setenv(name, value)
        yield fake


@pytest.fixture
def service(fake_ibm: FakeIBM) -> QiskitRuntimeService:
    from qiskit_ibm_runtime import QiskitRuntimeService

    return QiskitRuntimeService(**fake_ibm.service_kwargs())


def ibm_settings(state_dir: Path, fake: FakeIBM, **overrides: object) -> Settings:
    """A test gateway with the fake's key, instance and API, and no local fake devices."""
    values: dict[str, object] = {
        "fake_devices": (),
        "ibm_token": fake.api_key,
        "ibm_instance": fake.instance_crn,
        "ibm_url": fake.api_url,
        "ibm_call_timeout": 10.0,
        "ibm_poll_ceiling": 2.0,
        **overrides,
    }
    return gateway_settings(state_dir, **values)


@pytest.fixture
def ibm_gateway(fake_ibm: FakeIBM, tmp_path: Path) -> Iterator[EmbeddedGateway]:
    """A real gateway whose IBM executor talks to the fake."""
    with EmbeddedGateway(ibm_settings(tmp_path / "state", fake_ibm)) as running:
        yield running
