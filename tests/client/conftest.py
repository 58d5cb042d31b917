"""Fixtures of the client's tests: real gateways, and a provider connected to one."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ibmq_gateway.client import GatewayBackend, GatewayProvider
from ibmq_gateway.server.ops.embedded import EmbeddedGateway
from ibmq_gateway.server.ops.logs import RPC_LOGGER
from tests.client.gateways import RpcLog
from tests.conftest import gateway_settings


@pytest.fixture
def provider(gateway) -> Iterator[GatewayProvider]:
    """A provider connected to the test gateway, with the test admin token (from the env)."""
    with GatewayProvider(gateway.address) as connected:
        yield connected


@pytest.fixture
def sim(provider: GatewayProvider) -> GatewayBackend:
    """Aer's ideal simulator, one job at a time."""
    return provider.get_backend("aer_simulator")


@pytest.fixture
def manila(provider: GatewayProvider) -> GatewayBackend:
    """The 5-qubit fake device with calibration data."""
    return provider.get_backend("fake_manila")


@pytest.fixture
def start_gateway(tmp_path: Path) -> Iterator[Callable[..., EmbeddedGateway]]:
    """Starts real gateways with settings of their own (``gateway_settings`` overrides)."""
    started: list[EmbeddedGateway] = []

    def start(**overrides: object) -> EmbeddedGateway:
        gateway = EmbeddedGateway(gateway_settings(tmp_path / f"state-{len(started)}", **overrides))
        started.append(gateway)
        gateway.start()
        return gateway

    yield start
    for gateway in started:
        gateway.close()


@pytest.fixture
def stalled(start_gateway: Callable[..., EmbeddedGateway]) -> EmbeddedGateway:
    """A gateway whose aer_simulator has no free slot: its jobs wait QUEUED until cancelled."""
    return start_gateway(backend_concurrency={"aer_simulator": 0})


@pytest.fixture
def rpc_log() -> Iterator[RpcLog]:
    """The RPC log of every gateway the test runs, as it is written."""
    logger = logging.getLogger(RPC_LOGGER)
    recorder, level = RpcLog(), logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(recorder)
    yield recorder
    logger.removeHandler(recorder)
    logger.setLevel(level)
