"""IBM Quantum's sampler results as the legacy qiskit ``Result`` a local backend returns.

IBM's SamplerV2 returns one ``BitArray`` per classical register and circuit, while the gateway
stores and serves legacy ``Result`` objects: clients see the same counts and memory, registers
separated by spaces with the last-declared one leftmost, as they would from Aer. This module
rebuilds, per circuit, the classical memory Aer would have reported (clbit ``k`` of the circuit
is bit ``k`` of each shot's value) and stores it in hexadecimal with Aer's experiment header,
so that ``Result.get_counts`` and ``Result.get_memory`` format it as they do Aer's.

The work per shot is done with numpy: a job may hold 300 circuits of 100,000 shots each.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from qiskit.circuit import ParameterExpression
from qiskit.primitives import BitArray
from qiskit.result import Result

if TYPE_CHECKING:
    from collections.abc import Sequence

    from numpy.typing import NDArray
    from qiskit import QuantumCircuit
    from qiskit.circuit import ClassicalRegister
    from qiskit.primitives import DataBin, PrimitiveResult, SamplerPubResult


def sampler_to_result(
    primitive: PrimitiveResult,
    circuits: Sequence[QuantumCircuit],
    *,
    backend_name: str,
    backend_version: str,
    job_id: str,
    memory: bool,
) -> Result:
    """Converts a SamplerV2 result into the ``Result`` Aer would give for the same bit strings.

    Args:
        primitive: The sampler's result, one pub per circuit, each without a parameter sweep.
        circuits: The circuits the pubs ran, in the same order; their classical registers give
            the order and sizes of the registers in counts and memory.
        backend_name: The backend's name, as the result reports it.
        backend_version: The backend's version, as the result reports it.
        job_id: The job's id, as the result reports it.
        memory: Whether to include each shot's outcome, as ``memory=True`` does on Aer.

    Returns:
        One successful experiment per circuit, named after it. As on Aer, a circuit without
        classical registers has neither counts nor memory.

    Raises:
        ValueError: The result does not match the circuits: another number of pubs, a pub with
            a parameter sweep, or a register missing from its pub or of another size.
    """
    pubs = list(primitive)
    if len(pubs) != len(circuits):
        raise ValueError(
            f"The sampler returned {len(pubs)} pub result(s) for {len(circuits)} circuit(s)."
        )
    job_shots = _job_shots(pubs)
    experiments = [
        _experiment(index, pub, circuit, memory=memory, job_shots=job_shots)
        for index, (pub, circuit) in enumerate(zip(pubs, circuits, strict=True))
    ]
    return Result.from_dict(
        {
            "backend_name": backend_name,
            "backend_version": backend_version,
            "job_id": job_id,
            "success": True,
            "status": "COMPLETED",
            "results": experiments,
            "metadata": dict(primitive.metadata),
        }
    )


def _job_shots(pubs: Sequence[SamplerPubResult]) -> int:
    """The shots of the first pub with a bit array: pubs without registers may not say."""
    for pub in pubs:
        for value in pub.data.values():
            if isinstance(value, BitArray):
                return int(value.num_shots)
    return 0


def _experiment(
    index: int, pub: SamplerPubResult, circuit: QuantumCircuit, *, memory: bool, job_shots: int
) -> dict[str, Any]:
    """One circuit's experiment, as ``ExperimentResult.from_dict`` takes it."""
    # Only bit arrays count shots, and a pub without registers has none.
    shots = int(pub.metadata.get("shots", job_shots))
    data: dict[str, Any] = {}
    if circuit.cregs:
        values = _shot_values(index, pub.data, circuit)
        shots = len(values)
        keys, counts, inverse = _hex_outcomes(values)
        data["counts"] = dict(zip(keys, counts.tolist(), strict=True))
        if memory:
            data["memory"] = np.asarray(keys, dtype=object)[inverse].tolist()
    return {
        "shots": shots,
        "success": True,
        "status": "DONE",
        "data": data,
        "header": _header(circuit),
        "metadata": dict(pub.metadata),
    }


