"""Qiskit results as stored documents and ``JobResult`` messages, from real Aer runs."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import numpy as np
import pytest
from google.protobuf import json_format
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister
from qiskit_aer import AerSimulator

from ibmq_gateway.server.jobs.result_encoding import (
    QUICK_OUTCOMES,
    document_to_proto,
    encodes_quickly,
    result_to_document,
    result_to_proto,
)

from .conftest import bell

if TYPE_CHECKING:
    from qiskit.result import Result


@pytest.fixture(scope="module")
def simulator() -> AerSimulator:
    return AerSimulator()


def two_registers() -> QuantumCircuit:
    circuit = QuantumCircuit(QuantumRegister(2, "q"), ClassicalRegister(1, "a"), name="two")
    circuit.add_register(ClassicalRegister(2, "b"))
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure(0, 0)
    circuit.measure([0, 1], [1, 2])
    circuit.metadata = {"experiment": "regs", "weight": np.float64(0.5), "ids": np.arange(2)}
    return circuit


def document(result: Result, **overrides: object) -> dict[str, object]:
    arguments: dict[str, object] = {
        "job_id": "job-1",
        "backend": "aer_simulator",
        "partial": False,
        "header": {"team": "qa", "n": 3},
    }
    arguments.update(overrides)
    return result_to_document(result, **arguments)  # type: ignore[arg-type]


def test_document_round_trips_through_the_message(simulator: AerSimulator) -> None:
    result = simulator.run([bell(), two_registers()], shots=100, seed_simulator=3).result()

    stored = document(result)

    json.dumps(stored)
    message = document_to_proto(stored)
    assert json_format.MessageToDict(message, preserving_proto_field_name=True) == stored
    assert message == result_to_proto(
        result,
        job_id="job-1",
        backend="aer_simulator",
        partial=False,
        header={"team": "qa", "n": 3},
    )


def test_job_fields_come_from_the_gateway(simulator: AerSimulator) -> None:
    result = simulator.run(bell(), shots=10).result()

    message = document_to_proto(document(result, backend="fake_manila", partial=True))

    assert (message.job_id, message.backend_name, message.partial) == ("job-1", "fake_manila", True)
    assert message.success
    assert message.backend_version == result.backend_version
    assert json_format.MessageToDict(message.header) == {"team": "qa", "n": 3.0}
    assert message.date.seconds > 0


def test_counts_keys_are_the_ones_qiskit_prints(simulator: AerSimulator) -> None:
    result = simulator.run(two_registers(), shots=200, seed_simulator=5).result()

    experiment = document_to_proto(document(result)).results[0]

    assert dict(experiment.counts) == result.get_counts(0)
    assert {key.count(" ") for key in experiment.counts} == {1}
    assert experiment.shots == 200
    assert experiment.seed_simulator == 5
    assert experiment.status == "DONE"


def test_memory_is_one_formatted_outcome_per_shot(simulator: AerSimulator) -> None:
    result = simulator.run(two_registers(), shots=20, memory=True).result()

    experiment = document_to_proto(document(result)).results[0]

    assert list(experiment.memory) == result.get_memory(0)


def test_experiment_header_and_metadata_are_json(simulator: AerSimulator) -> None:
    result = simulator.run(two_registers(), shots=10).result()

    experiment = document_to_proto(document(result)).results[0]
    header = json_format.MessageToDict(experiment.header)
    metadata = json_format.MessageToDict(experiment.metadata)

    assert header["name"] == "two"
    assert header["creg_sizes"] == [["a", 1], ["b", 2]]
    assert (header["memory_slots"], header["n_qubits"]) == (3, 2)
    assert header["metadata"] == {"experiment": "regs", "weight": 0.5, "ids": [0, 1]}
    assert metadata["method"] == result.results[0].metadata["method"]


def test_a_failed_experiment_has_its_status_and_no_counts(simulator: AerSimulator) -> None:
    huge = QuantumCircuit(40, 40, name="huge")
    huge.h(range(40))
    huge.t(range(40))
    huge.measure(range(40), range(40))
    result = simulator.run([bell(), huge], shots=10, method="statevector").result()

    message = document_to_proto(document(result, partial=True))

    assert not message.success
    assert message.results[0].success
    failed = message.results[1]
    assert not failed.success
    assert failed.status.startswith("ERROR: Insufficient memory")
    assert len(failed.counts) == 0


def uniform(qubits: int) -> QuantumCircuit:
    circuit = QuantumCircuit(qubits, qubits)
    circuit.h(range(qubits))
    circuit.measure(range(qubits), range(qubits))
    return circuit


def test_only_few_outcomes_without_memory_are_encoded_at_once(simulator: AerSimulator) -> None:
    few = simulator.run([bell(), bell()], shots=1000, seed_simulator=5).result()
    many = simulator.run(uniform(8), shots=4000, seed_simulator=5).result()
    with_memory = simulator.run(bell(), shots=10, memory=True).result()

    assert encodes_quickly(few)
    assert len(many.get_counts()) > QUICK_OUTCOMES and not encodes_quickly(many)
    assert not encodes_quickly(with_memory)
