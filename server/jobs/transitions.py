"""Single steps of a job's life, as pure functions the manager composes.

A move to a state, the rules on who may change a job and when its result can be read,
what a new job and its idempotency key look like, and the parsing of its circuits.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ibmq_gateway.server.core.errors import (
    FailedPreconditionError,
    FieldViolation,
    InvalidArgumentError,
    PermissionDeniedError,
)
from ibmq_gateway.server.core.model import Job, JobFailure, QueueInfo, RequestKey, User
from ibmq_gateway.server.core.states import JobState, can_move
from ibmq_gateway.server.jobs.circuit_formats import InvalidCircuitsError

if TYPE_CHECKING:
    from ibmq_gateway.server.jobs.submission import Submission


def to_state(
    target: JobState,
    failure: JobFailure | None = None,
    queue: QueueInfo | None = None,
    at: datetime | None = None,
) -> Callable[[Job], Job | None]:
    """A change that moves a job to ``target`` if the lifecycle allows it; its step is
    stamped ``at``, or when the move is made."""

    def move(job: Job) -> Job | None:
        if not can_move(job.state, target):
            return None
        steps = {**job.steps, target.value: at or datetime.now(UTC)}
        return replace(job, state=target, steps=steps, error=failure, queue=queue)

    return move


BACKEND_GONE = 1201
_FAILED_BEFORE_RUNNING = {
    JobState.CREATING: JobState.ERROR_CREATING_JOB,
    JobState.VALIDATING: JobState.ERROR_VALIDATING_JOB,
    JobState.VALIDATED: JobState.ERROR_VALIDATING_JOB,
}


def backend_gone(job: Job) -> Callable[[Job], Job | None]:
    """The move that ends a job whose backend the gateway no longer offers."""
    failure = JobFailure(
        BACKEND_GONE,
        "BACKEND_NOT_OFFERED",
        f"backend {job.backend!r} is no longer offered by this gateway; "
        "resubmit the job to another backend",
    )
    return to_state(_FAILED_BEFORE_RUNNING.get(job.state, JobState.ERROR_RUNNING_JOB), failure)


def new_job(submission: Submission, owner: User) -> Job:
    now = datetime.now(UTC)
    return Job(
        id=uuid.uuid4().hex,
        backend=submission.backend,
        owner=owner.name,
        owner_hub=owner.hub,
        owner_group=owner.group,
        owner_project=owner.project,
        state=JobState.CREATING,
        created=now,
        name=submission.name,
        tags=submission.tags,
        share_level=submission.share_level,
        experiment_id=submission.experiment_id,
        header=submission.header,
        run_options=submission.run_options,
        client_info=submission.client_info,
        circuit_count=len(submission.circuits),
        steps={JobState.CREATING.value: now},
        request_id=submission.request_id,
    )


def request_key(submission: Submission, owner: str) -> RequestKey | None:
    if not submission.request_id:
        return None
    return RequestKey(owner, submission.request_id, submission.fingerprint())


def circuits_refused(error: InvalidCircuitsError) -> InvalidArgumentError:
    """The answer to a submission whose circuits ``error`` found invalid."""
    violations = [FieldViolation(f"circuits[{v.index}]", v.message) for v in error.violations]
    return InvalidArgumentError(
        "; ".join(v.description for v in violations), violations, reason="INVALID_CIRCUIT"
    )


def changeable(job: Job, user: User, action: str) -> Job:
    if not user.can_change(job):
        raise PermissionDeniedError(
            f"only the owner of job {job.id} ({job.owner}) or an admin may {action} it",
            reason="NOT_JOB_OWNER",
        )
    return job


def already_final(job: Job) -> FailedPreconditionError:
    return FailedPreconditionError(
        f"job {job.id} is already {job.state} and cannot be cancelled",
        reason="JOB_ALREADY_FINAL",
        metadata={"job_id": job.id, "state": job.state.value},
    )


def check_result_readable(job: Job, allow_partial: bool) -> None:
    if not job.final:
        raise FailedPreconditionError(
            f"job {job.id} is {job.state}; its result exists once it is COMPLETED",
            reason="RESULT_NOT_READY",
        )
    if job.state == JobState.CANCELLED:
        raise FailedPreconditionError(
            f"job {job.id} was cancelled; it has no result", reason="JOB_CANCELLED"
        )
    if job.state != JobState.COMPLETED and not allow_partial:
        message = job.error.message if job.error else job.state.value
        raise FailedPreconditionError(
            f"job {job.id} failed: {message}; ask with allow_partial for what finished",
            reason="JOB_FAILED",
        )
