"""Group commit, on every store: writes that arrive together commit together, in order,
and nothing handed in is lost when the store closes."""

from __future__ import annotations

import asyncio

import pytest

from ibmq_gateway.server.core.model import JobEvent
from tests.store.conftest import Backend, MakeStore
from tests.store.test_contract import CIRCUITS, make_job


async def test_a_burst_of_creates_commits_as_one_group_in_order(make_store: MakeStore) -> None:
    commits: list[list[JobEvent]] = []
    store = make_store(hook=commits.append)
    await store.open()
    try:
        # All 64 are handed in before the first group starts, as with 64 calls in flight.
        answers = await asyncio.gather(
            *(store.create_job(make_job(f"j{i:02}"), CIRCUITS, None) for i in range(64))
        )
    finally:
        await store.close()

    created = [event for [event] in answers]
    assert len(commits) == 1
    assert commits[0] == created
    assert [event.job_id for event in created] == [f"j{i:02}" for i in range(64)]
    assert [event.revision for event in created] == sorted({e.revision for e in created})


async def test_writes_handed_in_before_close_are_committed(
    make_store: MakeStore, backend: Backend
) -> None:
    if not backend.durable:
        pytest.skip("this store keeps nothing after close")
    store = make_store()
    await store.open()
    writes = [
        asyncio.create_task(store.create_job(make_job(f"j{i}"), CIRCUITS, None)) for i in range(8)
    ]
    await asyncio.sleep(0)  # handed in, not yet committed
    await store.close()
    await asyncio.gather(*writes)

    reopened = make_store()
    await reopened.open()
    try:
        stored = [await reopened.get_job(f"j{i}") for i in range(8)]
    finally:
        await reopened.close()
    assert all(job is not None for job in stored)
