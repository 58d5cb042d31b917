"""The QASM Qobj dict built for qobj()."""

from __future__ import annotations

from qiskit import QuantumCircuit
from qiskit.circuit import Parameter

from ibmq_gateway.client._qobj import qobj_dict
from tests.client import circuits


def test_one_experiment_per_circuit_with_headers_and_instructions():
    qobj = qobj_dict("j1", [circuits.two_registers(), circuits.bell()], {"shots": 5}, {"h": 1})
    assert qobj["qobj_id"] == "j1" and qobj["type"] == "QASM"
    assert qobj["config"] == {"shots": 5, "memory_slots": 3, "n_qubits": 3}
    assert qobj["header"] == {"h": 1}
    first = qobj["experiments"][0]
    assert first["header"]["name"] == "registers"
    assert first["header"]["creg_sizes"] == [["a", 2], ["b", 1]]
    assert first["header"]["memory_slots"] == 3 and first["header"]["n_qubits"] == 3
    assert first["instructions"][0] == {"name": "h", "qubits": [0]}
    measures = [item for item in first["instructions"] if item["name"] == "measure"]
    assert [item["memory"] for item in measures] == [[0], [1], [2]]


def test_parameters_are_numbers_or_their_text():
    circuit = QuantumCircuit(1)
    circuit.rz(0.5, 0)
    circuit.rx(Parameter("theta"), 0)
    instructions = qobj_dict("j", [circuit], {}, {})["experiments"][0]["instructions"]
    assert instructions[0]["params"] == [0.5]
    assert instructions[1]["params"] == ["theta"]
