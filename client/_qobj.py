"""A job's circuits in the shape of a QASM Qobj, for code written against ``IBMQJob.qobj()``.

Qiskit 2 has no Qobj classes any more; this builds the plain dict that ``QasmQobj.to_dict()``
used to return: one experiment per circuit, each instruction with its name, qubits,
parameters and (for measurements) memory slots.
"""

from __future__ import annotations

from numbers import Complex, Real
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from qiskit import QuantumCircuit
    from qiskit.circuit import CircuitInstruction

SCHEMA_VERSION = "1.3.0"


def qobj_dict(
    qobj_id: str,
    circuits: Sequence[QuantumCircuit],
    options: Mapping[str, Any],
    header: Mapping[str, Any],
) -> dict[str, Any]:
    """A QASM Qobj dict for ``circuits`` run with ``options``.

    Args:
        qobj_id: The id to give the Qobj (the job id).
        circuits: The circuits, in submission order.
        options: The run configuration (shots, memory, ...).
        header: The job's header.

    Returns:
        A dict with ``qobj_id``, ``type``, ``schema_version``, ``config``, ``header`` and
        ``experiments``.
    """
    config = {
        **options,
        "memory_slots": max((circuit.num_clbits for circuit in circuits), default=0),
        "n_qubits": max((circuit.num_qubits for circuit in circuits), default=0),
    }
    return {
        "qobj_id": qobj_id,
        "type": "QASM",
        "schema_version": SCHEMA_VERSION,
        "config": config,
        "header": dict(header),
        "experiments": [_experiment(circuit) for circuit in circuits],
    }


def _experiment(circuit: QuantumCircuit) -> dict[str, Any]:
    header = {
        "name": circuit.name,
        "n_qubits": circuit.num_qubits,
        "memory_slots": circuit.num_clbits,
        "creg_sizes": [[register.name, register.size] for register in circuit.cregs],
        "qreg_sizes": [[register.name, register.size] for register in circuit.qregs],
        "global_phase": _parameter(circuit.global_phase),
        "metadata": dict(circuit.metadata or {}),
    }
    return {
        "header": header,
        "config": {"n_qubits": circuit.num_qubits, "memory_slots": circuit.num_clbits},
        "instructions": [_instruction(circuit, item) for item in circuit.data],
    }


def _instruction(circuit: QuantumCircuit, item: CircuitInstruction) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": item.operation.name}
    if item.qubits:
        entry["qubits"] = [circuit.find_bit(qubit).index for qubit in item.qubits]
    if item.operation.params:
        entry["params"] = [_parameter(param) for param in item.operation.params]
    # Only measurements write memory slots in a QASM Qobj.
    if item.operation.name == "measure":
        entry["memory"] = [circuit.find_bit(clbit).index for clbit in item.clbits]
    return entry


def _parameter(value: Any) -> Any:
    """A JSON-like form of a gate parameter; unbound parameters become their text."""
    if isinstance(value, Real):
        return float(value)
    if isinstance(value, Complex):
        return [value.real, value.imag]
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)
