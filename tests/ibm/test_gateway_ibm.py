"""IBM devices through the gateway, end to end: a real gateway, its IBM executor on the official
client, and the loopback fake of IBM whose jobs are real noisy simulations."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from qiskit import transpile

from ibmq_gateway.client import GatewayProvider
from ibmq_gateway.v1 import backend_service_pb2, job_service_pb2
from tests.helpers import bell_circuit, connect, states_until_final, submit, wait_final
from tests.ibm.helpers import IBM_DEVICE as DEVICE
from tests.ibm.helpers import bell_for, get_job

if TYPE_CHECKING:
    from ibmq_gateway.server.ops.embedded import EmbeddedGateway
    from tests.ibm.fake import FakeIBM

pytestmark = pytest.mark.filterwarnings("ignore:The SamplerV2 class is deprecated")


def test_ibm_devices_appear_beside_local_ones(ibm_gateway: EmbeddedGateway) -> None:
    provider = GatewayProvider(ibm_gateway.address)
    names = [backend.name for backend in provider.backends()]
    assert DEVICE in names and "aer_simulator" in names
    backend = provider.get_backend(DEVICE)
    assert backend.num_qubits == 5
    assert {"cx", "sx", "rz"} <= set(backend.target.operation_names)
    assert backend.status().operational
    properties = backend.properties()
    assert properties is not None and properties.t1(0) > 0


def test_a_job_runs_on_an_ibm_device_like_on_a_local_one(
    ibm_gateway: EmbeddedGateway, fake_ibm: FakeIBM
) -> None:
    backend = GatewayProvider(ibm_gateway.address).get_backend(DEVICE)
    circuit = transpile(bell_circuit(), backend, optimization_level=1, seed_transpiler=3)
    job = backend.run(circuit, shots=500, memory=True)
    result = job.result(timeout=60)
    counts = result.get_counts()
    assert sum(counts.values()) == 500
    assert counts.get("00", 0) + counts.get("11", 0) > 400  # noisy, but a Bell pair
    assert len(result.get_memory()) == 500
    assert job.status().name == "DONE"
    # One IBM job, tagged with the gateway's id; the gateway recorded IBM's id.
    stubs = connect(ibm_gateway.address)
    ibm_job = fake_ibm.job(get_job(stubs, job.job_id()).provider_job_id)
    assert ibm_job.tags == [f"ibmq-gateway:{job.job_id()}"]
    assert fake_ibm.count("POST /jobs") == 1


def test_the_result_is_fetched_from_ibm_once(
    ibm_gateway: EmbeddedGateway, fake_ibm: FakeIBM
) -> None:
    stubs = connect(ibm_gateway.address)
    job = submit(stubs, DEVICE, bell_for(ibm_gateway.address)).job
    assert wait_final(stubs, job.id).state == 6  # COMPLETED
    for _ in range(3):
        stubs.jobs.GetJobResult(job_service_pb2.GetJobResultRequest(job_id=job.id))
    assert fake_ibm.count("GET /jobs/{id}/results") == 1


def test_the_stream_shows_ibm_states(ibm_gateway: EmbeddedGateway) -> None:
    stubs = connect(ibm_gateway.address)
    job = submit(stubs, DEVICE, bell_for(ibm_gateway.address)).job
    states = states_until_final(stubs, job.id)
    assert states[-1] == "COMPLETED"
    assert "QUEUED" in states and "RUNNING" in states


def test_ibm_backend_properties_over_grpc(ibm_gateway: EmbeddedGateway) -> None:
    stubs = connect(ibm_gateway.address)
    response = stubs.backends.GetBackendProperties(
        backend_service_pb2.GetBackendPropertiesRequest(name=DEVICE)
    )
    assert response.properties.fields["backend_name"].string_value in (DEVICE, "fake_manila")
