"""The jobs a replica holds while they are not final, and each owner's count of them."""

from __future__ import annotations

from dataclasses import replace

from ibmq_gateway.server.core.states import JobState
from ibmq_gateway.server.jobs.active import ActiveJobs
from tests.store.test_contract import make_job


def test_each_owners_count_follows_what_is_held() -> None:
    active = ActiveJobs()
    first, second = make_job("a1"), make_job("a2")
    active.hold(first)
    active.hold(second)
    active.hold(make_job("b1", owner="bob"))
    active.hold(replace(first, state=JobState.QUEUED))  # a newer snapshot counts once

    assert (active.count_of("alice"), active.count_of("bob"), active.count_of("eve")) == (2, 1, 0)
    assert active.get("a1") is not None and active["a1"].state is JobState.QUEUED

    active.forget("a2")
    active.forget("a2")  # forgetting twice changes nothing
    assert active.count_of("alice") == 1 and "a2" not in active

    active.hold_only([make_job("b2", owner="bob")])
    assert (active.count_of("alice"), active.count_of("bob")) == (0, 1)
    assert [job.id for job in active.values()] == ["b2"]
