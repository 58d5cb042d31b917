"""Whether circuits fit a backend: its width and the instructions its target supports.

A job whose circuits do not fit ends in ERROR_VALIDATING_JOB with one of the codes below, and
a message that tells the person what to do about it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ibmq_gateway.server.core.model import JobFailure

if TYPE_CHECKING:
    from collections.abc import Sequence

    from qiskit import QuantumCircuit
    from qiskit.circuit import Qubit
    from qiskit.transpiler import Target

    from ibmq_gateway.server.executors.base import BackendInfo

CIRCUIT_TOO_WIDE = 1101
"""A circuit uses more qubits than the backend has."""
INSTRUCTION_NOT_SUPPORTED = 1102
"""A circuit applies an instruction the backend does not offer on those qubits."""

# Directives that every backend accepts and that never reach the hardware as operations.
_ALWAYS_ALLOWED = frozenset({"barrier"})


def check_fits(backend: BackendInfo, circuits: Sequence[QuantumCircuit]) -> JobFailure | None:
    """Finds the first reason a circuit does not fit ``backend``.

    Args:
        backend: The backend the circuits are to run on.
        circuits: The job's circuits, in submission order.

    Returns:
        The failure to record on the job, or None when every circuit fits.
    """
    for index, circuit in enumerate(circuits):
        failure = _check_width(backend, index, circuit) or _check_instructions(
            backend, index, circuit
        )
        if failure is not None:
            return failure
    return None


def _check_width(backend: BackendInfo, index: int, circuit: QuantumCircuit) -> JobFailure | None:
    if circuit.num_qubits <= backend.num_qubits:
        return None
    return JobFailure(
        CIRCUIT_TOO_WIDE,
        "CIRCUIT_TOO_WIDE",
        f"{_describe(index, circuit)} uses {circuit.num_qubits} qubits but {backend.name} has "
        f"{backend.num_qubits}. Pick a larger backend or reduce the circuit.",
    )


def _check_instructions(
    backend: BackendInfo, index: int, circuit: QuantumCircuit
) -> JobFailure | None:
    positions = {qubit: position for position, qubit in enumerate(circuit.qubits)}
    unsupported = _first_unsupported(backend.target, circuit, positions)
    if unsupported is None:
        return None
    name, qargs = unsupported
    return JobFailure(
        INSTRUCTION_NOT_SUPPORTED,
        "INSTRUCTION_NOT_SUPPORTED",
        f"{_describe(index, circuit)} applies {name!r} to qubit(s) {qargs}, which "
        f"{backend.name} does not support. Transpile the circuit for the backend first: "
        "transpile(circuit, backend).",
    )


def _first_unsupported(
    target: Target, circuit: QuantumCircuit, positions: dict[Qubit, int]
) -> tuple[str, tuple[int, ...]] | None:
    """The first instruction ``target`` does not support, with the backend qubits it acts on.

    ``positions`` maps the circuit's qubits to backend qubits; control-flow blocks are
    checked with their qubits mapped through the instruction that holds them.
    """
    for instruction in circuit.data:
        name = instruction.operation.name
        if name in _ALWAYS_ALLOWED:
            continue
        qargs = tuple(positions[qubit] for qubit in instruction.qubits)
        if not target.instruction_supported(name, qargs):
            return name, qargs
        for block in getattr(instruction.operation, "blocks", ()):
            inner = {qubit: qargs[i] for i, qubit in enumerate(block.qubits)}
            found = _first_unsupported(target, block, inner)
            if found is not None:
                return found
    return None


def _describe(index: int, circuit: QuantumCircuit) -> str:
    return f"Circuit {index} ({circuit.name!r})"
