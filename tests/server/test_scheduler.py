"""The scheduler under a shared submission rate limit, on a clock the tests move."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from ibmq_gateway.server.core.model import QueueInfo
from ibmq_gateway.server.jobs.ratelimit import RateLimit
from ibmq_gateway.server.jobs.scheduler import Scheduler


class FakeClock:
    """A clock that stands still until a test moves it."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _five_a_minute(clock: FakeClock) -> RateLimit:
    return RateLimit(5, 60.0, clock=clock)


def _order(scheduler: Scheduler, backend: str = "b") -> list[str]:
    positions = scheduler.positions(backend)
    return sorted(positions, key=lambda job_id: positions[job_id].position or 0)


def _enqueue(scheduler: Scheduler, backend: str, owner: str, count: int, first: int = 0) -> None:
    for index in range(first, first + count):
        scheduler.enqueue(backend, f"{owner[0]}{index}", owner, order=index)


# -- RateLimit ----------------------------------------------------------------------------


def test_the_window_refuses_the_sixth_take_until_the_first_falls_out() -> None:
    clock = FakeClock(0.0)
    limit = _five_a_minute(clock)
    for moment in (0.0, 10.0, 20.0, 30.0, 40.0):
        clock.now = moment
        assert limit.try_take()
    clock.now = 59.9
    assert not limit.try_take()
    assert limit.next_free() == 60.0
    clock.now = 60.0
    assert limit.try_take()
    # The take at 10 s is now the oldest that counts.
    assert not limit.try_take()
    assert limit.next_free() == 70.0


def test_next_free_is_now_when_a_take_would_pass() -> None:
    clock = FakeClock(5.0)
    limit = _five_a_minute(clock)
    assert limit.next_free() == 5.0
    assert limit.try_take()
    assert limit.next_free() == 5.0


def test_memory_stays_bounded_over_many_takes() -> None:
    clock = FakeClock(0.0)
    limit = RateLimit(3, 1.0, clock=clock)
    for step in range(1000):
        clock.now = step * 0.5
        limit.try_take()
    assert len(limit._taken) <= 3


def test_a_block_refuses_until_its_moment_and_the_later_block_wins() -> None:
    clock = FakeClock(0.0)
    limit = _five_a_minute(clock)
    limit.block_until(100.0)
    limit.block_until(50.0)
    assert not limit.try_take()
    assert limit.next_free() == 100.0
    clock.now = 99.0
    assert not limit.try_take()
    clock.now = 100.0
    assert limit.try_take()


def test_a_block_and_a_full_window_wait_for_the_later_of_both() -> None:
    clock = FakeClock(0.0)
    limit = _five_a_minute(clock)
    for _ in range(5):
        assert limit.try_take()
    limit.block_until(30.0)
    assert limit.next_free() == 60.0
    limit.block_until(90.0)
    assert limit.next_free() == 90.0


def test_free_times_count_history_and_the_takes_before_them() -> None:
    clock = FakeClock(0.0)
    limit = _five_a_minute(clock)
    for moment in (0.0, 10.0, 20.0):
        clock.now = moment
        assert limit.try_take()
    clock.now = 25.0
    times = limit.free_times(12)
    assert times == [25, 25, 60, 70, 80, 85, 85, 120, 130, 140, 145, 145]
    # No 60-second window holds more than five takes, history included.
    every = [0.0, 10.0, 20.0, *times]
    for start in every:
        assert sum(start <= moment < start + 60 for moment in every) <= 5
    # Looking ahead takes nothing.
    assert limit.free_times(12) == times
    assert limit.try_take()


def test_free_times_start_after_a_block() -> None:
    clock = FakeClock(0.0)
    limit = RateLimit(2, 60.0, clock=clock)
    limit.block_until(100.0)
    assert limit.free_times(5) == [100, 100, 160, 160, 220]
    assert limit.free_times(0) == []


@pytest.mark.parametrize("per_window", [0, -1])
def test_a_limit_needs_at_least_one_take(per_window: int) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        RateLimit(per_window)


