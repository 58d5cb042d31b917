"""Small helpers for the tests of IBM devices through a gateway."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from qiskit import QuantumCircuit, transpile

from ibmq_gateway.client import GatewayProvider
from ibmq_gateway.v1 import job_pb2, job_service_pb2
from tests.helpers import Stubs, qpy_bytes

if TYPE_CHECKING:
    from collections.abc import Callable

    from tests.ibm.fake import FakeIBM

IBM_DEVICE = "ibm_fake_manila"


def bell_for(address: str, device: str = IBM_DEVICE) -> job_pb2.Circuit:
    """A Bell pair transpiled for the device as the gateway at ``address`` describes it."""
    circuit = QuantumCircuit(2, 2, name="bell")
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure([0, 1], [0, 1])
    backend = GatewayProvider(address).get_backend(device)
    return job_pb2.Circuit(qpy=qpy_bytes(transpile(circuit, backend, seed_transpiler=1)))


def until(condition: Callable[[], object], what: str, timeout: float = 30) -> None:
    """Waits until ``condition()`` holds; fails naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.05)


def provider_id(stubs: Stubs, job_id: str) -> str:
    """IBM's id of a gateway job ("" until the gateway has sent it)."""
    request = job_service_pb2.GetJobRequest(job_id=job_id)
    return str(stubs.jobs.GetJob(request).job.provider_job_id)


def tagged(fake: FakeIBM, job_id: str) -> list[str]:
    """Ids of the fake's jobs that carry the gateway job's tag."""
    tag = f"ibmq-gateway:{job_id}"
    return [job.id for job in fake.board.all() if tag in job.tags]
