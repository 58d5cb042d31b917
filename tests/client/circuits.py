"""Circuits the client tests run, with what each does on this machine's Aer."""

from __future__ import annotations

from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister

from tests.helpers import bell_circuit


def bell() -> QuantumCircuit:
    """A measured Bell pair."""
    return bell_circuit()


def two_registers() -> QuantumCircuit:
    """A GHZ pair in register ``a`` and a flipped qubit in ``b``: outcomes like ``'1 11'``."""
    qubits = QuantumRegister(3, "q")
    first, second = ClassicalRegister(2, "a"), ClassicalRegister(1, "b")
    circuit = QuantumCircuit(qubits, first, second, name="registers")
    circuit.metadata = {"purpose": "registers"}
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.x(2)
    circuit.measure([0, 1], first)
    circuit.measure(2, second)
    return circuit


def non_clifford() -> QuantumCircuit:
    """A Bell pair with a T gate: Aer's stabilizer method refuses it.

    Run beside ``bell()`` with ``method="stabilizer"``, Aer finishes the Bell circuit and
    fails this one, so the job fails with a partial result. (A 34-qubit statevector circuit
    would fail for lack of memory, but the gateway's aer_simulator has 30 qubits and rejects
    it at validation.)
    """
    circuit = QuantumCircuit(2, 2, name="t_gate")
    circuit.h(0)
    circuit.t(0)
    circuit.cx(0, 1)
    circuit.measure([0, 1], [0, 1])
    return circuit


def slow(layers: int = 100) -> QuantumCircuit:
    """A 20-qubit statevector circuit: 100 layers took 3.0 s with plain Aer on this 2-core
    machine (60 layers: 1.8 s), so it keeps a backend's single slot busy for a while."""
    width = 20
    circuit = QuantumCircuit(width, width, name="slow")
    for layer in range(layers):
        for qubit in range(width):
            circuit.rx(0.1 * (layer + 1) + 0.01 * qubit, qubit)
        for qubit in range(layer % 2, width - 1, 2):
            circuit.cx(qubit, qubit + 1)
    circuit.measure(range(width), range(width))
    return circuit


def too_wide(width: int = 6) -> QuantumCircuit:
    """More qubits than fake_manila has: the gateway rejects it at validation."""
    circuit = QuantumCircuit(width, width, name="too_wide")
    circuit.h(0)
    circuit.measure(range(width), range(width))
    return circuit
