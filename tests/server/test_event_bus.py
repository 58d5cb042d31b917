"""The event bus hands a change to many streams in slices, in commit order."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime

from ibmq_gateway.server.core.model import EventType, Job, JobEvent
from ibmq_gateway.server.core.states import JobState
from ibmq_gateway.server.streams.events import OFFERS_PER_TURN, EventBus


def _event(job_id: str, sequence: int, revision: int) -> JobEvent:
    job = Job(job_id, "aer_simulator", "local", JobState.QUEUED, datetime.now(UTC))
    job = dataclasses.replace(job, sequence=sequence, revision=revision)
    return JobEvent(job, EventType.QUEUE_INFO_CHANGED, datetime.now(UTC))


async def test_a_change_many_streams_follow_reaches_them_over_several_turns_in_order():
    assert OFFERS_PER_TURN == 500  # the figures below count slices of 500
    bus = EventBus(buffer_size=10)
    followers = [bus.subscribe(job_id="j") for _ in range(1001)]
    feed = bus.subscribe()
    bus.publish([_event("j", 1, 1), _event("j", 2, 2)])
    # 2 x 1,002 offers, one slice per turn of the loop; between two slices other work runs
    # (this task). An event counts as delivered once every stream has it, not before.
    revisions = [bus.last_revision]
    offered = [sum(len(s._buffer) for s in (*followers, feed))]
    for _ in range(5):
        await asyncio.sleep(0)
        revisions.append(bus.last_revision)
        offered.append(sum(len(s._buffer) for s in (*followers, feed)))
    assert offered == [500, 1000, 1500, 2000, 2004, 2004]
    assert revisions == [0, 0, 1, 1, 2, 2]
    for subscription in (*followers, feed):
        assert [event.revision for event in subscription._buffer] == [1, 2]


async def test_a_change_few_streams_follow_reaches_them_at_once():
    bus = EventBus(buffer_size=10)
    followers = [bus.subscribe(job_id="j") for _ in range(3)]
    other = bus.subscribe(job_id="k")
    bus.publish([_event("j", 1, 7)])
    assert [len(s._buffer) for s in followers] == [1, 1, 1]
    assert not other._buffer
    assert bus.last_revision == 7


def test_the_audience_of_jobs_counts_their_followers_and_every_feed_once_per_job():
    bus = EventBus(buffer_size=10)
    for job_id in ("a", "a", "b"):
        bus.subscribe(job_id=job_id)
    bus.subscribe()
    assert bus.audience(["a", "b", "c"]) == 3 + 3
    assert bus.audience([]) == 0
