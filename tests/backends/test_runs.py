"""One run through ``execute`` on real Aer: when its RUNNING state is written, and how."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ibmq_gateway.server.core.model import EventType, Job
from ibmq_gateway.server.core.states import JobState
from ibmq_gateway.server.jobs.runs import Move, Outcome, Reporter, execute

from .conftest import bell, make_job

if TYPE_CHECKING:
    from collections.abc import Coroutine

    from qiskit import QuantumCircuit

    from ibmq_gateway.server.executors.local.executor import LocalExecutor


class Written:
    """The job's changes as the manager would write them: each move on the job it left."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self.states: list[JobState] = []

    async def change(self, move: Move, event_type: EventType) -> Job | None:
        changed = move(self.job)
        if changed is not None:
            self.job = changed
            self.states.append(changed.state)
        return changed


def spawn(coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
    return asyncio.get_running_loop().create_task(coroutine)


async def bell_circuits() -> list[QuantumCircuit]:
    return [bell()]


async def run(executor: LocalExecutor, written: Written, running_after: float) -> Outcome:
    reporter = Reporter(written.change, spawn, running_after)
    return await execute(executor, written.job, bell_circuits, reporter)


async def test_a_run_that_ends_first_has_running_written_with_its_end(
    executor: LocalExecutor,
) -> None:
    written = Written(make_job("aer_simulator"))
    reported = datetime.now(UTC)

    outcome = await run(executor, written, running_after=60.0)

    assert written.states == []  # nothing written while it ran
    for move in outcome.moves:
        await written.change(move, EventType.STATE_CHANGED)
    assert written.states == [JobState.RUNNING, JobState.COMPLETED]
    steps = written.job.steps
    # Stamped when the executor said it started, not when it was written.
    assert reported <= steps["RUNNING"] < steps["COMPLETED"]
    assert outcome.result is not None and outcome.retry_at is None


async def test_a_run_still_going_has_running_written_meanwhile(executor: LocalExecutor) -> None:
    written = Written(make_job("aer_simulator"))

    outcome = await run(executor, written, running_after=0.0)

    assert written.states == [JobState.RUNNING]  # written, and done, before the end
    assert len(outcome.moves) == 1
    assert outcome.moves[0](written.job) is not None  # the end moves on from RUNNING


async def test_a_run_stopped_before_running_is_written_writes_nothing_after(
    executor: LocalExecutor,
) -> None:
    written = Written(make_job("aer_simulator"))
    running = asyncio.ensure_future(run(executor, written, running_after=0.2))
    await asyncio.sleep(0)  # started, RUNNING reported
    running.cancel()
    await asyncio.gather(running, return_exceptions=True)

    await asyncio.sleep(0.4)  # past the time RUNNING would have been written
    assert written.states == []
