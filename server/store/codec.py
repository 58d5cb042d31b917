"""How stores write jobs and times: a job snapshot as JSON, an instant as an integer.

The JSON keeps every field of ``Job`` (datetimes as ISO-8601 with their offset, enums by
value), so a snapshot read back equals the one written.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from ibmq_gateway.server.core.model import Job, JobFailure, QueueInfo, RunOptions
from ibmq_gateway.server.core.states import JobState

_UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def to_micros(moment: datetime) -> int:
    """Microseconds since the Unix epoch: sorts like the instants and loses nothing.

    Raises:
        ValueError: ``moment`` has no time zone, so it names no single instant.
    """
    if moment.utcoffset() is None:
        raise ValueError(f"a stored time needs a time zone: {moment.isoformat()}")
    return (moment - _UNIX_EPOCH) // _MICROSECOND


def from_micros(micros: int) -> datetime:
    """The UTC datetime ``micros`` microseconds after the Unix epoch."""
    return _UNIX_EPOCH + micros * _MICROSECOND


def encode_job(job: Job) -> str:
    """The job snapshot as compact JSON."""
    return json.dumps(_job_document(job), separators=(",", ":"))


def decode_job(text: str) -> Job:
    """The job snapshot that ``encode_job`` wrote."""
    data = json.loads(text)
    return Job(
        id=data["id"],
        backend=data["backend"],
        owner=data["owner"],
        state=JobState(data["state"]),
        created=datetime.fromisoformat(data["created"]),
        name=data["name"],
        tags=tuple(data["tags"]),
        share_level=data["share_level"],
        scheduling_mode=data["scheduling_mode"],
        experiment_id=data["experiment_id"],
        header=data["header"],
        run_options=RunOptions(**data["run_options"]),
        client_info=data["client_info"],
        circuit_count=data["circuit_count"],
        steps={step: datetime.fromisoformat(at) for step, at in data["steps"].items()},
        queue=_decode_queue(data["queue"]),
        error=JobFailure(**data["error"]) if data["error"] is not None else None,
        request_id=data["request_id"],
        owner_hub=data["owner_hub"],
        owner_group=data["owner_group"],
        owner_project=data["owner_project"],
        sequence=data["sequence"],
        revision=data["revision"],
        # Absent from snapshots written before jobs could run at IBM.
        provider_job_id=data.get("provider_job_id", ""),
    )


def _job_document(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "backend": job.backend,
        "owner": job.owner,
        "state": job.state.value,
        "created": job.created.isoformat(),
        "name": job.name,
        "tags": list(job.tags),
        "share_level": job.share_level,
        "scheduling_mode": job.scheduling_mode,
        "experiment_id": job.experiment_id,
        "header": job.header,
        "run_options": _encode_run_options(job.run_options),
        "client_info": job.client_info,
        "circuit_count": job.circuit_count,
        "steps": {step: at.isoformat() for step, at in job.steps.items()},
        "queue": _encode_queue(job.queue),
        "error": _encode_failure(job.error),
        "request_id": job.request_id,
        "owner_hub": job.owner_hub,
        "owner_group": job.owner_group,
        "owner_project": job.owner_project,
        "sequence": job.sequence,
        "revision": job.revision,
        "provider_job_id": job.provider_job_id,
    }


def _encode_run_options(options: RunOptions) -> dict[str, Any]:
    return {
        "shots": options.shots,
        "memory": options.memory,
        "seed_simulator": options.seed_simulator,
        "extra": options.extra,
    }


def _encode_queue(queue: QueueInfo | None) -> dict[str, Any] | None:
    if queue is None:
        return None
    return {
        "position": queue.position,
        "estimated_start": _optional_time_text(queue.estimated_start),
        "estimated_complete": _optional_time_text(queue.estimated_complete),
        "scope": queue.scope,
    }


def _decode_queue(data: dict[str, Any] | None) -> QueueInfo | None:
    if data is None:
        return None
    return QueueInfo(
        position=data["position"],
        estimated_start=_optional_time(data["estimated_start"]),
        estimated_complete=_optional_time(data["estimated_complete"]),
        scope=data["scope"],
    )


def _encode_failure(error: JobFailure | None) -> dict[str, Any] | None:
    if error is None:
        return None
    return {"code": error.code, "reason": error.reason, "message": error.message}


def _optional_time_text(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _optional_time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text is not None else None
