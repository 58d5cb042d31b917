"""Small helpers for tests that talk to a gateway over raw gRPC."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from qiskit import QuantumCircuit

from ibmq_gateway.client._messages import circuit_to_proto
from ibmq_gateway.v1 import (
    backend_service_pb2_grpc,
    job_pb2,
    job_service_pb2,
    job_service_pb2_grpc,
)

BELL_QASM3 = """OPENQASM 3.0;
include "stdgates.inc";
qubit[2] q;
bit[2] c;
h q[0];
cx q[0], q[1];
c = measure q;
"""

BELL_QASM2 = """OPENQASM 2.0;
include "qelib1.inc";
qreg q[2];
creg c[2];
h q[0];
cx q[0], q[1];
measure q -> c;
"""


def chain_qasm3(gates: int) -> str:
    """A three-qubit OpenQASM 3 chain of ``gates`` gates, about 20 bytes each: large ones
    are slow to parse (about 60 KiB a second here)."""
    lines = ["OPENQASM 3.0;", 'include "stdgates.inc";', "qubit[3] q;", "bit[3] c;"]
    for index in range(gates // 2):
        lines += [
            f"rz({0.01 * index}) q[{index % 3}];",
            f"cx q[{index % 3}], q[{(index + 1) % 3}];",
        ]
    return "\n".join([*lines, "c = measure q;"])


def bell_circuit(*, measure_all: bool = False) -> QuantumCircuit:
    """A measured Bell pair: into ``c``, or with ``measure_all`` into a new register ``meas``."""
    circuit = QuantumCircuit(2, 0 if measure_all else 2, name="bell")
    circuit.h(0)
    circuit.cx(0, 1)
    if measure_all:
        circuit.measure_all()
    else:
        circuit.measure([0, 1], [0, 1])
    return circuit


def slow_circuit(layers: int = 10) -> QuantumCircuit:
    """A 20-qubit statevector circuit that keeps a slot busy for about two seconds here."""
    width = 20
    circuit = QuantumCircuit(width, width, name="slow")
    for layer in range(layers):
        for qubit in range(width):
            circuit.rx(0.1 * (qubit + layer + 1), qubit)
        for start in (0, 1):
            for qubit in range(start, width - 1, 2):
                circuit.cx(qubit, qubit + 1)
    circuit.measure(range(width), range(width))
    return circuit


def qpy_bytes(circuit: QuantumCircuit) -> bytes:
    """One circuit as a QPY file (as the Python client sends it)."""
    return circuit_to_proto(circuit).qpy


@dataclass
class Stubs:
    """Raw stubs on one channel."""

    channel: grpc.Channel
    jobs: job_service_pb2_grpc.JobServiceStub
    backends: backend_service_pb2_grpc.BackendServiceStub

    def close(self) -> None:
        self.channel.close()


def connect(address: str, token: str | None = None) -> Stubs:
    """Stubs for the gateway at ``address``, sending ``token`` (default: the test token).

    An empty ``token`` sends none.
    """
    token = os.environ.get("IBMQ_GATEWAY_TOKEN", "") if token is None else token
    if not token:
        channel = grpc.insecure_channel(address)
    else:
        # Plaintext to loopback, with "authorization: Bearer <token>" on every call.
        credentials = grpc.composite_channel_credentials(
            grpc.local_channel_credentials(), grpc.access_token_call_credentials(token)
        )
        channel = grpc.secure_channel(address, credentials)
    return Stubs(
        channel,
        job_service_pb2_grpc.JobServiceStub(channel),
        backend_service_pb2_grpc.BackendServiceStub(channel),
    )


def submit(stubs: Stubs, backend: str = "aer_simulator", *circuits: job_pb2.Circuit, **fields):
    """Submits circuits (a Bell pair in OpenQASM 3 by default); returns the response."""
    request = job_service_pb2.SubmitJobRequest(
        backend=backend, circuits=circuits or [job_pb2.Circuit(qasm3=BELL_QASM3)], **fields
    )
    return stubs.jobs.SubmitJob(request, timeout=30)


def slow_job_circuit(layers: int = 10) -> job_pb2.Circuit:
    """The slow circuit, ready to submit."""
    return circuit_to_proto(slow_circuit(layers))


def watch(stubs: Stubs, job_id: str, token: str = "", timeout: float = 60) -> Any:
    """The WatchJob stream (an iterator of messages that can also be cancelled)."""
    request = job_service_pb2.WatchJobRequest(job_id=job_id, resume_token=token)
    return stubs.jobs.WatchJob(request, timeout=timeout)


def states_until_final(stubs: Stubs, job_id: str, token: str = "") -> list[str]:
    """The state names the stream reports, through the final one."""
    return [
        job_pb2.JobState.Name(message.event.job.state).removeprefix("JOB_STATE_")
        for message in watch(stubs, job_id, token)
        if message.HasField("event")
    ]


def wait_final(stubs: Stubs, job_id: str) -> job_pb2.Job:
    """Follows the job to its final state and returns it."""
    for message in watch(stubs, job_id):
        if message.HasField("event") and message.event.job.final:
            job: job_pb2.Job = message.event.job
            return job
    raise AssertionError(f"stream of {job_id} ended before a final state")


def details(
    error: grpc.RpcError,
) -> tuple[error_details_pb2.ErrorInfo, error_details_pb2.BadRequest]:
    """The ErrorInfo and BadRequest details of an RPC error (empty when absent)."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    info, bad_request = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
    for detail in status.details if status else []:
        if detail.Is(info.DESCRIPTOR):
            detail.Unpack(info)
        elif detail.Is(bad_request.DESCRIPTOR):
            detail.Unpack(bad_request)
    return info, bad_request
