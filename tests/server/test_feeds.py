"""Feeds over the real SQLite store and event bus: slow readers and shutdown."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime

import pytest

from ibmq_gateway.server.core.errors import SlowConsumerError, UnavailableError
from ibmq_gateway.server.core.model import EventType, Job, JobQuery
from ibmq_gateway.server.core.states import JobState
from ibmq_gateway.server.store import Change
from ibmq_gateway.server.store.sqlite import SqliteJobStore
from ibmq_gateway.server.streams.events import EventBus
from ibmq_gateway.server.streams.feeds import Feeds


@pytest.fixture
async def parts(tmp_path):
    bus = EventBus(buffer_size=2)
    bus.bind(asyncio.get_running_loop())
    store = SqliteJobStore(tmp_path / "db.sqlite3", on_commit=bus.publish_threadsafe)
    await store.open()
    yield store, bus, Feeds(store, bus, max_age=60)
    await store.close()


async def _new_job(store, job_id: str):
    job = Job(job_id, "aer_simulator", "local", JobState.CREATING, datetime.now(UTC))
    [created] = await store.create_job(job, [], None)
    return created.job


async def _rename(store, job: Job, times: int) -> Job:
    for count in range(times):
        job = (
            await store.apply(
                [Change(dataclasses.replace(job, name=str(count)), EventType.METADATA_CHANGED)]
            )
        )[0].job
    return job


async def test_a_reader_that_falls_behind_is_cut_off(parts):
    store, _, feeds = parts
    job = await _new_job(store, "j1")
    stream = feeds.job(job.id, "", heartbeat=30)
    assert (await anext(stream)).event.sequence == 1
    await _rename(store, job, 5)
    await asyncio.sleep(0.05)
    with pytest.raises(SlowConsumerError):
        while True:
            await anext(stream)


async def test_a_cut_off_reader_resumes_from_its_token_without_loss(parts):
    store, _, feeds = parts
    job = await _new_job(store, "j2")
    stream = feeds.jobs(JobQuery(), feeds.token(0), heartbeat=30)
    first = await anext(stream)
    await _rename(store, job, 5)
    await asyncio.sleep(0.05)
    received = [first]
    with pytest.raises(SlowConsumerError):
        while True:
            received.append(await anext(stream))
    resumed = feeds.jobs(JobQuery(), received[-1].token, heartbeat=30)
    while received[-1].event is None or received[-1].event.sequence < 6:
        received.append(await anext(resumed))
    assert [item.event.sequence for item in received if item.event] == [1, 2, 3, 4, 5, 6]


async def test_closing_the_bus_ends_live_streams_as_unavailable(parts):
    store, bus, feeds = parts
    job = await _new_job(store, "j3")
    stream = feeds.job(job.id, "", heartbeat=30)
    await anext(stream)
    bus.close()
    with pytest.raises(UnavailableError):
        await anext(stream)


async def test_an_event_buffered_as_a_heartbeat_falls_due_is_sent_not_skipped(parts):
    # With no time to wait, every read of the live buffer runs out at once: the event that
    # is already buffered must still come before any heartbeat whose token is past it.
    store, _, feeds = parts
    job = await _new_job(store, "j4")
    stream = feeds.job(job.id, "", heartbeat=0)
    assert (await anext(stream)).event.sequence == 1
    renamed = await _rename(store, job, 1)
    await asyncio.sleep(0.05)
    item = await anext(stream)
    assert item.event is not None and item.event.sequence == 2
    assert item.token == feeds.token(renamed.revision)
