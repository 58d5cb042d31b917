"""Fixtures shared by the whole suite: real gateways on free loopback ports."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from ibmq_gateway.server.core.settings import Settings
from ibmq_gateway.server.ops.embedded import EmbeddedGateway

# The first admin's token of every test gateway; clients find it in IBMQ_GATEWAY_TOKEN.
TEST_TOKEN = "igw_test-admin-token"

# The devices the suite runs on: small ones, and one 127-qubit device.
TEST_FAKE_DEVICES = ("fake_manila", "fake_brisbane")


def gateway_settings(state_dir: Path, **overrides: object) -> Settings:
    """Settings of a test gateway: a free port, its own state, one job per backend at once."""
    base = Settings(
        address="127.0.0.1:0",
        state_dir=state_dir,
        concurrency=1,
        fake_devices=TEST_FAKE_DEVICES,
        heartbeat_interval=1.0,
        bootstrap_token=TEST_TOKEN,
    )
    return dataclasses.replace(base, **overrides)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _test_token(monkeypatch: pytest.MonkeyPatch) -> None:
    """Clients (and ``serve`` processes the tests start) use the test admin token, and no
    TLS files from the developer's shell."""
    monkeypatch.setenv("IBMQ_GATEWAY_TOKEN", TEST_TOKEN)
    monkeypatch.setenv("IBMQ_GATEWAY_BOOTSTRAP_TOKEN", TEST_TOKEN)
    for name in ("IBMQ_GATEWAY_CA_CERT", "IBMQ_GATEWAY_CLIENT_CERT", "IBMQ_GATEWAY_CLIENT_KEY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[EmbeddedGateway]:
    """A real gateway (real Aer, SQLite in tmp_path) on 127.0.0.1 and a free port."""
    with EmbeddedGateway(gateway_settings(tmp_path / "state")) as running:
        yield running
