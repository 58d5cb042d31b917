"""The provider and its backends against a real gateway."""

from __future__ import annotations

import pytest
from qiskit import transpile
from qiskit.providers import BackendV2, QiskitBackendNotFoundError
from qiskit_ibm_runtime.models import BackendProperties

from ibmq_gateway.client import (
    GatewayBackend,
    GatewayProvider,
    IBMQBackendApiError,
    IBMQBackendError,
    IBMQBackendValueError,
)
from ibmq_gateway.client.backend import RetiredBackend
from tests.client import circuits


def test_backends_lists_what_the_gateway_offers(provider):
    names = [backend.name for backend in provider.backends()]
    assert {"aer_simulator", "fake_manila"} <= set(names)
    assert all(isinstance(backend, GatewayBackend) for backend in provider.backends())


def test_backends_filter_by_name_and_attributes(provider):
    assert [backend.name for backend in provider.backends("fake_manila")] == ["fake_manila"]
    assert "aer_simulator" in [backend.name for backend in provider.backends(simulator=True)]
    assert [backend.name for backend in provider.backends(num_qubits=5)] == ["fake_manila"]
    assert [backend.name for backend in provider.backends("fake_manila", operational=False)] == []
    assert provider.backends("nope") == []
    with pytest.raises(IBMQBackendValueError, match="colour"):
        provider.backends(colour="blue")


def test_an_unknown_backend_is_not_found(provider):
    with pytest.raises(QiskitBackendNotFoundError):
        provider.get_backend("ibm_nowhere")


def test_a_backend_is_a_backend_v2_with_the_gateways_target(manila):
    assert isinstance(manila, BackendV2)
    assert manila.name == "fake_manila" and manila.num_qubits == 5
    assert {"cx", "rz", "sx", "x", "measure"} <= set(manila.target.operation_names)
    assert manila.max_circuits and manila.max_circuits > 0
    assert manila.options.shots == 4000 and manila.options.memory is False
    compiled = transpile(circuits.two_registers(), manila, seed_transpiler=3)
    assert set(compiled.count_ops()) <= set(manila.target.operation_names)


def test_status(sim):
    status = sim.status()
    assert status.backend_name == "aer_simulator" and status.operational
    assert status.pending_jobs == 0 and status.status_msg


def test_properties_of_a_device_and_of_an_ideal_simulator(manila, sim):
    properties = manila.properties()
    assert isinstance(properties, BackendProperties)
    assert properties.backend_name
    assert 0 < properties.gate_error("cx", [0, 1]) < 1
    assert sim.properties() is None


def test_a_closed_provider_fails_with_api_errors(gateway):
    provider = GatewayProvider(gateway.address)
    provider.close()
    with pytest.raises(ValueError):  # grpc refuses calls on a closed channel
        provider.backends()


def test_an_unreachable_gateway_is_an_api_error():
    with GatewayProvider("127.0.0.1:1") as provider, pytest.raises(IBMQBackendApiError):
        provider.backends()


def test_a_backend_the_gateway_no_longer_offers_is_retired():
    with GatewayProvider("127.0.0.1:1", "") as provider:
        retired = RetiredBackend(provider, provider._api, "ibmq_gone")
        assert retired.name == "ibmq_gone" and retired.num_qubits == 0
        assert not retired.status().operational
        with pytest.raises(IBMQBackendError, match=r"This backend \(ibmq_gone\) is no longer"):
            retired.run(circuits.bell())
