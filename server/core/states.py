"""The job lifecycle: states, which are final, and which moves between them are allowed."""

from __future__ import annotations

from enum import StrEnum


class JobState(StrEnum):
    """A gateway job's state; the value is the step name used in ``time_per_step``."""

    CREATING = "CREATING"
    VALIDATING = "VALIDATING"
    VALIDATED = "VALIDATED"
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"
    ERROR_CREATING_JOB = "ERROR_CREATING_JOB"
    ERROR_VALIDATING_JOB = "ERROR_VALIDATING_JOB"
    ERROR_RUNNING_JOB = "ERROR_RUNNING_JOB"

    @property
    def final(self) -> bool:
        """True when the job can no longer change state."""
        return self in FINAL_STATES


ERROR_STATES = frozenset(
    {JobState.ERROR_CREATING_JOB, JobState.ERROR_VALIDATING_JOB, JobState.ERROR_RUNNING_JOB}
)
FINAL_STATES = frozenset({JobState.COMPLETED, JobState.CANCELLED}) | ERROR_STATES
ACTIVE_STATES = frozenset(JobState) - FINAL_STATES

_CANCELLABLE = frozenset(ACTIVE_STATES)

# Every allowed move. RUNNING -> QUEUED is the recovery path: a job that was running on a
# local backend when the gateway stopped goes back to the queue and runs again.
TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.CREATING: frozenset(
        {JobState.VALIDATING, JobState.ERROR_CREATING_JOB, JobState.CANCELLED}
    ),
    JobState.VALIDATING: frozenset(
        {JobState.VALIDATED, JobState.ERROR_VALIDATING_JOB, JobState.CANCELLED}
    ),
    JobState.VALIDATED: frozenset(
        {JobState.QUEUED, JobState.CANCELLED, JobState.ERROR_VALIDATING_JOB}
    ),
    JobState.QUEUED: frozenset({JobState.RUNNING, JobState.CANCELLED, JobState.ERROR_RUNNING_JOB}),
    JobState.RUNNING: frozenset(
        {
            JobState.COMPLETED,
            JobState.ERROR_RUNNING_JOB,
            JobState.CANCELLED,
            JobState.QUEUED,
        }
    ),
    **{state: frozenset() for state in FINAL_STATES},
}


def can_move(source: JobState, target: JobState) -> bool:
    """Whether the lifecycle allows a move from ``source`` to ``target``."""
    return target in TRANSITIONS[source]


def cancellable(state: JobState) -> bool:
    """Whether a job in ``state`` can still be cancelled."""
    return state in _CANCELLABLE
