"""The ``JobStore`` contract, run against every implementation.

Tests talk to a store only through the ``JobStore`` interface. Another implementation needs
one more entry in ``BACKENDS`` (tests/store/conftest.py): a function that makes an unopened
store at a location.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from ibmq_gateway.server.core.model import (
    AuditEntry,
    CircuitSource,
    EventType,
    Job,
    JobEvent,
    JobFailure,
    JobQuery,
    QueueInfo,
    RequestKey,
    RunOptions,
)
from ibmq_gateway.server.core.states import JobState
from ibmq_gateway.server.store import (
    ActiveLimitError,
    Change,
    DuplicateRequestError,
    JobStore,
    PageCursor,
    StaleJobError,
    StoreError,
)
from tests.store.conftest import Backend, MakeStore

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def make_job(job_id: str, *, minutes: float = 0, **fields: Any) -> Job:
    """A CREATING job made ``minutes`` after T0; ``fields`` override any other field."""
    values: dict[str, Any] = {
        "backend": "aer_simulator",
        "owner": "alice",
        "state": JobState.CREATING,
        "created": T0 + timedelta(minutes=minutes),
        "name": f"job {job_id}",
    }
    return Job(id=job_id, **(values | fields))


def rich_job(job_id: str) -> Job:
    """A job with every field away from its default."""
    return make_job(
        job_id,
        state=JobState.QUEUED,
        created=datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC),
        name="bell pair",
        tags=("calibration", "bell"),
        share_level="project",
        scheduling_mode="dedicated",
        experiment_id="exp-7",
        header={"backend_name": "aer_simulator", "nested": {"values": [1, 2.5, None, "é"]}},
        run_options=RunOptions(shots=1024, memory=True, seed_simulator=7, extra={"noise": 0}),
        client_info={"qiskit": "2.2.0"},
        circuit_count=2,
        steps={"CREATING": T0, "QUEUED": T0 + timedelta(seconds=1, microseconds=5)},
        queue=QueueInfo(position=3, estimated_start=T0 + timedelta(minutes=5), scope="provider"),
        error=JobFailure(code=1234, reason="quota", message="over the limit"),
        request_id="req-1",
    )


CIRCUITS = [
    CircuitSource(format="qasm3", payload=b"OPENQASM 3.0;\nqubit[2] q;\n"),
    CircuitSource(format="qpy", payload=bytes(range(256))),
]


async def create(store: JobStore, job: Job, key: RequestKey | None = None) -> Job:
    """Creates ``job`` and returns it as stored."""
    [created] = await store.create_job(job, CIRCUITS, key)
    return created.job


async def advance(store: JobStore, job: Job, **fields: Any) -> Job:
    """Applies one STATE_CHANGED change to ``job`` and returns it as stored."""
    (event,) = await store.apply([Change(replace(job, **fields), EventType.STATE_CHANGED)])
    return event.job


async def all_events(store: JobStore) -> list[JobEvent]:
    return await store.events_after(0, limit=100_000)


def newest_first(jobs: list[Job]) -> list[Job]:
    return sorted(jobs, key=lambda job: (job.created, job.id), reverse=True)


def cursor(job: Job) -> PageCursor:
    return PageCursor(created=job.created, job_id=job.id)


# Creating and reading jobs


async def test_created_job_reads_back_exactly(store: JobStore) -> None:
    job = rich_job("j1")

    [event] = await store.create_job(job, CIRCUITS, None)

    assert event.type is EventType.CREATED
    assert event.sequence == 1
    assert event.revision >= 1
    assert event.job == replace(job, sequence=1, revision=event.revision)
    assert event.time.utcoffset() is not None
    assert await store.get_job("j1") == event.job
    assert await store.get_circuits("j1") == CIRCUITS
    assert await store.latest_event("j1") == event
    assert await store.latest_revision() == event.revision


async def test_create_ignores_the_callers_sequence_and_revision(store: JobStore) -> None:
    [first] = await store.create_job(make_job("j1", sequence=7, revision=70), [], None)
    [second] = await store.create_job(make_job("j2", sequence=7, revision=70), [], None)

    assert (first.sequence, second.sequence) == (1, 1)
    assert first.revision < second.revision
    assert await store.get_circuits("j1") == []


async def test_unknown_job_reads_as_nothing(store: JobStore) -> None:
    assert await store.get_job("nope") is None
    assert await store.get_circuits("nope") == []
    assert await store.get_result("nope") is None
    assert await store.latest_event("nope") is None
    assert await store.events_after(0, job_id="nope") == []


async def test_empty_store_has_no_revisions(store: JobStore) -> None:
    assert await store.latest_revision() == 0
    assert await store.oldest_retained_revision() == 1
    assert await all_events(store) == []
    assert await store.list_jobs(JobQuery(), limit=10) == []


async def test_a_new_jobs_first_changes_commit_with_it(make_store: MakeStore) -> None:
    commits: list[list[JobEvent]] = []
    store = make_store(commits.append)
    await store.open()
    try:
        job = make_job("a", state=JobState.CREATING)
        validating = replace(job, state=JobState.VALIDATING, sequence=1)
        queued = replace(validating, state=JobState.QUEUED, queue=QueueInfo(position=1), sequence=2)
        then = [
            Change(validating, EventType.STATE_CHANGED),
            Change(queued, EventType.QUEUE_INFO_CHANGED),
        ]
        events = await store.create_job(job, CIRCUITS, None, then=then)

        assert [event.type for event in events] == [EventType.CREATED, *[c.type for c in then]]
        assert [event.sequence for event in events] == [1, 2, 3]
        assert commits == [events]  # one transaction
        assert await store.get_job("a") == events[-1].job
        assert events[-1].job.queue == QueueInfo(position=1)
        assert await all_events(store) == events
    finally:
        await store.close()


async def test_a_stale_first_change_leaves_no_job(store: JobStore) -> None:
    job = make_job("a", state=JobState.CREATING)
    wrong = Change(replace(job, state=JobState.VALIDATING, sequence=2), EventType.STATE_CHANGED)

    with pytest.raises(StaleJobError):
        await store.create_job(job, CIRCUITS, None, then=[wrong])

    assert await store.get_job("a") is None
    assert await store.get_circuits("a") == []
    assert await all_events(store) == []


async def test_each_new_store_has_its_own_epoch(make_store: MakeStore) -> None:
    first, second = make_store(location="first"), make_store(location="second")
    await first.open()
    await second.open()
    try:
        assert first.epoch
        assert first.epoch != second.epoch
    finally:
        await first.close()
        await second.close()


async def test_calls_after_close_fail(make_store: MakeStore) -> None:
    store = make_store()
    await store.open()
    await store.close()

    with pytest.raises(StoreError):
        await store.get_job("j1")
    with pytest.raises(StoreError):
        await store.create_job(make_job("j1"), [], None)


# Applying changes


async def test_sequences_are_gapless_per_job_and_revisions_rise_globally(
    store: JobStore,
) -> None:
    a, b = await create(store, make_job("a")), await create(store, make_job("b"))
    a = await advance(store, a, state=JobState.VALIDATING)
    b = await advance(store, b, state=JobState.VALIDATING)
    a = await advance(store, a, state=JobState.VALIDATED)
    await store.apply([Change(replace(a, name="renamed"), EventType.METADATA_CHANGED)])

    events = await all_events(store)

    revisions = [event.revision for event in events]
    assert revisions == sorted(set(revisions))
    assert [e.sequence for e in events if e.job_id == "a"] == [1, 2, 3, 4]
    assert [e.sequence for e in events if e.job_id == "b"] == [1, 2]
    assert await store.latest_revision() == revisions[-1]
    assert await store.get_job("a") == events[-1].job


async def test_apply_returns_one_event_per_change_in_order(store: JobStore) -> None:
    a, b = await create(store, make_job("a")), await create(store, make_job("b"))
    moved_a = replace(a, state=JobState.VALIDATING)
    queued_b = replace(b, queue=QueueInfo(position=1))
    renamed_a = replace(moved_a, name="second change", sequence=2)

    events = await store.apply(
        [
            Change(moved_a, EventType.STATE_CHANGED),
            Change(queued_b, EventType.QUEUE_INFO_CHANGED),
            Change(renamed_a, EventType.METADATA_CHANGED),
        ]
    )

    assert [(e.job_id, e.sequence, e.type) for e in events] == [
        ("a", 2, EventType.STATE_CHANGED),
        ("b", 2, EventType.QUEUE_INFO_CHANGED),
        ("a", 3, EventType.METADATA_CHANGED),
    ]
    assert events[0].revision < events[1].revision < events[2].revision
    assert events[2].job == replace(renamed_a, sequence=3, revision=events[2].revision)
    assert await store.get_job("a") == events[2].job
    assert await store.get_job("b") == events[1].job
    assert (await all_events(store))[-3:] == events


async def test_apply_nothing_writes_nothing(store: JobStore) -> None:
    job = await create(store, make_job("a"))

    assert await store.apply([]) == []
    assert await store.latest_revision() == job.revision


async def test_replicas_changing_one_job_at_once_never_both_write(make_store: MakeStore) -> None:
    first, second = make_store(), make_store()  # at one location: replicas of one store
    if not first.shared:
        pytest.skip("only replicas share a store")
    await first.open()
    await second.open()
    try:
        for index in range(10):
            job = await create(first, make_job(f"j{index}"))
            outcomes = await asyncio.gather(
                advance(first, job, state=JobState.VALIDATING),
                advance(second, job, name="renamed"),
                return_exceptions=True,
            )
            written = [outcome for outcome in outcomes if isinstance(outcome, Job)]
            refused = [outcome for outcome in outcomes if isinstance(outcome, StaleJobError)]
            assert (len(written), len(refused)) == (1, 1), outcomes
            assert await second.get_job(job.id) == written[0]
    finally:
        await first.close()
        await second.close()


async def test_stale_change_raises_and_writes_nothing(store: JobStore) -> None:
    read = await create(store, make_job("a"))
    current = await advance(store, read, state=JobState.VALIDATING)
    log = await all_events(store)

    with pytest.raises(StaleJobError):
        await store.apply(
            [Change(replace(read, state=JobState.CANCELLED), EventType.STATE_CHANGED, {"x": 1})]
        )

    assert await store.get_job("a") == current
    assert await all_events(store) == log
    assert await store.get_result("a") is None


async def test_one_stale_change_undoes_the_whole_apply(store: JobStore) -> None:
    a, b = await create(store, make_job("a")), await create(store, make_job("b"))
    await advance(store, b, state=JobState.VALIDATING)
    log = await all_events(store)

    with pytest.raises(StaleJobError):
        await store.apply(
            [
                Change(replace(a, state=JobState.VALIDATING), EventType.STATE_CHANGED, {"r": 1}),
                Change(replace(b, state=JobState.CANCELLED), EventType.STATE_CHANGED),
            ]
        )

    assert await store.get_job("a") == a
    assert await store.get_result("a") is None
    assert await all_events(store) == log


async def test_unknown_job_in_apply_raises_key_error_and_writes_nothing(
    store: JobStore,
) -> None:
    a = await create(store, make_job("a"))

    with pytest.raises(KeyError):
        await store.apply(
            [
                Change(replace(a, state=JobState.VALIDATING), EventType.STATE_CHANGED, {"r": 1}),
                Change(make_job("ghost", sequence=1), EventType.STATE_CHANGED),
            ]
        )

    assert await store.get_job("a") == a
    assert await store.get_job("ghost") is None
    assert await store.get_result("a") is None
    assert await store.latest_revision() == a.revision


async def test_concurrent_changes_from_one_read_let_exactly_one_win(store: JobStore) -> None:
    read = await create(store, make_job("a"))

    outcomes = await asyncio.gather(
        advance(store, read, state=JobState.VALIDATING),
        advance(store, read, state=JobState.CANCELLED),
        return_exceptions=True,
    )

    winners = [outcome for outcome in outcomes if isinstance(outcome, Job)]
    assert len(winners) == 1
    assert sum(isinstance(outcome, StaleJobError) for outcome in outcomes) == 1
    assert await store.get_job("a") == winners[0]


async def test_concurrent_writes_keep_the_numbering(store: JobStore) -> None:
    jobs = await asyncio.gather(*(create(store, make_job(f"j{i:02}")) for i in range(20)))
    await asyncio.gather(*(advance(store, job, state=JobState.VALIDATING) for job in jobs))

    events = await all_events(store)

    revisions = [event.revision for event in events]
    assert len(events) == 40
    assert revisions == sorted(set(revisions))
    for job in jobs:
        assert [e.sequence for e in events if e.job_id == job.id] == [1, 2]


async def test_writes_sent_together_fail_alone(store: JobStore) -> None:
    """Writes that arrive together (and may commit together): each one's error undoes
    that write only."""
    stale = await create(store, make_job("stale"))
    await advance(store, stale, state=JobState.VALIDATING)
    key = RequestKey(owner="alice", request_id="req-1", fingerprint="f1")

    outcomes = await asyncio.gather(
        create(store, make_job("first"), key),
        create(store, make_job("again"), key),
        store.apply([Change(replace(stale, state=JobState.CANCELLED), EventType.STATE_CHANGED)]),
        create(store, make_job("other")),
        return_exceptions=True,
    )

    first, again, cancel, other = outcomes
    assert isinstance(first, Job) and isinstance(other, Job)
    assert isinstance(again, DuplicateRequestError) and again.job_id == "first"
    assert isinstance(cancel, StaleJobError)
    assert await store.get_job("again") is None
    assert (await store.get_job("stale")).state is JobState.VALIDATING  # type: ignore[union-attr]
    events = await all_events(store)
    assert [e.job_id for e in events] == ["stale", "stale", "first", "other"]
    assert [e.revision for e in events] == sorted({e.revision for e in events})


# Results


async def test_result_is_stored_with_its_change(store: JobStore) -> None:
    job = await create(store, make_job("a"))
    partial = {"results": [{"shots": 10, "data": {"counts": {"0x0": 6, "0x3": 4}}}]}
    final = {"results": [], "success": True}

    job = (await store.apply([Change(job, EventType.METADATA_CHANGED, partial)]))[0].job
    assert await store.get_result("a") == partial

    job = await advance(store, job, state=JobState.VALIDATING)
    assert await store.get_result("a") == partial

    await store.apply(
        [Change(replace(job, state=JobState.CANCELLED), EventType.STATE_CHANGED, final)]
    )
    assert await store.get_result("a") == final


# Idempotency keys


async def test_duplicate_request_raises_and_writes_nothing(store: JobStore) -> None:
    key = RequestKey(owner="alice", request_id="req-1", fingerprint="sha256:aaa")
    await create(store, make_job("first"), key)
    log = await all_events(store)
    again = replace(key, fingerprint="sha256:bbb")

    with pytest.raises(DuplicateRequestError) as raised:
        await store.create_job(make_job("second"), CIRCUITS, again)

    assert raised.value.existing == key
    assert raised.value.job_id == "first"
    assert await store.get_job("second") is None
    assert await store.get_circuits("second") == []
    assert await all_events(store) == log
    assert await store.find_request("alice", "req-1") == (key, "first")


def submission_record(job_id: str) -> AuditEntry:
    return AuditEntry(T0, "alice", "job.submit", job_id, "ipv4:127.0.0.1:1", {"n": 1})


async def test_the_record_of_a_submission_is_stored_with_its_job(store: JobStore) -> None:
    record = submission_record("audited")

    await store.create_job(make_job("audited"), CIRCUITS, None, audit=record)

    assert await store.list_audit(limit=10) == [record]


async def test_a_refused_job_leaves_no_record_of_its_submission(store: JobStore) -> None:
    key = RequestKey(owner="alice", request_id="req-1", fingerprint="sha256:aaa")
    await create(store, make_job("first"), key)

    with pytest.raises(DuplicateRequestError):
        await store.create_job(make_job("again"), CIRCUITS, key, audit=submission_record("x"))
    with pytest.raises(ActiveLimitError):
        await store.create_job(
            make_job("past"), CIRCUITS, None, active_limit=1, audit=submission_record("y")
        )

    assert await store.list_audit(limit=10) == []


async def test_request_ids_are_per_owner(store: JobStore) -> None:
    alices = RequestKey(owner="alice", request_id="req-1", fingerprint="f1")
    bobs = RequestKey(owner="bob", request_id="req-1", fingerprint="f2")

    await create(store, make_job("a"), alices)
    await create(store, make_job("b", owner="bob"), bobs)

    assert await store.find_request("alice", "req-1") == (alices, "a")
    assert await store.find_request("bob", "req-1") == (bobs, "b")


async def test_find_request_without_a_key_finds_nothing(store: JobStore) -> None:
    await create(store, make_job("a", request_id="req-1"))

    assert await store.find_request("alice", "req-1") is None
    assert await store.find_request("alice", "never") is None


# The active-jobs limit


async def create_within(store: JobStore, job_id: str, limit: int, **fields: Any) -> JobEvent:
    [created] = await store.create_job(
        make_job(job_id, **fields), CIRCUITS, None, active_limit=limit
    )
    return created


async def test_a_job_past_its_owners_active_limit_is_refused_and_nothing_written(
    store: JobStore,
) -> None:
    await create_within(store, "a", 2)
    await create_within(store, "b", 2)
    log = await all_events(store)

    with pytest.raises(ActiveLimitError) as raised:
        await create_within(store, "c", 2)

    assert raised.value.active == 2
    assert await store.get_job("c") is None
    assert await store.get_circuits("c") == []
    assert await all_events(store) == log


async def test_the_active_limit_counts_only_the_owners_unfinished_jobs(store: JobStore) -> None:
    finished = await create(store, make_job("finished"))
    await advance(store, finished, state=JobState.CANCELLED)
    await create(store, make_job("bobs", owner="bob"))
    await create(store, make_job("queued", state=JobState.QUEUED))

    assert (await create_within(store, "second", 2)).job.id == "second"
    with pytest.raises(ActiveLimitError):
        await create_within(store, "third", 2)


async def test_two_stores_on_one_database_keep_the_limit_between_them(
    backend: Backend, make_store: MakeStore
) -> None:
    if not backend.durable:
        pytest.skip("two stores share nothing in memory")
    stores = [make_store(), make_store()]
    for each in stores:
        await each.open()
    try:
        outcomes = await asyncio.gather(
            *(create_within(stores[i % 2], f"j{i:02}", 3) for i in range(12)),
            return_exceptions=True,
        )
        created = [outcome for outcome in outcomes if isinstance(outcome, JobEvent)]
        refused = [outcome for outcome in outcomes if isinstance(outcome, ActiveLimitError)]
        assert (len(created), len(refused)) == (3, 9)
        assert len(await stores[0].jobs_in_states(frozenset({JobState.CREATING}))) == 3
    finally:
        for each in stores:
            await each.close()


# Listing jobs


@pytest.fixture
async def catalogue(store: JobStore) -> list[Job]:
    """Five jobs of three owners on three backends, two of them moved on; as stored."""
    jobs = [
        make_job(
            "a",
            minutes=0,
            name="bell-1",
            tags=("bell", "calib"),
            experiment_id="exp-1",
        ),
        make_job(
            "b",
            minutes=1,
            backend="fake_sherbrooke",
            name="ghz-big",
            tags=("ghz",),
            experiment_id="exp-1",
        ),
        make_job("c", minutes=2, owner="bob", name="bell-2", tags=("bell",), experiment_id="exp-2"),
        make_job(
            "d",
            minutes=3,
            backend="ibm_brisbane",
            owner="bob",
            name="Calibration run",
            tags=("calib", "nightly", "calib"),
        ),
        make_job("e", minutes=4, owner="carol", name=""),
    ]
    stored = {job.id: await create(store, job) for job in jobs}
    stored["a"] = await advance(store, stored["a"], state=JobState.VALIDATING)
    stored["c"] = await advance(store, stored["c"], state=JobState.VALIDATING)
    stored["c"] = await advance(store, stored["c"], state=JobState.VALIDATED)
    return list(stored.values())


QUERIES = {
    "everything": (JobQuery(), "edcba"),
    "backend": (JobQuery(backend="aer_simulator"), "eca"),
    "states moved on": (
        JobQuery(states=frozenset({JobState.VALIDATING, JobState.VALIDATED})),
        "ca",
    ),
    "state still creating": (JobQuery(states=frozenset({JobState.CREATING})), "edb"),
    "name regex anchored": (JobQuery(name_pattern=r"^bell-\d$"), "ca"),
    "name regex searched": (JobQuery(name_pattern="ib"), "d"),
    "name regex case-insensitive": (JobQuery(name_pattern="(?i)calib"), "d"),
    "any tag": (JobQuery(tags=("bell", "nightly")), "dca"),
    "all tags": (JobQuery(tags=("bell", "calib"), tags_all=True), "a"),
    "all of one tag": (JobQuery(tags=("calib",), tags_all=True), "da"),
    "unknown tag": (JobQuery(tags=("nope",)), ""),
    "created range inclusive": (
        JobQuery(created_after=T0 + timedelta(minutes=1), created_before=T0 + timedelta(minutes=3)),
        "dcb",
    ),
    "created after the newest": (JobQuery(created_after=T0 + timedelta(minutes=4)), "e"),
    "created before the oldest": (JobQuery(created_before=T0), "a"),
    "created bound in another zone": (
        JobQuery(created_after=datetime(2025, 3, 1, 14, 3, tzinfo=timezone(timedelta(hours=2)))),
        "ed",
    ),
    "experiment": (JobQuery(experiment_id="exp-1"), "ba"),
    "owner": (JobQuery(owner="bob"), "dc"),
    "combined": (JobQuery(backend="aer_simulator", owner="alice", tags=("bell",)), "a"),
    "no match": (JobQuery(owner="dave"), ""),
}


@pytest.mark.parametrize(("query", "expected"), QUERIES.values(), ids=QUERIES.keys())
async def test_list_jobs_filters(
    store: JobStore, catalogue: list[Job], query: JobQuery, expected: str
) -> None:
    listed = await store.list_jobs(query, limit=100)

    assert [job.id for job in listed] == list(expected)
    assert listed == [job for job in newest_first(catalogue) if query.matches(job)]


async def test_list_jobs_oldest_first_and_limited(store: JobStore, catalogue: list[Job]) -> None:
    oldest = await store.list_jobs(JobQuery(), limit=3, ascending=True)
    newest = await store.list_jobs(JobQuery(), limit=3)

    assert [job.id for job in oldest] == ["a", "b", "c"]
    assert [job.id for job in newest] == ["e", "d", "c"]


async def test_list_jobs_shows_the_latest_snapshot(store: JobStore, catalogue: list[Job]) -> None:
    e = next(job for job in catalogue if job.id == "e")
    e = await advance(store, e, state=JobState.CANCELLED, tags=("bell",))

    cancelled = await store.list_jobs(JobQuery(states=frozenset({JobState.CANCELLED})), limit=9)
    bells = await store.list_jobs(JobQuery(tags=("bell",)), limit=9)

    assert cancelled == [e]
    assert [job.id for job in bells] == ["e", "c", "a"]


async def test_jobs_made_at_the_same_time_are_ordered_by_id(store: JobStore) -> None:
    for job_id in ["m", "z", "a"]:
        await create(store, make_job(job_id))

    newest = await store.list_jobs(JobQuery(), limit=10)
    oldest = await store.list_jobs(JobQuery(), limit=10, ascending=True)

    assert [job.id for job in newest] == ["z", "m", "a"]
    assert [job.id for job in oldest] == ["a", "m", "z"]


async def pages(store: JobStore, query: JobQuery, size: int, ascending: bool) -> list[list[Job]]:
    """Every page of a listing, each continuing after the last job of the one before."""
    found: list[list[Job]] = []
    after: PageCursor | None = None
    while page := await store.list_jobs(query, limit=size, ascending=ascending, after=after):
        found.append(page)
        after = cursor(page[-1])
        assert len(found) <= 100, "the cursor does not move on"
    return found


@pytest.mark.parametrize("ascending", [False, True], ids=["newest-first", "oldest-first"])
async def test_keyset_pages_return_each_job_once(store: JobStore, ascending: bool) -> None:
    # Three jobs share each creation time, so the cursor must break ties by id.
    jobs = [await create(store, make_job(f"j{i:02}", minutes=i // 3)) for i in range(25)]
    expected = newest_first(jobs)[:: -1 if ascending else 1]

    found = await pages(store, JobQuery(), size=10, ascending=ascending)

    assert [len(page) for page in found] == [10, 10, 5]
    assert [job for page in found for job in page] == expected


async def test_keyset_pages_of_a_filtered_listing(store: JobStore) -> None:
    jobs = [
        await create(store, make_job(f"j{i:02}", minutes=i, owner="bob" if i % 3 else "alice"))
        for i in range(25)
    ]
    query = JobQuery(owner="bob")

    found = await pages(store, query, size=4, ascending=False)

    assert [job for page in found for job in page] == [
        job for job in newest_first(jobs) if query.matches(job)
    ]
    assert [len(page) for page in found] == [4, 4, 4, 4]


async def test_skip_drops_matching_jobs_first(store: JobStore) -> None:
    jobs = [
        await create(store, make_job(f"j{i:02}", minutes=i, tags=("odd",) if i % 2 else ()))
        for i in range(20)
    ]
    query = JobQuery(tags=("odd",))
    everything = [job for job in newest_first(jobs) if query.matches(job)]

    assert await store.list_jobs(query, limit=3, skip=2) == everything[2:5]
    assert (
        await store.list_jobs(query, limit=3, skip=2, after=cursor(everything[1]))
        == (everything[4:7])
    )
    assert await store.list_jobs(query, limit=3, skip=len(everything)) == []


# Recovery


async def test_jobs_in_states_lists_oldest_first(store: JobStore) -> None:
    late = await create(store, make_job("late", minutes=9))
    early = await create(store, make_job("early", minutes=1))
    middle = await create(store, make_job("middle", minutes=5))
    middle = await advance(store, middle, state=JobState.VALIDATING)
    await advance(store, early, state=JobState.CANCELLED)

    found = await store.jobs_in_states(frozenset({JobState.CREATING, JobState.VALIDATING}))

    assert found == [middle, late]
    assert await store.jobs_in_states(frozenset({JobState.RUNNING})) == []
    assert await store.jobs_in_states(frozenset()) == []


# The event log


async def test_events_after_a_revision_of_one_job_and_limited(store: JobStore) -> None:
    a, b = await create(store, make_job("a")), await create(store, make_job("b"))
    a = await advance(store, a, state=JobState.VALIDATING)
    await advance(store, b, state=JobState.VALIDATING)
    await advance(store, a, state=JobState.VALIDATED)
    log = await all_events(store)

    assert [(e.job_id, e.sequence) for e in log] == [
        ("a", 1),
        ("b", 1),
        ("a", 2),
        ("b", 2),
        ("a", 3),
    ]
    assert await store.events_after(log[1].revision) == log[2:]
    assert await store.events_after(0, limit=2) == log[:2]
    assert await store.events_after(0, job_id="a") == [log[0], log[2], log[4]]
    assert await store.events_after(log[2].revision, job_id="a") == [log[4]]
    assert await store.events_after(0, job_id="b", limit=1) == [log[1]]
    assert await store.events_after(log[-1].revision) == []


async def test_latest_event_is_the_jobs_current_state(store: JobStore) -> None:
    a = await create(store, make_job("a"))
    await create(store, make_job("b"))
    a = await advance(store, a, state=JobState.VALIDATING)

    latest = await store.latest_event("a")

    assert latest is not None
    assert latest.job == a == await store.get_job("a")
    assert latest.type is EventType.STATE_CHANGED
    assert latest == (await store.events_after(0, job_id="a"))[-1]


# Pruning


async def test_prune_keeps_every_jobs_latest_event(store: JobStore) -> None:
    a = await create(store, make_job("a"))
    await create(store, make_job("b"))
    a = await advance(store, a, state=JobState.VALIDATING)
    a = await advance(store, a, state=JobState.VALIDATED)
    log = await all_events(store)

    deleted = await store.prune_events(datetime.now(UTC) + timedelta(hours=1))

    assert deleted == 2
    assert await all_events(store) == [log[1], log[3]]
    assert await store.oldest_retained_revision() == log[2].revision + 1
    assert await store.latest_revision() == log[3].revision
    assert await store.latest_event("a") == log[3]
    assert await store.get_job("a") == a


async def test_prune_only_deletes_events_older_than_the_cutoff(store: JobStore) -> None:
    job = await create(store, make_job("a"))
    for state in [JobState.VALIDATING, JobState.VALIDATED, JobState.QUEUED]:
        await asyncio.sleep(0.002)  # distinct event times
        job = await advance(store, job, state=state)
    log = await all_events(store)
    cutoff = log[2].time

    deleted = await store.prune_events(cutoff)

    kept = [event for event in log if event.time >= cutoff or event == log[-1]]
    assert deleted == len(log) - len(kept) > 0
    assert await all_events(store) == kept
    oldest = await store.oldest_retained_revision()
    assert [e for e in log if e.revision >= oldest] == kept


async def test_prune_with_nothing_old_changes_nothing(store: JobStore) -> None:
    a = await create(store, make_job("a"))
    await advance(store, a, state=JobState.VALIDATING)
    log = await all_events(store)

    assert await store.prune_events(T0) == 0
    assert await all_events(store) == log
    assert await store.oldest_retained_revision() == 1


async def test_oldest_retained_revision_never_moves_back(store: JobStore) -> None:
    a = await create(store, make_job("a"))
    b = await create(store, make_job("b"))
    await advance(store, b, state=JobState.VALIDATING)
    await store.prune_events(datetime.now(UTC) + timedelta(hours=1))
    assert await store.oldest_retained_revision() == b.revision + 1

    # Now only a's first event goes, and its revision is below b's pruned one.
    await advance(store, a, state=JobState.VALIDATING)
    assert await store.prune_events(datetime.now(UTC) + timedelta(hours=1)) == 1

    assert await store.oldest_retained_revision() == b.revision + 1


async def test_revisions_are_not_reused_after_pruning(store: JobStore) -> None:
    a = await create(store, make_job("a"))
    a = await advance(store, a, state=JobState.VALIDATING)
    await store.prune_events(datetime.now(UTC) + timedelta(hours=1))
    pruned_through = await store.oldest_retained_revision()

    b = await create(store, make_job("b"))

    assert b.revision > a.revision
    assert await store.oldest_retained_revision() == pruned_through


# Durability


async def test_reopened_store_keeps_its_epoch_and_data(
    backend: Backend, make_store: MakeStore
) -> None:
    if not backend.durable:
        pytest.skip("this store keeps nothing after close")
    key = RequestKey(owner="alice", request_id="req-1", fingerprint="f")
    first = make_store()
    await first.open()
    job = await create(first, rich_job("a"), key)
    (running,) = await first.apply(
        [Change(replace(job, state=JobState.RUNNING), EventType.STATE_CHANGED, {"ok": 1})]
    )
    await first.prune_events(datetime.now(UTC) + timedelta(hours=1))
    before = (first.epoch, await first.get_job("a"), await all_events(first))
    retained = await first.oldest_retained_revision()
    await first.close()

    second = make_store()
    await second.open()
    try:
        assert (second.epoch, await second.get_job("a"), await all_events(second)) == before
        assert await second.get_circuits("a") == CIRCUITS
        assert await second.get_result("a") == {"ok": 1}
        assert await second.find_request("alice", "req-1") == (key, "a")
        assert await second.oldest_retained_revision() == retained
        assert await second.latest_revision() == running.revision
        assert (await create(second, make_job("b"))).revision > running.revision
    finally:
        await second.close()


# Commit notifications


async def test_on_commit_hands_over_events_in_commit_order(make_store: MakeStore) -> None:
    loop = asyncio.get_running_loop()
    delivered: list[JobEvent] = []
    store = make_store(lambda events: loop.call_soon_threadsafe(delivered.extend, events))
    await store.open()
    try:
        first = await store.create_job(make_job("first"), [], None)
        assert delivered == first  # forwarded before the write returned
        jobs = await asyncio.gather(*(create(store, make_job(f"j{i}")) for i in range(10)))
        changes = [
            Change(replace(job, state=JobState.VALIDATING), EventType.STATE_CHANGED) for job in jobs
        ]
        events = await store.apply(changes)
        assert delivered[-10:] == events
        assert delivered == await all_events(store)
    finally:
        await store.close()


async def test_on_commit_hears_nothing_of_failed_writes(make_store: MakeStore) -> None:
    delivered: list[JobEvent] = []
    store = make_store(delivered.extend)
    await store.open()
    try:
        key = RequestKey(owner="alice", request_id="r", fingerprint="f")
        job = await create(store, make_job("a"), key)
        with pytest.raises(DuplicateRequestError):
            await create(store, make_job("b"), key)
        with pytest.raises(StaleJobError):
            await advance(store, replace(job, sequence=5), state=JobState.VALIDATING)
        with pytest.raises(KeyError):
            await advance(store, make_job("ghost"), state=JobState.VALIDATING)
        assert delivered == await all_events(store)
        assert len(delivered) == 1
    finally:
        await store.close()


async def test_a_failing_on_commit_does_not_undo_the_write(
    make_store: MakeStore, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(events: list[JobEvent]) -> None:
        raise RuntimeError("listener is gone")

    store = make_store(broken)
    await store.open()
    try:
        with caplog.at_level(logging.ERROR):
            [event] = await store.create_job(make_job("a"), [], None)
        assert await store.get_job("a") == event.job
        assert any("listener is gone" in str(r.exc_info) for r in caplog.records)
    finally:
        await store.close()