def _shot_values(index: int, data: DataBin, circuit: QuantumCircuit) -> NDArray[np.uint8]:
    """Each shot's classical memory as big-endian bytes, clbit ``k`` of the circuit at bit ``k``.

    Placing bits by their index in the circuit, not by register, is what Aer does: registers
    declared one after the other land in consecutive bits, the first in the lowest. Rows are
    8 bytes wide, or a multiple of 8 beyond 64 clbits, so that they read as 64-bit words.
    """
    if data.shape != ():
        raise ValueError(
            f"The pub of circuit {index} has shape {data.shape}: a parameter sweep, where the "
            "gateway expects one result per circuit."
        )
    registers = [(register, _register_bits(index, data, register)) for register in circuit.cregs]
    shots = len(registers[0][1])
    width = max(64, -(-circuit.num_clbits // 64) * 64)
    bits = np.zeros((shots, width), dtype=np.uint8)
    for register, register_bits in registers:
        if len(register_bits) != shots:
            raise ValueError(
                f"Register {register.name!r} of circuit {index} has {len(register_bits)} shots "
                f"where its first register has {shots}."
            )
        bits[:, [width - 1 - circuit.find_bit(bit).index for bit in register]] = register_bits
    # Packing the flat buffer, as rows are whole bytes: along axis 1 numpy is 80x slower.
    return np.packbits(bits.reshape(-1)).reshape(shots, -1)


def _register_bits(index: int, data: DataBin, register: ClassicalRegister) -> NDArray[np.uint8]:
    """The register's bits per shot, one column per bit, bit ``i`` in column ``i``."""
    if register.name not in data:
        raise ValueError(
            f"The sampler returned no data for register {register.name!r} of circuit {index}: "
            f"it has {sorted(data.keys())}."
        )
    array = data[register.name]
    if not isinstance(array, BitArray) or array.num_bits != register.size:
        raise ValueError(
            f"The sampler's data for register {register.name!r} of circuit {index} is not "
            f"{register.size} classified bits per shot: {array!r}."
        )
    # BitArray bytes are big-endian: reversed, bit i of the register is bit i of the row. The
    # flat buffer unpacks 10x faster than along axis 1 when rows are a byte or two.
    rows = np.ascontiguousarray(array.array[:, ::-1])
    bits = np.unpackbits(rows.reshape(-1), bitorder="little").reshape(len(rows), -1)
    return bits[:, : register.size]


def _hex_outcomes(
    values: NDArray[np.uint8],
) -> tuple[list[str], NDArray[np.intp], NDArray[np.intp]]:
    """The distinct outcomes as Aer's hex strings, their counts, and each shot's outcome."""
    row_bytes = values.shape[1]
    # One item per row, as np.unique(axis=0) compares rows several times slower. Big-endian
    # bytes sort as the numbers they hold.
    item = np.dtype(">u8") if row_bytes == 8 else np.dtype((np.void, row_bytes))
    rows = np.ascontiguousarray(values).view(item).reshape(-1)
    outcomes, inverse, counts = np.unique(rows, return_inverse=True, return_counts=True)
    text = outcomes.tobytes().hex()
    step = 2 * row_bytes
    keys = ["0x" + (text[at : at + step].lstrip("0") or "0") for at in range(0, len(text), step)]
    return keys, counts, inverse.reshape(-1)


def _header(circuit: QuantumCircuit) -> dict[str, Any]:
    """The experiment header Aer writes, from which qiskit formats counts and memory."""
    phase = circuit.global_phase
    unbound = isinstance(phase, ParameterExpression) and bool(phase.parameters)
    return {
        "name": circuit.name,
        "n_qubits": circuit.num_qubits,
        "qreg_sizes": [[register.name, register.size] for register in circuit.qregs],
        "memory_slots": circuit.num_clbits,
        "creg_sizes": [[register.name, register.size] for register in circuit.cregs],
        "global_phase": 0.0 if unbound else float(phase),
        "metadata": dict(circuit.metadata or {}),
    }
