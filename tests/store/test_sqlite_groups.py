"""The SQLite store's group commit: writes that arrive together commit together, and
nothing handed in is lost when the store closes."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from ibmq_gateway.server.core.model import JobEvent
from ibmq_gateway.server.store.sqlite import SqliteJobStore
from tests.store.test_contract import CIRCUITS, make_job

if TYPE_CHECKING:
    from pathlib import Path


async def test_a_burst_of_creates_commits_as_one_group_in_order(tmp_path: Path) -> None:
    commits: list[list[JobEvent]] = []
    store = SqliteJobStore(tmp_path / "jobs.db", on_commit=commits.append)
    await store.open()
    try:
        # All 64 are handed in before the first group starts, as with 64 calls in flight.
        answers = await asyncio.gather(
            *(store.create_job(make_job(f"j{i:02}"), CIRCUITS, None) for i in range(64))
        )
    finally:
        await store.close()

    assert len(commits) == 1
    assert commits[0] == answers
    assert [event.job_id for event in answers] == [f"j{i:02}" for i in range(64)]


async def test_writes_handed_in_before_close_are_committed(tmp_path: Path) -> None:
    store = SqliteJobStore(tmp_path / "jobs.db")
    await store.open()
    writes = [
        asyncio.create_task(store.create_job(make_job(f"j{i}"), CIRCUITS, None)) for i in range(8)
    ]
    await asyncio.sleep(0)  # handed in, not yet committed
    await store.close()
    await asyncio.gather(*writes)

    reopened = SqliteJobStore(tmp_path / "jobs.db")
    await reopened.open()
    try:
        stored = [await reopened.get_job(f"j{i}") for i in range(8)]
    finally:
        await reopened.close()
    assert all(job is not None for job in stored)
