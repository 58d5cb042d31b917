"""The ``JobFilter`` of a job listing, from the arguments of ``jobs()``."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

from qiskit.providers import JobStatus

from ibmq_gateway.client._messages import states_for, to_timestamp
from ibmq_gateway.client._tags import validate_tags
from ibmq_gateway.client.exceptions import IBMQBackendValueError
from ibmq_gateway.v1 import job_pb2

if TYPE_CHECKING:
    from datetime import datetime

StatusArgument: TypeAlias = JobStatus | str | list[JobStatus | str]

_TAG_MATCH = {"OR": job_pb2.TAG_MATCH_ANY, "AND": job_pb2.TAG_MATCH_ALL}


def job_filter(
    *,
    backend_name: str | None = None,
    status: StatusArgument | None = None,
    job_name: str | None = None,
    start_datetime: datetime | None = None,
    end_datetime: datetime | None = None,
    job_tags: list[str] | None = None,
    job_tags_operator: str | None = "OR",
    experiment_id: str | None = None,
) -> job_pb2.JobFilter:
    """Builds the filter of a listing; see ``BackendService.jobs`` for the arguments.

    Raises:
        IBMQBackendValueError: a status, the tags or the tag operator is invalid.
    """
    validate_tags(job_tags, IBMQBackendValueError)
    message = job_pb2.JobFilter(
        backend=backend_name or "",
        states=_states(status),
        name_pattern=job_name or "",
        tags=job_tags or [],
        tag_match=_tag_match(job_tags_operator) if job_tags else job_pb2.TAG_MATCH_UNSPECIFIED,
        experiment_id=experiment_id or "",
    )
    # Naive datetimes are local times, as in qiskit-ibmq-provider.
    if start_datetime is not None:
        message.created_after.CopyFrom(to_timestamp(start_datetime))
    if end_datetime is not None:
        message.created_before.CopyFrom(to_timestamp(end_datetime))
    return message


def _states(status: StatusArgument | None) -> list[job_pb2.JobState]:
    if status is None:
        return []
    wanted = status if isinstance(status, list) else [status]
    states: list[job_pb2.JobState] = []
    for item in wanted:
        states.extend(state for state in states_for(_job_status(item)) if state not in states)
    return states


def _job_status(value: JobStatus | str) -> JobStatus:
    if isinstance(value, JobStatus):
        return value
    try:
        return JobStatus[str(value).upper()]
    except KeyError:
        valid = ", ".join(status.name for status in JobStatus)
        raise IBMQBackendValueError(
            f'"{value}" is not a valid status value. Valid values are {valid}'
        ) from None


def _tag_match(operator: str | None) -> job_pb2.TagMatch:
    match = _TAG_MATCH.get((operator or "").upper())
    if match is None:
        raise IBMQBackendValueError(
            f'"{operator}" is not a valid job_tags_operator value. Valid values are "AND" and "OR"'
        )
    return match
