"""One run of a job on its executor: what the executor reports, and how the run ended.

The manager starts a run when the scheduler gives the job a slot; ``execute`` runs it and
returns the ``Outcome`` to record (a final move with its result document, or a time to try
again); ``Reporter`` turns the executor's progress reports into job changes meanwhile.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ibmq_gateway.server.core.model import EventType, Job, JobFailure, QueueInfo
from ibmq_gateway.server.core.states import JobState
from ibmq_gateway.server.executors.base import ExecutionError, Executor, RetryLater
from ibmq_gateway.server.jobs.result_encoding import encodes_quickly, result_to_document
from ibmq_gateway.server.jobs.transitions import to_state

if TYPE_CHECKING:
    from qiskit import QuantumCircuit
    from qiskit.result import Result

log = logging.getLogger(__name__)

INTERNAL_FAILURE = 2000

Move = Callable[[Job], Job | None]
Change = Callable[[Move, EventType], Awaitable[Job | None]]
"""Records a move of one job as an event of the given type (the manager's ``_change``)."""


@dataclasses.dataclass(frozen=True)
class Outcome:
    """How a run ended: the final move and result to store, or when to try again."""

    move: Move | None
    result: dict[str, Any] | None
    retry_at: float | None = None
    """``time.monotonic()`` before which the job may not be sent again (it was refused)."""


async def execute(
    executor: Executor,
    job: Job,
    circuits: Callable[[], Awaitable[list[QuantumCircuit]]],
    reporter: Reporter,
) -> Outcome:
    """Runs the job; returns the change to record (not yet recorded)."""
    try:
        result = await executor.run(job, await circuits(), reporter)
    except RetryLater as later:
        log.info("job %s goes back in the queue: %s", job.id, later.message)
        await reporter.requeued()
        return Outcome(None, None, retry_at=later.until)
    except ExecutionError as error:
        failure = JobFailure(error.code, error.reason, error.message)
        partial = await _document(job, error.partial, partial=True)
        return Outcome(to_state(JobState.ERROR_RUNNING_JOB, failure), partial)
    except Exception as error:
        log.exception("job %s failed inside the gateway", job.id)
        message = f"the gateway failed to run it: {error}"
        failure = JobFailure(INTERNAL_FAILURE, "INTERNAL", message)
        return Outcome(to_state(JobState.ERROR_RUNNING_JOB, failure), None)
    return Outcome(to_state(JobState.COMPLETED), await _document(job, result, partial=False))


async def _document(job: Job, result: Result | None, *, partial: bool) -> dict[str, Any] | None:
    if result is None:
        return None
    encode = functools.partial(
        result_to_document,
        result,
        job_id=job.id,
        backend=job.backend,
        partial=partial,
        header=job.header,
    )
    # A large result would hold up the event loop; a small one costs less than the hop.
    return encode() if encodes_quickly(result) else await asyncio.to_thread(encode)


class Reporter:
    """Turns an executor's progress reports into changes of one job."""

    def __init__(self, change: Change) -> None:
        self._change = change

    async def running(self) -> None:
        await self._change(to_state(JobState.RUNNING), EventType.STATE_CHANGED)

    async def requeued(self) -> None:
        """A job that had started is waiting in the gateway's queue again (its run was lost)."""
        # A job refused before it ran is QUEUED still, and the move does not apply.
        await self._change(to_state(JobState.QUEUED), EventType.STATE_CHANGED)

    async def queued(self, info: QueueInfo) -> None:
        def requeue(job: Job) -> Job | None:
            return dataclasses.replace(job, queue=info) if job.state == JobState.QUEUED else None

        await self._change(requeue, EventType.QUEUE_INFO_CHANGED)

    async def sent(self, provider_job_id: str) -> None:
        def record(job: Job) -> Job | None:
            return None if job.final else dataclasses.replace(job, provider_job_id=provider_job_id)

        await self._change(record, EventType.METADATA_CHANGED)