# -- Scheduler with a limit ---------------------------------------------------------------


def test_backends_sharing_a_limit_share_its_takes() -> None:
    clock = FakeClock()
    limit = _five_a_minute(clock)
    scheduler = Scheduler({"a": 10, "b": 10}, {"a": limit, "b": limit})
    _enqueue(scheduler, "a", "alice", 4)
    _enqueue(scheduler, "b", "bob", 4)
    assert scheduler.start_next("a") == ["a0", "a1", "a2", "a3"]
    assert scheduler.start_next("b") == ["b0"]
    assert scheduler.start_next("b") == []
    clock.now += 60.0
    assert scheduler.start_next("b") == ["b1", "b2", "b3"]


def test_a_take_is_spent_only_on_a_job_that_starts() -> None:
    clock = FakeClock()
    limit = _five_a_minute(clock)
    scheduler = Scheduler({"b": 1}, {"b": limit})
    assert scheduler.start_next("b") == []  # nothing waits
    _enqueue(scheduler, "b", "alice", 3)
    assert scheduler.start_next("b") == ["a0"]
    assert scheduler.start_next("b") == []  # the only slot is busy
    assert limit.free_times(5) == [clock.now] * 4 + [clock.now + 60.0]


def test_fair_share_picks_who_goes_first_under_the_limit() -> None:
    clock = FakeClock()
    scheduler = Scheduler({"b": 10}, {"b": RateLimit(2, 60.0, clock=clock)})
    _enqueue(scheduler, "b", "alice", 5)
    scheduler.enqueue("b", "b0", "bob", order=100)
    assert scheduler.start_next("b") == ["a0", "b0"]
    clock.now += 60.0
    assert scheduler.start_next("b") == ["a1", "a2"]


def test_throttled_until_says_when_only_the_limit_holds_jobs_back() -> None:
    clock = FakeClock(0.0)
    limit = RateLimit(2, 60.0, clock=clock)
    scheduler = Scheduler({"b": 3, "free": 3}, {"b": limit})
    assert scheduler.throttled_until("b") is None  # nothing waits
    _enqueue(scheduler, "b", "alice", 4)
    assert scheduler.throttled_until("b") == 0.0  # the limit allows a start now
    clock.now = 10.0
    assert scheduler.start_next("b") == ["a0", "a1"]
    assert scheduler.throttled_until("b") == 70.0
    clock.now = 70.0
    assert scheduler.throttled_until("b") == 70.0  # freed: dispatch again at once
    assert scheduler.start_next("b") == ["a2"]  # the third slot; now all are busy
    assert scheduler.throttled_until("b") is None
    _enqueue(scheduler, "free", "alice", 1)
    assert scheduler.throttled_until("free") is None  # no limit at all


def test_hold_blocks_the_shared_limit_until_then() -> None:
    clock = FakeClock(0.0)
    limit = _five_a_minute(clock)
    scheduler = Scheduler({"a": 5, "b": 5, "free": 1}, {"a": limit, "b": limit})
    _enqueue(scheduler, "b", "bob", 2)
    scheduler.hold("a", 45.0)
    assert scheduler.start_next("b") == []
    assert scheduler.throttled_until("b") == 45.0
    clock.now = 45.0
    assert scheduler.start_next("b") == ["b0", "b1"]
    scheduler.hold("free", 1e9)  # nothing to hold
    _enqueue(scheduler, "free", "alice", 1)
    assert scheduler.start_next("free") == ["a0"]


def test_requeue_keeps_the_jobs_place_and_frees_its_slot() -> None:
    clock = FakeClock()
    scheduler = Scheduler({"b": 1}, {"b": _five_a_minute(clock)})
    scheduler.enqueue("b", "a0", "alice", order=0)
    assert scheduler.start_next("b") == ["a0"]
    scheduler.enqueue("b", "a1", "alice", order=1)
    scheduler.enqueue("b", "b0", "bob", order=2)
    assert _order(scheduler) == ["b0", "a1"]
    scheduler.requeue("b", "a0", "alice", order=0)
    assert _order(scheduler) == ["a0", "b0", "a1"]
    assert scheduler.pending("b") == 3
    assert scheduler.average_run("b") == 1.0
    assert scheduler.start_next("b") == ["a0"]


