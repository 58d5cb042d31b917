"""Circuit files as they are: OpenQASM 2 or 3 text, or QPY, for ``GatewayBackend.run_files``.

OpenQASM text is sent as it is, so the gateway's parser judges it and names the line of any
mistake. A QPY file may hold several circuits; each one travels as its own QPY blob, as the
contract asks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from qiskit import qpy

from ibmq_gateway.client._messages import circuit_to_proto
from ibmq_gateway.client.exceptions import IBMQBackendValueError
from ibmq_gateway.v1 import job_pb2

if TYPE_CHECKING:
    from collections.abc import Iterable
    from os import PathLike

    from qiskit import QuantumCircuit

SUFFIXES = (".qasm", ".qpy")
# The version statement starts the program; comments may come before it.
_QASM_VERSION = re.compile(r"^\s*OPENQASM\s+(\d+)", re.MULTILINE)


class CircuitFileError(IBMQBackendValueError):
    """A file that holds no circuit the gateway can be sent."""


@dataclass(frozen=True)
class CircuitFile:
    """One circuit read from a file, ready to submit as it is."""

    label: str
    """What to call it in messages and histograms: the file name (and circuit name)."""
    message: job_pb2.Circuit
    """The circuit as the contract carries it: OpenQASM text or one QPY blob."""


def read_circuit_files(files: Iterable[str | PathLike[str] | CircuitFile]) -> list[CircuitFile]:
    """The circuits of several files, in order (see ``read_circuits``); ones read already
    are taken as they are."""
    return [
        circuit
        for file in files
        for circuit in ([file] if isinstance(file, CircuitFile) else read_circuits(Path(file)))
    ]


def read_circuits(path: Path) -> list[CircuitFile]:
    """The circuits in ``path``, chosen by its suffix (``.qasm`` or ``.qpy``).

    Raises:
        CircuitFileError: another suffix, text that is not UTF-8, or a file that is not QPY.
        OSError: the file cannot be read.
    """
    suffix = path.suffix.lower()
    if suffix == ".qasm":
        return [CircuitFile(path.name, qasm_circuit(_text(path)))]
    if suffix == ".qpy":
        circuits = _load_qpy(path)
        return [CircuitFile(f"{path.name}: {c.name}", circuit_to_proto(c)) for c in circuits]
    raise CircuitFileError(f"{path}: unknown kind of file; use .qasm (OpenQASM 2 or 3) or .qpy")


def qasm_circuit(text: str) -> job_pb2.Circuit:
    """OpenQASM text as a circuit message: version 2 when its header says so, else 3."""
    version = _QASM_VERSION.search(text)
    if version is not None and version.group(1) == "2":
        return job_pb2.Circuit(qasm2=text)
    return job_pb2.Circuit(qasm3=text)


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise CircuitFileError(f"{path}: not UTF-8 text, so not OpenQASM") from err


def _load_qpy(path: Path) -> list[QuantumCircuit]:
    with path.open("rb") as file:
        try:
            circuits = list(qpy.load(file))
        # A damaged file fails with whatever the decoder hit first: QiskitError for a bad
        # header, struct.error for a short read, ValueError or KeyError deeper in.
        except Exception as err:
            reason = getattr(err, "message", err)  # QiskitError's str() is a quoted repr
            raise CircuitFileError(
                f"{path}: not a QPY file this qiskit can read: {reason}"
            ) from err
    if not circuits:
        raise CircuitFileError(f"{path}: the QPY file holds no circuit")
    return circuits
