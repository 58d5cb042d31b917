"""Qiskit results as the gateway stores and serves them: ``JobResult`` messages and documents.

A document is the ``JobResult`` message as JSON-ready data (``MessageToDict`` with proto field
names): the store keeps documents and the service parses them back into messages. Counts and
memory are the bit strings qiskit prints (``Result.get_counts``), registers separated by spaces.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import Enum
from typing import TYPE_CHECKING, Any

import numpy as np
from google.protobuf import json_format

from ibmq_gateway.v1 import result_pb2

if TYPE_CHECKING:
    from qiskit.result import Result

_DROP = object()
"""Marks a value that JSON (a protobuf Struct) cannot represent."""
_INT_LIMIT = int(sys.float_info.max)
"""Integers beyond a double's range cannot go into a Struct."""
QUICK_OUTCOMES = 64
"""Distinct outcomes in a result up to which it is encoded where it is asked for (on the
event loop): a Bell job's 4 take about 0.15 ms, 64 about 0.3 ms, 256 about 0.7 ms; a hop to
a thread and back cost 0.2 to 0.5 ms in a busy gateway."""


def encodes_quickly(result: Result) -> bool:
    """Whether ``result`` is small enough to encode at once: few outcomes, no per-shot memory."""
    outcomes = 0
    for experiment in result.results:
        data = experiment.data
        if getattr(data, "memory", None) is not None:
            return False
        outcomes += len(getattr(data, "counts", None) or {})
    return outcomes <= QUICK_OUTCOMES


def result_to_document(
    result: Result, *, job_id: str, backend: str, partial: bool, header: dict[str, Any]
) -> dict[str, Any]:
    """Converts a qiskit result to the stored form of a ``JobResult`` message.

    Args:
        result: What the backend returned.
        job_id: The gateway job's id.
        backend: The gateway's name of the backend.
        partial: True when the job failed and these are the circuits that finished.
        header: The job header given at submission.

    Returns:
        ``MessageToDict`` of the message, with proto field names.
    """
    message = result_to_proto(
        result, job_id=job_id, backend=backend, partial=partial, header=header
    )
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def document_to_proto(document: dict[str, Any]) -> result_pb2.JobResult:
    """Parses a stored document back into its ``JobResult`` message.

    Args:
        document: What ``result_to_document`` returned.

    Returns:
        The message.
    """
    return json_format.ParseDict(document, result_pb2.JobResult())


def result_to_proto(
    result: Result, *, job_id: str, backend: str, partial: bool, header: dict[str, Any]
) -> result_pb2.JobResult:
    """Converts a qiskit result to a ``JobResult`` message.

    Args:
        result: What the backend returned.
        job_id: The gateway job's id.
        backend: The gateway's name of the backend (Aer names its own differently).
        partial: True when the job failed and these are the circuits that finished.
        header: The job header given at submission.

    Returns:
        The message, one experiment per circuit in submission order.
    """
    experiments = [_experiment(result, index) for index in range(len(result.results))]
    message = result_pb2.JobResult(
        job_id=job_id,
        backend_name=backend,
        backend_version=str(getattr(result, "backend_version", "") or ""),
        success=bool(experiments) and all(experiment.success for experiment in experiments),
        partial=partial,
        results=experiments,
        time_taken=float(getattr(result, "time_taken", 0.0) or 0.0),
    )
    message.date.FromDatetime(_result_date(result))
    message.header.update(_plain_dict(header))
    return message


def _experiment(result: Result, index: int) -> result_pb2.ExperimentResult:
    experiment = result.results[index]
    message = result_pb2.ExperimentResult(
        success=bool(experiment.success),
        shots=experiment.shots if isinstance(experiment.shots, int) else 0,
        status=str(getattr(experiment, "status", "") or ""),
        time_taken=float(getattr(experiment, "time_taken", 0.0) or 0.0),
    )
    seed = getattr(experiment, "seed_simulator", None)
    if isinstance(seed, int | np.integer):
        message.seed_simulator = int(seed)
    message.header.update(_plain_dict(_as_dict(getattr(experiment, "header", None))))
    message.metadata.update(_plain_dict(_as_dict(getattr(experiment, "metadata", None))))
    if experiment.success:
        _add_outcomes(message, result, index)
    return message


def _add_outcomes(message: result_pb2.ExperimentResult, result: Result, index: int) -> None:
    """Adds counts and memory, formatted by qiskit from the experiment's header."""
    data = result.results[index].data
    if getattr(data, "counts", None) is not None:
        message.counts.update({key: int(count) for key, count in result.get_counts(index).items()})
    if getattr(data, "memory", None) is not None:
        memory = result.get_memory(index)
        # Only classified (level 2) memory is bit strings; other levels have no field here.
        if all(isinstance(shot, str) for shot in memory):
            message.memory.extend(memory)


def _result_date(result: Result) -> datetime:
    value = getattr(result, "date", None)
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            value = None
    if not isinstance(value, datetime):
        return datetime.now(UTC)
    # Aer stamps results with the local time and no zone.
    return value.astimezone(UTC)


def _as_dict(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if hasattr(value, "to_dict"):
        value = value.to_dict()
    return dict(value) if isinstance(value, Mapping) else {}


def _plain_dict(value: Mapping[Any, Any]) -> dict[str, Any]:
    plain = _plain(value)
    return plain if isinstance(plain, dict) else {}


def _plain(value: Any) -> Any:
    """``value`` as JSON-ready Python data, or ``_DROP`` when it has no JSON form."""
    if isinstance(value, np.generic | np.ndarray):
        value = value.tolist()
    if isinstance(value, Enum):
        value = value.value
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value if abs(value) < _INT_LIMIT else _DROP
    if isinstance(value, float):
        return value if math.isfinite(value) else _DROP
    if isinstance(value, Mapping):
        items = ((str(key), _plain(item)) for key, item in value.items())
        return {key: item for key, item in items if item is not _DROP}
    if isinstance(value, list | tuple | set | frozenset):
        return [item for item in map(_plain, value) if item is not _DROP]
    return _DROP
