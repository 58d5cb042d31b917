"""Proto <-> domain conversions for the servicers (the server's edge of the contract)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from google.protobuf import json_format, struct_pb2, timestamp_pb2

from ibmq_gateway.server.core.errors import FieldViolation, InvalidArgumentError
from ibmq_gateway.server.core.model import (
    CircuitSource,
    Job,
    JobEvent,
    JobQuery,
    QueueInfo,
    RunOptions,
)
from ibmq_gateway.server.core.states import JobState
from ibmq_gateway.server.jobs.submission import Submission
from ibmq_gateway.v1 import job_pb2, job_service_pb2

_SHARE_LEVELS: dict[int, str] = {
    job_pb2.SHARE_LEVEL_UNSPECIFIED: "none",
    job_pb2.SHARE_LEVEL_NONE: "none",
    job_pb2.SHARE_LEVEL_PROJECT: "project",
    job_pb2.SHARE_LEVEL_GROUP: "group",
    job_pb2.SHARE_LEVEL_HUB: "hub",
    job_pb2.SHARE_LEVEL_GLOBAL: "global",
}
_SCOPES = {"gateway": job_pb2.QUEUE_SCOPE_GATEWAY, "provider": job_pb2.QUEUE_SCOPE_PROVIDER}


# -- timestamps and structs ----------------------------------------------------------------


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def timestamp(moment: datetime) -> timestamp_pb2.Timestamp:
    """A proto Timestamp for an aware datetime (a naive one is taken as local time).

    What ``Timestamp.FromDatetime`` gives, in a quarter of its time: a job's message holds
    a stamp per step, and every event of every job sends one.
    """
    if moment.tzinfo is None:
        moment = moment.astimezone(UTC)
    since = moment - _EPOCH
    return timestamp_pb2.Timestamp(
        seconds=since.days * 86_400 + since.seconds, nanos=since.microseconds * 1000
    )


def moment(stamp: timestamp_pb2.Timestamp, field: str) -> datetime:
    """The aware UTC datetime of a proto Timestamp; one outside its range is INVALID_ARGUMENT.

    protobuf sends any seconds and nanos; only a converted one is checked (and raised).
    """
    try:
        return stamp.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError):
        raise InvalidArgumentError(
            f"{field} is not a valid time: seconds {stamp.seconds}, nanos {stamp.nanos}",
            [FieldViolation(field, "0001-01-01 to 9999-12-31, nanos 0 to 999,999,999")],
        ) from None


def struct(values: dict[str, Any]) -> struct_pb2.Struct:
    """A proto Struct holding JSON-like ``values``."""
    message = struct_pb2.Struct()
    message.update(values)
    return message


def from_struct(message: struct_pb2.Struct, field: str) -> dict[str, Any]:
    """The JSON-like dict of a proto Struct; NaN or an infinity in it is INVALID_ARGUMENT.

    A Struct's numbers are doubles, so a client can send what JSON cannot write.
    """
    try:
        return json_format.MessageToDict(message)
    except ValueError as error:
        raise InvalidArgumentError(
            f"{field} is not JSON: {error}",
            [FieldViolation(field, "numbers must be finite (no NaN or infinity)")],
        ) from None


# -- requests ------------------------------------------------------------------------------


def submission(request: job_service_pb2.SubmitJobRequest) -> Submission:
    """The domain form of a SubmitJob request."""
    return Submission(
        backend=request.backend,
        circuits=tuple(_circuit(c, index) for index, c in enumerate(request.circuits)),
        run_options=_run_options(request.run_options),
        name=request.name,
        tags=tuple(request.tags),
        share_level=_share_level(request.share_level),
        experiment_id=request.experiment_id,
        header=from_struct(request.header, "header"),
        client_info=dict(request.client_info),
        request_id=request.request_id,
    )


def query(message: job_pb2.JobFilter) -> JobQuery:
    """The domain form of a JobFilter; an invalid name pattern is INVALID_ARGUMENT."""
    _check_pattern(message.name_pattern)
    return JobQuery(
        backend=message.backend,
        states=frozenset(_state(value) for value in message.states),
        name_pattern=message.name_pattern,
        tags=tuple(message.tags),
        tags_all=message.tag_match == job_pb2.TAG_MATCH_ALL,
        created_after=_moment_if_set(message, "created_after"),
        created_before=_moment_if_set(message, "created_before"),
        experiment_id=message.experiment_id,
        owner=message.owner,
    )


def _moment_if_set(message: job_pb2.JobFilter, name: str) -> datetime | None:
    return moment(getattr(message, name), f"filter.{name}") if message.HasField(name) else None


def _circuit(message: job_pb2.Circuit, index: int) -> CircuitSource:
    kind = message.WhichOneof("program")
    if kind == "qpy":
        return CircuitSource("qpy", message.qpy)
    if kind in ("qasm3", "qasm2"):
        return CircuitSource(kind, getattr(message, kind).encode())
    raise InvalidArgumentError(
        f"circuits[{index}] is empty; set one of qasm3, qasm2 or qpy",
        [FieldViolation(f"circuits[{index}]", "set one of qasm3, qasm2 or qpy")],
        reason="INVALID_CIRCUIT",
    )


def _run_options(message: job_pb2.RunOptions) -> RunOptions:
    return RunOptions(
        shots=message.shots if message.HasField("shots") else None,
        memory=message.memory if message.HasField("memory") else None,
        seed_simulator=message.seed_simulator if message.HasField("seed_simulator") else None,
        extra=from_struct(message.extra, "run_options.extra"),
    )


def _share_level(value: int) -> str:
    if value not in _SHARE_LEVELS:
        raise InvalidArgumentError(
            f"share_level {value} is not a ShareLevel",
            [FieldViolation("share_level", "one of NONE, PROJECT, GROUP, HUB, GLOBAL")],
        )
    return _SHARE_LEVELS[value]


def _state(value: int) -> JobState:
    name = job_pb2.JobState.Name(value) if value in job_pb2.JobState.values() else ""
    if not name or value == job_pb2.JOB_STATE_UNSPECIFIED:
        raise InvalidArgumentError(
            f"filter.states holds {value}, which is not a job state",
            [FieldViolation("filter.states", "only JOB_STATE_* values other than UNSPECIFIED")],
        )
    return JobState(name.removeprefix("JOB_STATE_"))


def _check_pattern(pattern: str) -> None:
    try:
        re.compile(pattern)
    except re.error as error:
        raise InvalidArgumentError(
            f"filter.name_pattern is not a valid regular expression: {error}",
            [FieldViolation("filter.name_pattern", str(error))],
        ) from None


# -- responses -----------------------------------------------------------------------------


def job_message(job: Job, circuits: list[CircuitSource] | None = None) -> job_pb2.Job:
    """The proto of a job; ``circuits`` only for the full view."""
    message = job_pb2.Job(
        id=job.id,
        backend=job.backend,
        state="JOB_STATE_" + job.state.value,
        final=job.final,
        name=job.name,
        tags=job.tags,
        share_level="SHARE_LEVEL_" + job.share_level.upper(),
        scheduling_mode="SCHEDULING_MODE_" + job.scheduling_mode.upper(),
        experiment_id=job.experiment_id,
        create_time=timestamp(job.created),
        time_per_step={step: timestamp(at) for step, at in job.steps.items()},
        client_info=job.client_info,
        owner=job.owner,
        header=struct(job.header),
        run_options=_run_options_message(job.run_options),
        circuit_count=job.circuit_count,
        sequence=job.sequence,
        revision=job.revision,
        provider_job_id=job.provider_job_id,
    )
    if job.queue is not None:
        message.queue_info.CopyFrom(_queue_message(job.queue))
    if job.error is not None:
        message.error.CopyFrom(
            job_pb2.JobError(
                code=job.error.code, reason=job.error.reason, message=job.error.message
            )
        )
    message.circuits.extend(_circuit_message(c) for c in circuits or [])
    return message


def event_message(event: JobEvent) -> job_pb2.JobEvent:
    """The proto of a log entry."""
    return job_pb2.JobEvent(
        job_id=event.job_id,
        sequence=event.sequence,
        revision=event.revision,
        event_time=timestamp(event.time),
        type="JOB_EVENT_TYPE_" + event.type.value,
        job=job_message(event.job),
    )


def _queue_message(info: QueueInfo) -> job_pb2.QueueInfo:
    message = job_pb2.QueueInfo(scope=_SCOPES[info.scope])
    if info.position is not None:
        message.position = info.position
    if info.estimated_start is not None:
        message.estimated_start_time.CopyFrom(timestamp(info.estimated_start))
    if info.estimated_complete is not None:
        message.estimated_complete_time.CopyFrom(timestamp(info.estimated_complete))
    return message


def _run_options_message(options: RunOptions) -> job_pb2.RunOptions:
    message = job_pb2.RunOptions(extra=struct(options.extra))
    if options.shots is not None:
        message.shots = options.shots
    if options.memory is not None:
        message.memory = options.memory
    if options.seed_simulator is not None:
        message.seed_simulator = options.seed_simulator
    return message


def _circuit_message(source: CircuitSource) -> job_pb2.Circuit:
    if source.format == "qpy":
        return job_pb2.Circuit(qpy=source.payload)
    if source.format == "qasm2":
        return job_pb2.Circuit(qasm2=source.payload.decode())
    return job_pb2.Circuit(qasm3=source.payload.decode())
