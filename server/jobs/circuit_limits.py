"""Bounds on one submitted circuit, checked before its parser runs and again after it.

A parser's time and memory follow what a payload declares, not its length: seven changed
bytes of a QPY header make a 2-qubit circuit declare ten million qubits, which takes the
loader 14 s and 2.5 GB. So the sizes a payload declares are read first (QPY's circuit
header; OpenQASM's register declarations and statement count) and refused past the limits;
the parsed circuit is checked again, counting each ``for`` loop's body once per iteration,
since that is what a simulator runs.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

from qiskit.circuit import ForLoopOp

if TYPE_CHECKING:
    from qiskit import QuantumCircuit

    from ibmq_gateway.server.core.model import CircuitSource


@dataclass(frozen=True)
class CircuitLimits:
    """The largest circuit the gateway reads (settings ``max_circuit_*``)."""

    qubits: int = 1_000
    """Qubits (and, separately, classical bits) a circuit may declare."""
    operations: int = 1_000_000
    """Operations a circuit may hold, each loop body counted once per iteration."""


class CircuitTooLargeError(Exception):
    """A circuit is past a limit; the message names the limit and the circuit's figure."""


def check_source(source: CircuitSource, limits: CircuitLimits) -> None:
    """Refuses a payload whose declared sizes are past ``limits``, before any parsing."""
    if source.format == "qpy":
        _check_qpy_header(source.payload, limits)
    elif source.format in ("qasm2", "qasm3"):
        _check_qasm_text(source.payload, limits)


def check_circuit(circuit: QuantumCircuit, limits: CircuitLimits) -> None:
    """Refuses a parsed circuit past ``limits``."""
    _within("qubits", circuit.num_qubits, limits.qubits)
    _within("classical bits", circuit.num_clbits, limits.qubits)
    _within("operations", _operations(circuit, limits.operations), limits.operations)


def _within(what: str, value: int, limit: int) -> None:
    if value > limit:
        raise CircuitTooLargeError(f"the circuit has {value} {what}; the gateway takes {limit}")


def _operations(circuit: QuantumCircuit, ceiling: int) -> int:
    """Operations a run executes, stopping early once past ``ceiling``."""
    total = 0
    for instruction in circuit.data:
        operation = instruction.operation
        repeats = len(operation.params[0]) if isinstance(operation, ForLoopOp) else 1
        inner = sum(_operations(block, ceiling) for block in getattr(operation, "blocks", ()))
        total += repeats * inner if inner else 1
        if total > ceiling:
            return total
    return total


# QPY's file header (version 10 on): magic, version, qiskit's version, program count,
# symbolic encoding; then the program's type key. From version 16 a length precedes the
# circuit header. The circuit header then starts: name size (H), phase type (c), phase size
# (H), qubits (I), classical bits (I), metadata size (Q), registers (I), instructions (Q).
_QPY_HEADER_OFFSET = dict.fromkeys(range(10, 16), 20) | {16: 28, 17: 28, 18: 28}
_QPY_SIZES = struct.Struct("!Hc H I I Q I Q")
_QPY_PROGRAMS = struct.Struct("!Q")


def _check_qpy_header(payload: bytes, limits: CircuitLimits) -> None:
    version = payload[6] if payload.startswith(b"QISKIT") and len(payload) > 6 else None
    if version is not None and version < min(_QPY_HEADER_OFFSET):
        # The loader still reads these, sizes unchecked, so they are refused here.
        raise ValueError(
            f"QPY version {version} is older than the gateway reads; send version 10 to 18 "
            "(qiskit 0.45 or later)"
        )
    offset = _QPY_HEADER_OFFSET.get(version) if version is not None else None
    # Anything else (newer versions, several programs, a short payload) is not one circuit
    # this header layout describes: the loader refuses it with its own message.
    if offset is None or len(payload) < offset + _QPY_SIZES.size:
        return
    if _QPY_PROGRAMS.unpack_from(payload, 10)[0] != 1:
        return
    fields = _QPY_SIZES.unpack_from(payload, offset)
    qubits, clbits, instructions = fields[3], fields[4], fields[7]
    _within("qubits", qubits, limits.qubits)
    _within("classical bits", clbits, limits.qubits)
    _within("operations", instructions, limits.operations)


# Register declarations of OpenQASM 2 (qreg q[5]) and 3 (qubit[5] q), and their bits.
_QUBIT_DECLARATIONS = re.compile(rb"\bqreg\s+\w+\s*\[\s*(\d+)\s*\]|\bqubit\s*\[\s*(\d+)\s*\]")
_BIT_DECLARATIONS = re.compile(rb"\bcreg\s+\w+\s*\[\s*(\d+)\s*\]|\bbit\s*\[\s*(\d+)\s*\]")


def _check_qasm_text(payload: bytes, limits: CircuitLimits) -> None:
    # Every operation ends with a semicolon, so this bounds the parser's work from above
    # (apart from loops, which the parsed circuit is checked for).
    _within("statements", payload.count(b";"), limits.operations)
    _within("qubits", _declared(_QUBIT_DECLARATIONS, payload), limits.qubits)
    _within("classical bits", _declared(_BIT_DECLARATIONS, payload), limits.qubits)


def _declared(declarations: re.Pattern[bytes], payload: bytes) -> int:
    return sum(int(a or b) for a, b in declarations.findall(payload))
