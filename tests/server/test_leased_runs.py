"""A replica's leased runs (``LeasedRuns``) on a real PostgreSQL database: what it claims it
runs, what it stops renewing another takes over, and a run whose lease is gone stops.

The runs here are the test's own coroutines (each records that it started, then waits to
be told to end), so that who runs what, and when a run is stopped, can be seen exactly.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from ibmq_gateway.server.jobs.leased_runs import LeasedRuns
from ibmq_gateway.server.store.postgres import PostgresJobStore
from tests.postgres import fresh_database

LEASE_S = 0.6
PATIENCE_S = 10.0


class Replica:
    """One replica's leased runs, with the runs it started and the ones it stopped."""

    def __init__(self, store: PostgresJobStore, name: str) -> None:
        leases = store.leases(name, LEASE_S)
        loop = asyncio.get_running_loop()
        self.runs = LeasedRuns(leases, LEASE_S, self._run, loop.create_task, _backends)
        self.started: list[str] = []
        self.stopped: list[str] = []
        self.finish = asyncio.Event()
        self._keeping = loop.create_task(self.runs.keep())

    async def _run(self, job_id: str) -> float | None:
        self.started.append(job_id)
        try:
            await self.finish.wait()
        except asyncio.CancelledError:
            self.stopped.append(job_id)
            raise
        return None

    async def hang(self) -> None:
        """Stops renewing and claiming, as a replica that froze (its runs go on)."""
        self._keeping.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._keeping

    def wake_up(self) -> None:
        """Renews and claims again, as the frozen replica coming back."""
        self._keeping = asyncio.get_running_loop().create_task(self.runs.keep())


def _backends() -> list[str]:
    return ["aer_simulator"]


Replicas = Callable[[], Awaitable[Replica]]


@pytest.fixture
async def replica() -> AsyncIterator[Replicas]:
    stores: list[PostgresJobStore] = []
    made: list[Replica] = []
    with fresh_database() as url:

        async def make() -> Replica:
            store = PostgresJobStore(url)
            await store.open()
            stores.append(store)
            made.append(Replica(store, f"replica-{len(made)}"))
            return made[-1]

        try:
            yield make
        finally:
            for each in made:
                await each.hang()
                each.finish.set()
            await asyncio.sleep(0.1)  # the runs' releases
            for store in stores:
                await store.close()


async def test_an_offered_run_starts_on_exactly_one_replica(replica: Replicas) -> None:
    a, b = await replica(), await replica()
    await a.runs.offer("job-1", "aer_simulator")
    await _eventually(lambda: a.started + b.started == ["job-1"], "one replica runs it")
    await asyncio.sleep(LEASE_S * 2)  # renewed meanwhile: nobody else starts it
    assert a.started + b.started == ["job-1"]
    runner = a if a.started else b
    runner.finish.set()
    await _eventually(lambda: not runner.runs.holds("job-1"), "the run ends")
    await _eventually_async(lambda: _none_offered(a), "its lease is released")


async def test_a_frozen_replicas_run_is_taken_over_and_stopped_when_it_wakes(
    replica: Replicas,
) -> None:
    a = await replica()
    await a.runs.offer("job-1", "aer_simulator")
    await _eventually(lambda: a.started == ["job-1"], "a runs it")
    await a.hang()
    b = await replica()
    await _eventually(lambda: b.started == ["job-1"], "b takes it over once a's lease expired")
    a.wake_up()
    await _eventually(lambda: a.stopped == ["job-1"], "a stops the run it lost")
    assert not a.runs.holds("job-1") and b.runs.holds("job-1")


async def test_a_cancelled_run_is_given_back_not_dropped(replica: Replicas) -> None:
    a = await replica()
    await a.runs.offer("job-1", "aer_simulator")
    await _eventually(lambda: a.started == ["job-1"], "a runs it")
    assert a.runs.stop("job-1")
    # Given back, it is claimed again (the manager's run then finds the job final and ends).
    await _eventually(lambda: a.started == ["job-1", "job-1"], "it is claimed again")


async def _none_offered(replica: Replica) -> bool:
    return await replica.runs.offered() == set()


async def _eventually(check: Callable[[], bool], what: str) -> None:
    await _eventually_async(_sync(check), what)


def _sync(check: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    async def checked() -> bool:
        return check()

    return checked


async def _eventually_async(check: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = asyncio.get_running_loop().time() + PATIENCE_S
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, f"never: {what}"
        await asyncio.sleep(0.05)
