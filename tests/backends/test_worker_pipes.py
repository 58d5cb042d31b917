"""Worker processes driven from the event loop over a pipe each, on real processes."""

from __future__ import annotations

import asyncio
import math
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import AsyncIterator

import pytest

from ibmq_gateway.server.core.worker_processes import follow_gateway, worker_context
from ibmq_gateway.server.executors.local.worker_pipes import WORKER_NAME, WorkerDied, WorkerPipes

# Bounds every wait: each answer here takes milliseconds when it works.
_WAIT_S = 30.0


class Freed:
    """Counts the times a worker was free again."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


@pytest.fixture
async def workers() -> AsyncIterator[tuple[WorkerPipes, Freed]]:
    freed = Freed()
    pipes = WorkerPipes(2, worker_context(), follow_gateway, (os.getpid(),), done=freed)
    yield pipes, freed
    await asyncio.wait_for(pipes.close(), _WAIT_S)


async def answer(pipes: WorkerPipes, function: object, *args: object) -> object:
    return await asyncio.wait_for(pipes.submit(function, *args), _WAIT_S)  # type: ignore[arg-type]


async def test_a_task_runs_in_another_process_and_its_worker_is_kept(workers) -> None:
    pipes, freed = workers

    first = await answer(pipes, os.getpid)
    second = await answer(pipes, os.getpid)

    assert first != os.getpid()
    assert first == second  # the idle worker took the next task
    assert freed.count == 2


async def test_errors_come_back_and_leave_the_worker_usable(workers) -> None:
    pipes, freed = workers

    with pytest.raises(ValueError, match="math domain error"):
        await answer(pipes, math.sqrt, -1.0)
    with pytest.raises(RuntimeError, match="pickle"):
        await answer(pipes, threading.Lock)  # its answer cannot go through a pipe

    assert await answer(pipes, math.sqrt, 9.0) == 3.0
    assert freed.count == 3


async def test_a_killed_worker_fails_its_task_and_a_new_one_takes_the_next(workers) -> None:
    pipes, freed = workers
    pid = await answer(pipes, os.getpid)
    sleeping = pipes.submit(time.sleep, 60)
    await asyncio.sleep(0.2)

    assert isinstance(pid, int)
    os.kill(pid, signal.SIGKILL)

    with pytest.raises(WorkerDied):
        await asyncio.wait_for(sleeping, _WAIT_S)
    replacement = await answer(pipes, os.getpid)
    assert replacement not in (pid, os.getpid())
    assert freed.count == 3


async def test_a_dropped_answer_still_frees_the_worker_only_when_it_is_done(workers) -> None:
    pipes, freed = workers
    napping = pipes.submit(time.sleep, 0.5)
    napping.cancel()

    await asyncio.sleep(0.1)
    assert freed.count == 0  # still sleeping in its worker
    deadline = time.monotonic() + _WAIT_S
    while freed.count == 0:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    assert await answer(pipes, math.sqrt, 4.0) == 2.0


def workers_alive() -> set[int | None]:
    return {child.pid for child in multiprocessing.active_children() if child.name == WORKER_NAME}


async def test_close_waits_for_running_tasks_and_stops_every_worker() -> None:
    before = workers_alive()
    pipes = WorkerPipes(2, worker_context(), follow_gateway, (os.getpid(),), done=Freed())
    naps = [pipes.submit(time.sleep, 0.3) for _ in range(2)]
    assert len(workers_alive() - before) == 2

    await asyncio.wait_for(pipes.close(), _WAIT_S)

    assert all(nap.done() and nap.result() is None for nap in naps)
    assert workers_alive() - before == set()
