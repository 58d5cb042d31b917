"""Backends and their qiskit ``Target`` as ``Backend`` messages, enough to rebuild the target.

Every operation of a target is kept by its qiskit name, including Aer's own instructions
(``save_statevector``, ``kraus``, ...): a name is all the message carries, and a client that
cannot build one of them can leave it out of the target it rebuilds.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from ibmq_gateway.v1 import backend_pb2

if TYPE_CHECKING:
    from qiskit.transpiler import Target

    from ibmq_gateway.server.executors.base import BackendInfo


def target_to_proto(target: Target) -> backend_pb2.Target:
    """Describes a qiskit target: its width, time resolution and every instruction.

    Args:
        target: The target to describe.

    Returns:
        The message. An instruction available on any qubits (qargs ``None``, as on Aer) has no
        properties; otherwise it has one entry per qubit tuple, with duration and error when
        the target knows them.
    """
    message = backend_pb2.Target(
        num_qubits=int(target.num_qubits or 0),
        instructions=[_instruction(name, target[name]) for name in target.operation_names],
    )
    if target.dt is not None:
        message.dt = float(target.dt)
    return message


def backend_to_proto(
    info: BackendInfo,
    *,
    pending_jobs: int,
    operational: bool,
    status_msg: str,
    concurrency: int,
    estimated_wait_s: float,
    average_run_s: float,
    include_target: bool = True,
) -> backend_pb2.Backend:
    """Describes a backend with its current status and the gateway's estimates.

    Args:
        info: What the executor says about the backend.
        pending_jobs: Jobs queued or running on it through the gateway.
        operational: Whether it takes jobs now.
        status_msg: Why it is not operational, or "active".
        concurrency: Jobs it runs at once through the gateway.
        estimated_wait_s: How long a job submitted now would wait, in seconds.
        average_run_s: The running average of a job's execution time, in seconds.
        include_target: False leaves the target out (listings stay small).

    Returns:
        The message.
    """
    message = backend_pb2.Backend(
        name=info.name,
        description=info.description,
        backend_version=info.version,
        simulator=info.simulator,
        local=info.local,
        num_qubits=info.num_qubits,
        status=backend_pb2.BackendStatus(
            operational=operational, status_msg=status_msg, pending_jobs=pending_jobs
        ),
        max_shots=info.max_shots,
        max_circuits=info.max_circuits,
        concurrency=concurrency,
        has_properties=info.has_properties,
    )
    message.estimated_wait.FromTimedelta(timedelta(seconds=estimated_wait_s))
    message.average_run_time.FromTimedelta(timedelta(seconds=average_run_s))
    if include_target:
        message.target.CopyFrom(target_to_proto(info.target))
    return message


def _instruction(name: str, by_qargs: dict[Any, Any]) -> backend_pb2.TargetInstruction:
    """One operation; ``by_qargs`` maps qubit tuples (or None) to their properties."""
    if None in by_qargs:
        return backend_pb2.TargetInstruction(name=name)
    return backend_pb2.TargetInstruction(
        name=name,
        properties=[_properties(qargs, props) for qargs, props in by_qargs.items()],
    )


def _properties(qargs: tuple[int, ...], props: Any) -> backend_pb2.InstructionProperties:
    duration = getattr(props, "duration", None)
    error = getattr(props, "error", None)
    return backend_pb2.InstructionProperties(
        qubits=list(qargs),
        duration=None if duration is None else float(duration),
        error=None if error is None else float(error),
    )
