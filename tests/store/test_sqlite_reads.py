"""SQLite's reads go to a connection of their own: they never wait behind the writer."""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING

from ibmq_gateway.server.store.sqlite import SqliteJobStore
from tests.store.test_contract import make_job

if TYPE_CHECKING:
    from pathlib import Path

    from ibmq_gateway.server.core.model import JobEvent

# Bounds every wait: each step here takes milliseconds when it works.
_WAIT_S = 10.0


async def test_a_read_is_answered_while_the_writer_is_busy_and_sees_what_it_committed(
    tmp_path: Path,
) -> None:
    publishing, release = threading.Event(), threading.Event()

    def slow_publish(events: list[JobEvent]) -> None:
        # Runs on the writer's thread after the commit: the writer is held here.
        publishing.set()
        release.wait(_WAIT_S)

    store = SqliteJobStore(tmp_path / "gateway.sqlite3", on_commit=slow_publish)
    await store.open()
    try:
        creating = asyncio.create_task(store.create_job(make_job("held"), [], None))
        assert await asyncio.to_thread(publishing.wait, _WAIT_S)

        job = await asyncio.wait_for(store.get_job("held"), _WAIT_S)
        assert job is not None
        listed = await asyncio.wait_for(store.jobs_in_states(frozenset({job.state})), _WAIT_S)

        assert not creating.done()  # the writer was still held while both were answered
        assert [j.id for j in listed] == ["held"]
    finally:
        release.set()
        await creating
        await store.close()


async def test_an_in_memory_store_reads_on_its_only_connection() -> None:
    store = SqliteJobStore(":memory:")
    await store.open()
    try:
        await store.create_job(make_job("one"), [], None)
        job = await store.get_job("one")
        assert job is not None and job.id == "one"
    finally:
        await store.close()
