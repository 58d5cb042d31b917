"""Fixtures of the client's end-to-end tests: a provider connected to a real gateway."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ibmq_gateway.client import GatewayBackend, GatewayProvider


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
