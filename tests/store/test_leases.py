"""Leases on runs, as replicas on one PostgreSQL database share them (``RunLeases``).

Each holder below is a replica of its own (its own store, its own pool); times are short
so that expiry is seen within a test, and every wait is longer than the lease it outlasts.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from ibmq_gateway.server.store import RunLeases
from ibmq_gateway.server.store.postgres import PostgresJobStore
from ibmq_gateway.server.store.sqlite import SqliteJobStore
from tests.postgres import fresh_database

BACKENDS = ["aer_simulator"]
Replica = Callable[[str, float], Awaitable[RunLeases]]
"""``replica(holder, lease seconds)``: the leases of a new replica on the test's database."""


@pytest.fixture
async def replica() -> AsyncIterator[Replica]:
    stores: list[PostgresJobStore] = []
    with fresh_database() as url:

        async def open_replica(holder: str, seconds: float) -> RunLeases:
            store = PostgresJobStore(url)
            await store.open()
            stores.append(store)
            return store.leases(holder, seconds)

        try:
            yield open_replica
        finally:
            for store in stores:
                await store.close()


async def test_an_offered_run_is_claimed_by_one_replica(replica: Replica) -> None:
    a, b = await replica("a", 30), await replica("b", 30)
    await a.offer("job-1", "aer_simulator")
    await b.offer("job-1", "aer_simulator")  # offered again (a takeover): still one run
    assert await b.claim(BACKENDS) == "job-1"
    assert await a.claim(BACKENDS) is None
    assert await b.claim(BACKENDS) is None
    assert await a.offered() == {"job-1"}


async def test_replicas_claiming_at_once_get_different_runs_oldest_first(
    replica: Replica,
) -> None:
    replicas = [await replica(f"r{i}", 30) for i in range(4)]
    for i in range(6):
        await replicas[0].offer(f"job-{i}", "aer_simulator")
    first = await asyncio.gather(*(r.claim(BACKENDS) for r in replicas))
    claimed = [job for job in first if job is not None]
    assert sorted(claimed) == ["job-0", "job-1", "job-2", "job-3"]  # the four oldest, once
    rest = await asyncio.gather(*(r.claim(BACKENDS) for r in replicas))
    assert sorted(job for job in rest if job is not None) == ["job-4", "job-5"]


async def test_a_replica_claims_runs_of_its_backends_only(replica: Replica) -> None:
    a = await replica("a", 30)
    await a.offer("job-1", "ibm_kyiv")
    assert await a.claim(BACKENDS) is None
    assert await a.claim(["ibm_kyiv"]) == "job-1"


async def test_a_lease_not_renewed_goes_to_another_replica(replica: Replica) -> None:
    a, b = await replica("a", 0.3), await replica("b", 30)
    await a.offer("job-1", "aer_simulator")
    assert await a.claim(BACKENDS) == "job-1"
    assert await b.claim(BACKENDS) is None  # held
    await asyncio.sleep(0.6)
    assert await b.claim(BACKENDS) == "job-1"  # a died, or stopped renewing
    assert await a.renew() == set()  # a learns it lost it
    assert await b.renew() == {"job-1"}


async def test_a_renewed_lease_stays_with_its_holder(replica: Replica) -> None:
    a, b = await replica("a", 0.8), await replica("b", 30)
    await a.offer("job-1", "aer_simulator")
    assert await a.claim(BACKENDS) == "job-1"
    for _ in range(3):  # 1.5 s in all: twice the lease, renewed every half of it
        await asyncio.sleep(0.5)
        assert await a.renew() == {"job-1"}
        assert await b.claim(BACKENDS) is None


async def test_a_postponed_run_is_claimed_again_when_due(replica: Replica) -> None:
    a, b = await replica("a", 30), await replica("b", 30)
    await a.offer("job-1", "aer_simulator")
    assert await a.claim(BACKENDS) == "job-1"
    await a.postpone("job-1", 0.5)
    assert await b.claim(BACKENDS) is None
    await asyncio.sleep(0.7)
    assert await b.claim(BACKENDS) == "job-1"


async def test_only_the_holder_releases_a_run(replica: Replica) -> None:
    a, b = await replica("a", 30), await replica("b", 30)
    await a.offer("job-1", "aer_simulator")
    assert await a.claim(BACKENDS) == "job-1"
    await b.release("job-1")
    await b.postpone("job-1", 0)
    assert await b.claim(BACKENDS) is None  # still a's
    await a.release("job-1")
    assert await b.offered() == set()


async def test_a_store_of_one_gateway_has_no_leases(tmp_path: Path) -> None:
    store = SqliteJobStore(tmp_path / "jobs.db")
    await store.open()
    try:
        assert store.leases("a", 30) is None
    finally:
        await store.close()
