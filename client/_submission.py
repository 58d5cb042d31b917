"""A ``SubmitJobRequest`` from what ``GatewayBackend.run`` and ``run_files`` were given."""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING, Any

import qiskit
from qiskit import QuantumCircuit

from ibmq_gateway.client import _messages
from ibmq_gateway.client._rpc import client_version
from ibmq_gateway.client._tags import validate_tags
from ibmq_gateway.client.exceptions import IBMQBackendValueError
from ibmq_gateway.v1 import job_pb2, job_service_pb2

if TYPE_CHECKING:
    from collections.abc import Sequence


def submit_request(
    backend: str,
    circuits: list[job_pb2.Circuit],
    job_name: str | None,
    job_share_level: str | None,
    job_tags: list[str] | None,
    experiment_id: str | None,
    header: dict[str, Any] | None,
    run_options: job_pb2.RunOptions,
) -> job_service_pb2.SubmitJobRequest:
    """The request of one new job, with a fresh request id.

    Raises:
        IBMQBackendValueError: the tags, the share level or the header are invalid.
    """
    validate_tags(job_tags, IBMQBackendValueError)
    return job_service_pb2.SubmitJobRequest(
        request_id=str(uuid.uuid4()),
        backend=backend,
        circuits=circuits,
        run_options=run_options,
        name=job_name or "",
        tags=job_tags or [],
        share_level=_share_level(job_share_level),
        experiment_id=experiment_id or "",
        header=_struct(header or {}, "header"),
        client_info={"ibmq-gateway": client_version(), "qiskit": qiskit.__version__},
    )


def name_files(message: str, labels: list[str]) -> str:
    """``message`` with each ``circuits[i]`` it names replaced by that circuit's file."""

    def label(match: re.Match[str]) -> str:
        index = int(match.group(1))
        return labels[index] if index < len(labels) else match.group(0)

    return re.sub(r"circuits\[(\d+)\]", label, message)


def circuit_list(circuits: QuantumCircuit | Sequence[QuantumCircuit]) -> list[QuantumCircuit]:
    batch = [circuits] if isinstance(circuits, QuantumCircuit) else list(circuits)
    if not batch or not all(isinstance(circuit, QuantumCircuit) for circuit in batch):
        raise IBMQBackendValueError("run() takes a QuantumCircuit or a list of them.")
    return batch


def _share_level(level: str | None) -> job_pb2.ShareLevel:
    if level is None:
        return job_pb2.SHARE_LEVEL_UNSPECIFIED
    value = _messages.SHARE_LEVELS.get(str(level).lower())
    if value is None:
        valid = ", ".join(_messages.SHARE_LEVELS)
        raise IBMQBackendValueError(
            f'"{level}" is not a valid job share level. Valid values are {valid}.'
        )
    return value


def _struct(value: dict[str, Any], what: str) -> Any:
    try:
        return _messages.dict_to_struct(value)
    except (TypeError, ValueError) as err:
        raise IBMQBackendValueError(f"The {what} cannot be sent: {err}") from err
