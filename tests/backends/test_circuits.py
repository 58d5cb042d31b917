"""Reading submitted circuits: each format, and every way a payload can be bad."""

from __future__ import annotations

import io

import pytest
from qiskit import QuantumCircuit, qpy

from ibmq_gateway.server.core.model import CircuitSource
from ibmq_gateway.server.jobs.circuit_formats import (
    MAX_DETAIL_CHARS,
    CircuitViolation,
    InvalidCircuitsError,
    parse_circuits,
)
from tests.helpers import BELL_QASM2, BELL_QASM3

from .conftest import bell


def qasm3(text: str) -> CircuitSource:
    return CircuitSource("qasm3", text.encode())


def qasm2(text: str) -> CircuitSource:
    return CircuitSource("qasm2", text.encode())


def qpy_bytes(*circuits: QuantumCircuit) -> bytes:
    buffer = io.BytesIO()
    qpy.dump(list(circuits), buffer)
    return buffer.getvalue()


def violations(*sources: CircuitSource) -> list[CircuitViolation]:
    with pytest.raises(InvalidCircuitsError) as caught:
        parse_circuits(sources)
    return caught.value.violations


def is_bell(circuit: QuantumCircuit) -> bool:
    names = [instruction.operation.name for instruction in circuit.data]
    return circuit.num_qubits == 2 and names[:2] == ["h", "cx"] and names.count("measure") == 2


def test_each_format_parses_in_order() -> None:
    circuits = parse_circuits(
        [qasm3(BELL_QASM3), qasm2(BELL_QASM2), CircuitSource("qpy", qpy_bytes(bell("from qpy")))]
    )

    assert [is_bell(circuit) for circuit in circuits] == [True, True, True]
    assert circuits[2].name == "from qpy"


def test_qasm2_gates_of_qelib1_become_standard_gates() -> None:
    text = BELL_QASM2.replace("h q[0];", "u1(0.5) q[0];\nrzz(0.2) q[0], q[1];")

    (circuit,) = parse_circuits([qasm2(text)])

    assert [instruction.operation.name for instruction in circuit.data][:2] == ["u1", "rzz"]


def test_undefined_gate_in_qasm3_is_reported_with_the_parser_message() -> None:
    (violation,) = violations(qasm3(BELL_QASM3.replace("h q[0];", "foo q[0];")))

    assert violation.index == 0
    assert violation.message.startswith("circuits[0]: not valid OpenQASM 3: ")
    assert "'foo' is not defined" in violation.message


def test_qasm3_syntax_error_names_line_and_token() -> None:
    (violation,) = violations(qasm3("OPENQASM 3.0;\nqubit[2 q;\n"))

    assert violation.message == (
        "circuits[0]: not valid OpenQASM 3: syntax error at line 2, column 8, near 'q'"
    )


def test_bad_qasm2_is_reported_with_the_parser_message() -> None:
    (violation,) = violations(qasm2(BELL_QASM2.replace("h q[0];", "foo q[0];")))

    assert violation.message.startswith("circuits[0]: not valid OpenQASM 2: ")
    assert "'foo' is not defined in this scope" in violation.message


def test_garbage_qpy_is_invalid() -> None:
    (violation,) = violations(CircuitSource("qpy", b"garbage, not a circuit"))

    assert violation.message.startswith("circuits[0]: not valid QPY: ")
    assert "QISKIT" in violation.message


def test_truncated_qpy_is_invalid() -> None:
    payload = qpy_bytes(bell())

    (violation,) = violations(CircuitSource("qpy", payload[: len(payload) // 2]))

    assert violation.message.startswith("circuits[0]: not valid QPY: ")


def test_qpy_with_two_circuits_is_invalid() -> None:
    (violation,) = violations(CircuitSource("qpy", qpy_bytes(bell(), bell())))

    assert violation.message == (
        "circuits[0]: not valid QPY: a QPY payload must hold exactly one circuit, this one holds 2"
    )


@pytest.mark.parametrize("source", [qasm3(""), qasm2("  \n"), CircuitSource("qpy", b"")])
def test_empty_payload_is_invalid(source: CircuitSource) -> None:
    (violation,) = violations(source)

    assert violation.message.endswith(": the circuit is empty")


def test_text_that_is_not_utf8_is_invalid() -> None:
    (violation,) = violations(CircuitSource("qasm3", b"OPENQASM 3.0;\n\xff\xfe"))

    assert "not UTF-8" in violation.message


def test_every_bad_circuit_is_reported_together() -> None:
    found = violations(
        qasm3(BELL_QASM3),
        qasm3("OPENQASM 3.0;\nqubit[2 q;\n"),
        qasm2(BELL_QASM2),
        qasm2("OPENQASM 2.0;\nqreg q[2;\n"),
        CircuitSource("qpy", b"QISKIT junk"),
    )

    assert [violation.index for violation in found] == [1, 3, 4]
    assert [violation.message.split(":")[0] for violation in found] == [
        "circuits[1]",
        "circuits[3]",
        "circuits[4]",
    ]


def test_a_long_parser_message_is_trimmed() -> None:
    name = "g" * 1000

    (violation,) = violations(qasm3(BELL_QASM3.replace("h q[0];", f"{name} q[0];")))

    detail = violation.message.removeprefix("circuits[0]: not valid OpenQASM 3: ")
    assert len(detail) <= MAX_DETAIL_CHARS
    assert detail.endswith("...")
