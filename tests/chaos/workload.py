"""The chaos run's jobs: a mix of sizes and backends, drawn from a seed.

Most are small (Bell pairs on Aer's ideal simulator, one to three circuits); some run on
the fake device ``fake_manila`` with its noise (a Bell pair in OpenQASM 2, or a five-qubit
GHZ state in QPY, both transpiled for it); a few are the 20-qubit statevector circuits
that keep a slot busy for up to two seconds, so that kills find jobs running.
"""

from __future__ import annotations

import functools
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from qiskit import QuantumCircuit, qasm2, transpile
from qiskit_ibm_runtime.fake_provider import FakeManilaV2

from ibmq_gateway.client._messages import circuit_to_proto
from ibmq_gateway.v1 import job_pb2, job_service_pb2
from tests.helpers import BELL_QASM2, BELL_QASM3, slow_job_circuit

FAKE_DEVICE = "fake_manila"


@dataclass(frozen=True)
class Planned:
    """One job to submit: its request (sent as is on every attempt) and its kind."""

    kind: str
    request: job_service_pb2.SubmitJobRequest


def plan(count: int, rng: random.Random) -> list[Planned]:
    """``count`` jobs in submission order; the same ``rng`` state gives the same jobs."""
    kinds, weights = list(_MIX), list(_MIX.values())
    return [_planned(index, rng.choices(kinds, weights)[0], rng) for index in range(count)]


def _planned(index: int, kind: str, rng: random.Random) -> Planned:
    backend, circuits = _BUILDERS[kind](rng)
    request = job_service_pb2.SubmitJobRequest(
        # Drawn from the seed, so a rerun with the same seed sends the same requests.
        request_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        backend=backend,
        circuits=circuits,
        run_options=job_pb2.RunOptions(shots=rng.choice((100, 1024, 4000))),
        name=f"chaos-{index}",
        tags=["chaos", kind],
    )
    return Planned(kind, request)


def _bell_on_aer(rng: random.Random) -> tuple[str, list[job_pb2.Circuit]]:
    return "aer_simulator", [job_pb2.Circuit(qasm3=BELL_QASM3)] * rng.randint(1, 3)


def _noisy_on_device(rng: random.Random) -> tuple[str, list[job_pb2.Circuit]]:
    if rng.random() < 0.5:
        return FAKE_DEVICE, [_bell_for_device()]
    return FAKE_DEVICE, [_ghz_for_device(5)]


@functools.cache
def _bell_for_device() -> job_pb2.Circuit:
    bell = QuantumCircuit.from_qasm_str(BELL_QASM2)
    return job_pb2.Circuit(qasm2=qasm2.dumps(_for_device(bell)))


def _slow_on_aer(rng: random.Random) -> tuple[str, list[job_pb2.Circuit]]:
    return "aer_simulator", [_slow(rng.choice((2, 5, 10)))]


@functools.cache
def _ghz_for_device(width: int) -> job_pb2.Circuit:
    circuit = QuantumCircuit(width, width, name="ghz")
    circuit.h(0)
    for qubit in range(width - 1):
        circuit.cx(qubit, qubit + 1)
    circuit.measure(range(width), range(width))
    return circuit_to_proto(_for_device(circuit))


def _for_device(circuit: QuantumCircuit) -> QuantumCircuit:
    """Transpiled for the device, as the gateway wants circuits for a device."""
    transpiled: QuantumCircuit = transpile(circuit, FakeManilaV2(), seed_transpiler=0)
    return transpiled


@functools.cache
def _slow(layers: int) -> job_pb2.Circuit:
    return slow_job_circuit(layers)


_BUILDERS: dict[str, Callable[[random.Random], tuple[str, list[job_pb2.Circuit]]]] = {
    "bell": _bell_on_aer,
    "device": _noisy_on_device,
    "slow": _slow_on_aer,
}
_MIX = {"bell": 60, "device": 30, "slow": 10}
"""How often each kind is drawn (weights)."""
