"""One run of a job on its executor: what the executor reports, and how the run ended.

The manager starts a run when the scheduler gives the job a slot; ``execute`` runs it and
returns the ``Outcome`` to record (the final moves with their result document, or a time to
try again); ``Reporter`` turns the executor's progress reports into job changes meanwhile.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
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
RUNNING_WRITTEN_AFTER_S = 0.005
"""How long a run reported started waits before its RUNNING state is written. A run that
ends meanwhile (a small simulation: a Bell job's takes about 2 ms here) has its RUNNING
written with its end, in one commit instead of two, stamped when it started. A watcher
sees RUNNING at most this much later; none can tell it from a commit that slow."""

Move = Callable[[Job], Job | None]
Change = Callable[[Move, EventType], Coroutine[Any, Any, Job | None]]
"""Records a move of one job as an event of the given type (the manager's ``_change``)."""


@dataclasses.dataclass(frozen=True)
class Outcome:
    """How a run ended: the moves and result to store, or when to try again."""

    moves: tuple[Move, ...]
    """The final move, after RUNNING if that was not written yet; none for a refusal."""
    result: dict[str, Any] | None
    retry_at: float | None = None
    """``time.monotonic()`` before which the job may not be sent again (it was refused)."""


async def execute(
    executor: Executor,
    job: Job,
    circuits: Callable[[], Awaitable[list[QuantumCircuit]]],
    reporter: Reporter,
) -> Outcome:
    """Runs the job; returns the changes to record (not yet recorded)."""
    try:
        move, document = await _ended(executor, job, circuits, reporter)
    except RetryLater as later:
        log.info("job %s goes back in the queue: %s", job.id, later.message)
        reporter.take_running()  # it never ran
        await reporter.requeued()
        return Outcome((), None, retry_at=later.until)
    except BaseException:
        reporter.take_running()  # stopped: no RUNNING may be written after it
        raise
    running = reporter.take_running()
    await reporter.settle()  # a RUNNING write under way commits before the end
    return Outcome((*running, move), document)


async def _ended(
    executor: Executor,
    job: Job,
    circuits: Callable[[], Awaitable[list[QuantumCircuit]]],
    reporter: Reporter,
) -> tuple[Move, dict[str, Any] | None]:
    """Runs the job; returns its final move and result document."""
    try:
        result = await executor.run(job, await circuits(), reporter)
    except RetryLater:
        raise
    except ExecutionError as error:
        failure = JobFailure(error.code, error.reason, error.message)
        partial = await _document(job, error.partial, partial=True)
        return to_state(JobState.ERROR_RUNNING_JOB, failure), partial
    except Exception as error:
        log.exception("job %s failed inside the gateway", job.id)
        message = f"the gateway failed to run it: {error}"
        failure = JobFailure(INTERNAL_FAILURE, "INTERNAL", message)
        return to_state(JobState.ERROR_RUNNING_JOB, failure), None
    return to_state(JobState.COMPLETED), await _document(job, result, partial=False)


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
    """Turns an executor's progress reports into changes of one job.

    RUNNING is written ``running_after`` seconds after it is reported, unless the run ends
    first: then ``execute`` takes it to write with the end (see RUNNING_WRITTEN_AFTER_S).
    Every other report writes a waiting RUNNING first, so the changes keep their order.
    """

    def __init__(
        self,
        change: Change,
        spawn: Callable[[Coroutine[Any, Any, Any]], asyncio.Task[Any]],
        running_after: float = RUNNING_WRITTEN_AFTER_S,
    ) -> None:
        self._change = change
        self._spawn = spawn
        self._running_after = running_after
        self._waiting: tuple[Move, asyncio.TimerHandle] | None = None
        """RUNNING, stamped when reported and not written yet, and the timer that writes it."""
        self._writing: asyncio.Task[Any] | None = None
        """The last RUNNING write the timer started."""

    async def running(self) -> None:
        if self._waiting is not None:
            return
        move = to_state(JobState.RUNNING, at=datetime.now(UTC))
        timer = asyncio.get_running_loop().call_later(self._running_after, self._write_running)
        self._waiting = move, timer

    def take_running(self) -> tuple[Move, ...]:
        """RUNNING if it was not written yet, for the caller to write (or drop): it no
        longer will be."""
        if self._waiting is None:
            return ()
        move, timer = self._waiting
        timer.cancel()
        self._waiting = None
        return (move,)

    async def settle(self) -> None:
        """Waits for the RUNNING write the timer started, if any."""
        if self._writing is not None:
            await self._writing

    async def requeued(self) -> None:
        """A job that had started is waiting in the gateway's queue again (its run was lost)."""
        await self._write_running_now()
        # A job refused before it ran is QUEUED still, and the move does not apply.
        await self._change(to_state(JobState.QUEUED), EventType.STATE_CHANGED)

    async def queued(self, info: QueueInfo) -> None:
        def requeue(job: Job) -> Job | None:
            return dataclasses.replace(job, queue=info) if job.state == JobState.QUEUED else None

        await self._write_running_now()
        await self._change(requeue, EventType.QUEUE_INFO_CHANGED)

    async def sent(self, provider_job_id: str) -> None:
        def record(job: Job) -> Job | None:
            return None if job.final else dataclasses.replace(job, provider_job_id=provider_job_id)

        await self._write_running_now()
        await self._change(record, EventType.METADATA_CHANGED)

    def _write_running(self) -> None:
        for move in self.take_running():
            self._writing = self._spawn(self._change(move, EventType.STATE_CHANGED))

    async def _write_running_now(self) -> None:
        await self.settle()
        for move in self.take_running():
            await self._change(move, EventType.STATE_CHANGED)
