"""Small helpers for the tests of IBM devices through a gateway."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Protocol, TypeVar

from qiskit import transpile

from ibmq_gateway.client import GatewayProvider
from ibmq_gateway.v1 import job_pb2, job_service_pb2
from tests.helpers import Stubs, bell_circuit, qpy_bytes, submit, watch

if TYPE_CHECKING:
    from collections.abc import Callable

    from qiskit import QuantumCircuit
    from qiskit.transpiler import Target

    from tests.ibm.fake import FakeIBM

T = TypeVar("T")

IBM_DEVICE = "ibm_fake_manila"


class HasTarget(Protocol):
    """A device described by a target: a qiskit backend, or the gateway's ``IbmDevice``."""

    @property
    def target(self) -> Target: ...


def bell_for(address: str, device: str = IBM_DEVICE) -> job_pb2.Circuit:
    """A Bell pair transpiled for the device as the gateway at ``address`` describes it."""
    backend = GatewayProvider(address).get_backend(device)
    return job_pb2.Circuit(qpy=qpy_bytes(transpile(bell_circuit(), backend, seed_transpiler=1)))


def sampler_bell(device: HasTarget) -> QuantumCircuit:
    """A Bell pair measured into ``meas`` (as samplers report it), transpiled for ``device``."""
    circuit = bell_circuit(measure_all=True)
    return transpile(circuit, target=device.target, optimization_level=1, seed_transpiler=7)


def submit_to_ibm(stubs: Stubs, circuit: job_pb2.Circuit, shots: int = 200) -> str:
    """Submits ``circuit`` to the IBM device with ``shots``; returns the gateway's job id."""
    run_options = job_pb2.RunOptions(shots=shots)
    job_id: str = submit(stubs, IBM_DEVICE, circuit, run_options=run_options).job.id
    return job_id


def until(condition: Callable[[], T], what: str, timeout: float = 30) -> T:
    """Waits until ``condition()`` returns something true, and returns it; fails naming ``what``
    after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not (found := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.05)
    return found


def snapshot_when(
    stubs: Stubs, job_id: str, wanted: Callable[[job_pb2.Job], bool], timeout: float = 30
) -> job_pb2.Job:
    """The first snapshot on the job's stream that satisfies ``wanted``."""
    stream = watch(stubs, job_id, timeout=timeout)
    try:
        for message in stream:
            if message.HasField("event") and wanted(message.event.job):
                job: job_pb2.Job = message.event.job
                return job
    finally:
        stream.cancel()
    raise AssertionError(f"the stream of {job_id} ended before the awaited snapshot")


def sent(job: job_pb2.Job) -> bool:
    """Whether the gateway has recorded IBM's id for the job (it reached IBM)."""
    return bool(job.provider_job_id)


def state_name(job: job_pb2.Job) -> str:
    """The job's state without the ``JOB_STATE_`` prefix."""
    return job_pb2.JobState.Name(job.state).removeprefix("JOB_STATE_")


def get_job(stubs: Stubs, job_id: str) -> job_pb2.Job:
    """The gateway's current snapshot of the job."""
    job: job_pb2.Job = stubs.jobs.GetJob(job_service_pb2.GetJobRequest(job_id=job_id)).job
    return job


def cancel(stubs: Stubs, job_id: str) -> None:
    """Cancels the job, which the answer must show CANCELLED."""
    job = stubs.jobs.CancelJob(job_service_pb2.CancelJobRequest(job_id=job_id)).job
    assert state_name(job) == "CANCELLED"


def provider_id(stubs: Stubs, job_id: str) -> str:
    """IBM's id of a gateway job ("" until the gateway has sent it)."""
    return str(get_job(stubs, job_id).provider_job_id)


def tagged(fake: FakeIBM, job_id: str) -> list[str]:
    """Ids of the fake's jobs that carry the gateway job's tag."""
    tag = f"ibmq-gateway:{job_id}"
    return [job.id for job in fake.board.all() if tag in job.tags]
