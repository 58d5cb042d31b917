"""What a cluster worker runs: one chunk of a job's circuits on one local backend.

Everything crosses the wire as plain data: circuits as QPY bytes, the backend as its name
(the worker builds the fake device and its noise itself), run options as a dict, and the
result as qiskit's ``Result.to_dict()``. The worker needs ``ibmq-gateway[server]`` installed
(the same image as the gateway), but this module holds no gateway state: it reuses the
in-process executor's ``simulate``, so both run the very same Aer call.
"""

from __future__ import annotations

import io
from typing import Any

from qiskit import qpy

from ibmq_gateway.server.core.model import RunOptions
from ibmq_gateway.server.executors.local.executor import simulate


def simulate_chunk(
    backend: str, circuits_qpy: bytes, options: dict[str, Any], default_shots: int
) -> dict[str, Any]:
    """Simulates one chunk of circuits in this worker process.

    Args:
        backend: ``aer_simulator`` or a fake device name.
        circuits_qpy: The chunk's circuits, QPY-encoded.
        options: ``shots``, ``memory``, ``seed_simulator`` (the chunk's own) and ``extra``.
        default_shots: Shots when the options give none.

    Returns:
        Aer's result as ``Result.to_dict()``, failed experiments included.
    """
    circuits = qpy.load(io.BytesIO(circuits_qpy))
    run_options = RunOptions(
        shots=options.get("shots"),
        memory=options.get("memory"),
        seed_simulator=options.get("seed_simulator"),
        extra=dict(options.get("extra") or {}),
    )
    result = simulate(backend, list(circuits), run_options, default_shots)
    document: dict[str, Any] = result.to_dict()
    return document