def test_resume_takes_a_slot_without_a_take_even_past_the_slots() -> None:
    clock = FakeClock()
    limit = _five_a_minute(clock)
    scheduler = Scheduler({"b": 1}, {"b": limit})
    scheduler.resume("b", "r0", "alice")
    scheduler.resume("b", "r1", "bob")
    assert scheduler.pending("b") == 2
    assert limit.free_times(5) == [clock.now] * 5
    scheduler.enqueue("b", "a0", "alice", order=0)
    assert scheduler.start_next("b") == []
    assert scheduler.throttled_until("b") is None  # held back by slots, not by the limit
    scheduler.finish("b", "r0")
    assert scheduler.start_next("b") == []  # r1 still over the single slot
    scheduler.finish("b", "r1")
    assert scheduler.start_next("b") == ["a0"]
    # Re-attached jobs have no known start, so they leave the average alone.
    assert scheduler.average_run("b") == 1.0


def test_positions_past_the_limit_start_a_window_later() -> None:
    clock = FakeClock()
    scheduler = Scheduler({"b": 20}, {"b": _five_a_minute(clock)})
    _enqueue(scheduler, "b", "alice", 10)
    before = datetime.now(UTC)
    positions = scheduler.positions("b")
    after = datetime.now(UTC)
    for info in positions.values():
        assert info.position is not None
        assert info.estimated_start is not None and info.estimated_complete is not None
        # Twenty slots: every job is in the first wave, one average run (1 s) away.
        delay = 1.0 if info.position <= 5 else 60.0
        assert before + timedelta(seconds=delay) <= info.estimated_start
        assert info.estimated_start <= after + timedelta(seconds=delay)
        assert info.estimated_complete == info.estimated_start + timedelta(seconds=1.0)


def test_positions_count_takes_already_spent() -> None:
    clock = FakeClock()
    limit = _five_a_minute(clock)
    scheduler = Scheduler({"b": 20}, {"b": limit})
    for _ in range(5):
        assert limit.try_take()
    clock.now += 30.0
    _enqueue(scheduler, "b", "alice", 6)
    before = datetime.now(UTC)
    positions = scheduler.positions("b")
    after = datetime.now(UTC)
    expected = {1: 30.0, 5: 30.0, 6: 90.0}
    for info in positions.values():
        assert info.position is not None and info.estimated_start is not None
        if info.position in expected:
            delay = timedelta(seconds=expected[info.position])
            assert before + delay <= info.estimated_start <= after + delay


def test_waves_still_decide_when_they_are_later_than_the_limit() -> None:
    clock = FakeClock()
    scheduler = Scheduler({"b": 1}, {"b": RateLimit(100, 60.0, clock=clock)})
    _enqueue(scheduler, "b", "alice", 3)
    now = datetime.now(UTC)
    start = scheduler.positions("b")["a2"].estimated_start
    assert start is not None
    assert now + timedelta(seconds=3) <= start <= datetime.now(UTC) + timedelta(seconds=3)


def test_estimated_wait_accounts_for_the_limit() -> None:
    clock = FakeClock(0.0)
    limit = _five_a_minute(clock)
    scheduler = Scheduler({"b": 20, "free": 20}, {"b": limit})
    assert scheduler.estimated_wait("b") == 0.0
    for _ in range(5):
        assert limit.try_take()
    clock.now = 10.0
    assert scheduler.estimated_wait("b") == 50.0
    _enqueue(scheduler, "b", "alice", 7)
    # The eighth take in line: five at 60 s, three more at 120 s.
    assert scheduler.estimated_wait("b") == 110.0
    assert scheduler.estimated_wait("free") == 0.0


