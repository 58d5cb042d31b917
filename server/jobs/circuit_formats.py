"""Circuits as submitted (OpenQASM 3, OpenQASM 2 or QPY) turned into qiskit circuits.

Every bad circuit of a submission is reported at once, each with the parser's own message, so
a client can fix them all in one go.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING

from qiskit import QuantumCircuit, qasm2, qasm3, qpy

from ibmq_gateway.server.jobs.circuit_limits import (
    CircuitLimits,
    CircuitTooLargeError,
    check_circuit,
    check_source,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from ibmq_gateway.server.core.model import CircuitSource

MAX_DETAIL_CHARS = 300
"""Longest parser message carried into a violation."""
_QPY_MAGIC = b"QISKIT"
DEFAULT_LIMITS = CircuitLimits()


@dataclass(frozen=True)
class CircuitViolation:
    """Why one submitted circuit could not be read."""

    index: int
    """Position of the circuit in the submission."""
    message: str


class InvalidCircuitsError(Exception):
    """One or more submitted circuits could not be read."""

    def __init__(self, violations: list[CircuitViolation]) -> None:
        super().__init__("; ".join(violation.message for violation in violations))
        self.violations = violations

    def __reduce__(self) -> tuple[type[InvalidCircuitsError], tuple[list[CircuitViolation]]]:
        # Raised in a parser process too: pickle it by its violations, not its message.
        return (InvalidCircuitsError, (self.violations,))


class _UnreadableCircuitError(Exception):
    """A payload is not a circuit; the message says why, without the format prefix."""


def parse_circuits(
    sources: Sequence[CircuitSource], limits: CircuitLimits = DEFAULT_LIMITS
) -> list[QuantumCircuit]:
    """Reads every submitted circuit.

    Args:
        sources: The circuits exactly as submitted, in order.
        limits: The largest circuit taken; a larger one is a violation, found before its
            parser runs wherever its payload declares its size.

    Returns:
        One qiskit circuit per source, in the same order.

    Raises:
        InvalidCircuitsError: at least one source is not a valid circuit; it lists them all.
    """
    circuits: list[QuantumCircuit] = []
    violations: list[CircuitViolation] = []
    for index, source in enumerate(sources):
        try:
            circuits.append(_parse_one(source, limits))
        # Parsers raise all kinds of exceptions on bad input, not only their own.
        except Exception as error:
            violations.append(CircuitViolation(index, _violation_message(index, source, error)))
    if violations:
        raise InvalidCircuitsError(violations)
    return circuits


def _parse_one(source: CircuitSource, limits: CircuitLimits) -> QuantumCircuit:
    parser = _PARSERS.get(source.format)
    if parser is None:
        raise _UnreadableCircuitError(f"unknown circuit format {source.format!r}")
    if not source.payload.strip():
        raise _UnreadableCircuitError("the circuit is empty")
    check_source(source, limits)
    circuit = parser(source.payload)
    check_circuit(circuit, limits)
    return circuit


def _load_qasm3(payload: bytes) -> QuantumCircuit:
    return qasm3.loads(payload.decode("utf-8"))


def _load_qasm2(payload: bytes) -> QuantumCircuit:
    # The legacy tables are what QuantumCircuit.from_qasm_str uses: qelib1.inc gates become
    # qiskit's standard gates, so validation against a backend's target sees their real names.
    return qasm2.loads(
        payload.decode("utf-8"),
        include_path=qasm2.LEGACY_INCLUDE_PATH,
        custom_instructions=qasm2.LEGACY_CUSTOM_INSTRUCTIONS,
        custom_classical=qasm2.LEGACY_CUSTOM_CLASSICAL,
    )


def _load_qpy(payload: bytes) -> QuantumCircuit:
    # qpy.load reads any 6 leading bytes as the magic, so garbage gives a misleading
    # "unsupported version" message unless it is caught here.
    if not payload.startswith(_QPY_MAGIC):
        raise _UnreadableCircuitError("the payload does not start with the QPY header 'QISKIT'")
    programs = qpy.load(io.BytesIO(payload))
    if len(programs) != 1 or not isinstance(programs[0], QuantumCircuit):
        raise _UnreadableCircuitError(
            f"a QPY payload must hold exactly one circuit, this one holds {len(programs)}"
        )
    circuit: QuantumCircuit = programs[0]
    return circuit


_PARSERS: dict[str, Callable[[bytes], QuantumCircuit]] = {
    "qasm3": _load_qasm3,
    "qasm2": _load_qasm2,
    "qpy": _load_qpy,
}
_FORMAT_NAMES = {"qasm3": "OpenQASM 3", "qasm2": "OpenQASM 2", "qpy": "QPY"}


def _violation_message(index: int, source: CircuitSource, error: Exception) -> str:
    detail = _error_detail(error)
    if len(detail) > MAX_DETAIL_CHARS:
        detail = detail[: MAX_DETAIL_CHARS - 3].rstrip() + "..."
    what = _FORMAT_NAMES.get(source.format)
    if isinstance(error, CircuitTooLargeError):
        return f"circuits[{index}]: too large: {detail}"
    if what is None:
        return f"circuits[{index}]: {detail}"
    return f"circuits[{index}]: not valid {what}: {detail}"


def _error_detail(error: Exception) -> str:
    if isinstance(error, UnicodeDecodeError):
        return f"the text is not UTF-8 ({error.reason} at byte {error.start})"
    text = " ".join(line.strip() for line in str(error).strip().splitlines()[:3])
    text = text.strip().strip("\"'").strip()
    return text or _antlr_detail(error) or type(error).__name__


def _antlr_detail(error: BaseException) -> str:
    """Recovers line, column and token of an OpenQASM 3 syntax error.

    The OpenQASM 3 parser raises an empty exception for syntax errors; the position is only
    on the ANTLR exception it wraps.
    """
    cause: BaseException | None = error
    while cause is not None:
        for arg in cause.args:
            token = getattr(arg, "offendingToken", None)
            if token is not None:
                near = "the end of the text" if token.text == "<EOF>" else repr(token.text)
                return f"syntax error at line {token.line}, column {token.column}, near {near}"
        cause = cause.__cause__ or cause.__context__
    return ""
