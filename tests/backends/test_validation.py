"""Whether circuits fit a backend, against real targets (Aer and fake_manila)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from qiskit import QuantumCircuit, transpile

from ibmq_gateway.server.core.model import JobFailure
from ibmq_gateway.server.jobs.validation import (
    CIRCUIT_TOO_WIDE,
    INSTRUCTION_NOT_SUPPORTED,
    check_fits,
)

from .conftest import bell

if TYPE_CHECKING:
    from ibmq_gateway.server.executors.base import BackendInfo


def wide(num_qubits: int) -> QuantumCircuit:
    circuit = QuantumCircuit(num_qubits, name="bell")
    circuit.h(0)
    circuit.measure_all()
    return circuit


def test_a_circuit_wider_than_the_backend_does_not_fit(backends: dict[str, BackendInfo]) -> None:
    failure = check_fits(backends["fake_manila"], [wide(7)])

    assert failure == JobFailure(
        CIRCUIT_TOO_WIDE,
        "CIRCUIT_TOO_WIDE",
        "Circuit 0 ('bell') uses 7 qubits but fake_manila has 5. "
        "Pick a larger backend or reduce the circuit.",
    )


def test_an_untranspiled_circuit_does_not_fit_a_device(backends: dict[str, BackendInfo]) -> None:
    failure = check_fits(backends["fake_manila"], [bell()])

    assert failure == JobFailure(
        INSTRUCTION_NOT_SUPPORTED,
        "INSTRUCTION_NOT_SUPPORTED",
        "Circuit 0 ('bell') applies 'h' to qubit(s) (0,), which fake_manila does not support. "
        "Transpile the circuit for the backend first: transpile(circuit, backend).",
    )


def test_a_two_qubit_gate_off_the_coupling_map_does_not_fit(
    backends: dict[str, BackendInfo],
) -> None:
    manila = backends["fake_manila"]
    circuit = transpile(bell(), target=manila.target, seed_transpiler=7)
    circuit.cx(0, 4)

    failure = check_fits(manila, [circuit])

    assert failure is not None
    assert failure.code == INSTRUCTION_NOT_SUPPORTED
    assert "applies 'cx' to qubit(s) (0, 4)" in failure.message


def test_a_transpiled_circuit_fits(backends: dict[str, BackendInfo]) -> None:
    manila = backends["fake_manila"]
    circuit = transpile(bell(), target=manila.target, seed_transpiler=7)
    circuit.barrier()

    assert check_fits(manila, [circuit]) is None


def test_the_first_circuit_that_does_not_fit_is_named(backends: dict[str, BackendInfo]) -> None:
    manila = backends["fake_manila"]
    fits = transpile(bell(), target=manila.target, seed_transpiler=7)

    failure = check_fits(manila, [fits, bell("second")])

    assert failure is not None
    assert failure.message.startswith("Circuit 1 ('second') applies 'h'")


def test_control_flow_blocks_are_checked_on_the_outer_qubits(
    backends: dict[str, BackendInfo],
) -> None:
    manila = backends["fake_manila"]
    circuit = QuantumCircuit(5, 1, name="dynamic")
    circuit.measure(3, 0)
    with circuit.if_test((circuit.clbits[0], 1)):
        circuit.x(4)
    assert check_fits(manila, [circuit]) is None

    with circuit.if_test((circuit.clbits[0], 1)):
        circuit.h(4)
    failure = check_fits(manila, [circuit])

    assert failure is not None
    assert "applies 'h' to qubit(s) (4,)" in failure.message


def test_aer_accepts_any_standard_gate_within_its_width(backends: dict[str, BackendInfo]) -> None:
    aer = backends["aer_simulator"]
    width = aer.num_qubits
    circuit = QuantumCircuit(width, 3, name="anything")
    circuit.h(range(width))
    circuit.ccx(0, width - 1, 5)
    circuit.rzz(0.3, 2, width - 2)
    circuit.u(0.1, 0.2, 0.3, 7)
    circuit.swap(1, 9)
    circuit.measure(0, 0)
    with circuit.if_test((circuit.clbits[0], 1)):
        circuit.cswap(0, 1, 2)
    circuit.measure([1, 2], [1, 2])

    assert width >= 20
    assert check_fits(aer, [bell(), circuit]) is None


def test_aer_refuses_a_circuit_wider_than_its_memory_allows(
    backends: dict[str, BackendInfo],
) -> None:
    aer = backends["aer_simulator"]

    failure = check_fits(aer, [wide(aer.num_qubits + 1)])

    assert failure is not None
    assert failure.code == CIRCUIT_TOO_WIDE


def test_aer_refuses_a_custom_gate_it_cannot_simulate(backends: dict[str, BackendInfo]) -> None:
    inner = QuantumCircuit(2, name="mygate")
    inner.h(0)
    inner.cx(0, 1)
    circuit = QuantumCircuit(2, name="custom")
    circuit.append(inner.to_gate(), [0, 1])

    failure = check_fits(backends["aer_simulator"], [circuit])

    assert failure is not None
    assert failure.code == INSTRUCTION_NOT_SUPPORTED
    assert "applies 'mygate' to qubit(s) (0, 1)" in failure.message