def test_backends_can_be_added_later_and_changed_without_losing_jobs() -> None:
    clock = FakeClock()
    scheduler = Scheduler({})
    assert not scheduler.has_backend("ibm_x")
    scheduler.add_backend("ibm_x", 1)
    assert scheduler.has_backend("ibm_x")
    _enqueue(scheduler, "ibm_x", "alice", 4)
    assert scheduler.start_next("ibm_x") == ["a0"]
    scheduler.add_backend("ibm_x", 3, RateLimit(1, 60.0, clock=clock))
    assert scheduler.pending("ibm_x") == 4
    assert scheduler.start_next("ibm_x") == ["a1"]
    assert scheduler.throttled_until("ibm_x") == clock.now + 60.0
    scheduler.add_backend("ibm_x", 3)
    assert scheduler.start_next("ibm_x") == ["a2"]


def test_an_estimate_is_news_once_it_moves_2_s_or_a_tenth_of_the_wait() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    soon = QueueInfo(1, now + timedelta(seconds=10))
    assert not QueueInfo(1, now + timedelta(seconds=11.5)).moved_since(soon, now)
    assert QueueInfo(1, now + timedelta(seconds=12)).moved_since(soon, now)
    hour = QueueInfo(1, now + timedelta(hours=1))
    later = hour.estimated_start or now
    assert not QueueInfo(1, later + timedelta(minutes=5)).moved_since(hour, now)
    assert QueueInfo(1, later + timedelta(minutes=7)).moved_since(hour, now)
    # A new position is always news.
    assert QueueInfo(2, soon.estimated_start).moved_since(soon, now)


@pytest.mark.parametrize("slots", [1, 3, 20])
def test_one_jobs_position_is_what_every_positions_says_of_it(slots: int) -> None:
    clock = FakeClock()
    limit = _five_a_minute(clock)
    scheduler = Scheduler({"b": slots}, {"b": limit})
    assert limit.try_take()
    _enqueue(scheduler, "b", "alice", 8)
    _enqueue(scheduler, "b", "bob", 3, first=2)  # fair share moves bob's ahead of alice's
    scheduler.start_next("b")

    every = scheduler.positions("b")
    for job_id, info in every.items():
        one = scheduler.position("b", job_id)
        assert one is not None and one.position == info.position and one.scope == info.scope
        assert one.estimated_start is not None and info.estimated_start is not None
        assert abs(one.estimated_start - info.estimated_start) < timedelta(seconds=1)
    assert scheduler.position("b", "nobody") is None
    assert len(every) == 11 - min(slots, 4)  # four takes left in the window


@pytest.mark.parametrize("seed", range(20))
def test_places_found_without_sorting_agree_with_the_sorted_queue(seed: int) -> None:
    """Every job's place, and the next to start, match ``positions``' full ordering through
    random submissions, starts, finishes, cancels and requeues of several owners."""
    chance = random.Random(seed)
    scheduler = Scheduler({"b": chance.randint(1, 4)})
    owners, submitted = ["alice", "bob", "carol"], 0
    started: list[str] = []
    for _ in range(200):
        step = chance.random()
        if step < 0.5:
            order = chance.choice([submitted, 0.0])  # ties: jobs put back after a restart
            scheduler.enqueue("b", f"j{submitted}", chance.choice(owners), order)
            submitted += 1
        elif step < 0.65 and started:
            scheduler.finish("b", started.pop(chance.randrange(len(started))))
        elif step < 0.75 and started:
            job_id = started.pop()
            scheduler.requeue("b", job_id, chance.choice(owners), chance.random() * submitted)
        elif step < 0.85:
            scheduler.remove("b", f"j{chance.randrange(submitted + 1)}")
        else:
            expected = _order(scheduler)[:1]
            moved = scheduler.start_next("b")
            started += moved
            assert moved[:1] == expected[: len(moved[:1])]
        in_order = _order(scheduler)
        for place, job_id in enumerate(in_order, start=1):
            info = scheduler.position("b", job_id)
            assert info is not None and info.position == place
