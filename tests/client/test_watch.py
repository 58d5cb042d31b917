"""The stream follower against real gateways: resumes, refetches, deadlines, give-ups.

Each follower runs as a user of its own, so the gateway's RPC log tells its calls apart
from what the test itself does (as the admin) to move the job along.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing

import grpc
import pytest

from ibmq_gateway.client import IBMQJobApiError, _watch
from ibmq_gateway.client._rpc import ApiClient
from ibmq_gateway.client._watch import JobFollower
from ibmq_gateway.server.ops.embedded import EmbeddedGateway
from ibmq_gateway.v1 import job_pb2, job_service_pb2
from tests.client.gateways import caller, prune_log
from tests.helpers import connect, submit, wait_final

QUEUED, RUNNING, COMPLETED, CANCELLED = (
    job_pb2.JOB_STATE_QUEUED,
    job_pb2.JOB_STATE_RUNNING,
    job_pb2.JOB_STATE_COMPLETED,
    job_pb2.JOB_STATE_CANCELLED,
)
# The follower's back-off schedule: doubling from 0.1 s, at most 2 s.
SCHEDULE = [0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0]


def queued_job(gateway: EmbeddedGateway, stubs) -> str:
    """Submits a Bell job with ``stubs`` and returns its id once the gateway has queued it."""
    job_id: str = submit(stubs).job.id
    # Followed as the admin, so that these calls are not the follower's in the RPC log.
    with closing(ApiClient(gateway.address)) as admin:
        for snapshot in JobFollower(admin, job_id):
            if snapshot.state == QUEUED:
                break
    return job_id


def read_until(follower: Iterator[job_pb2.Job], state: int) -> list[job_pb2.Job]:
    """Snapshots up to the first one in ``state``; the follower's stream stays open."""
    seen = [next(follower)]
    while seen[-1].state != state:
        seen.append(next(follower))
    return seen


def assert_each_event_once(snapshots: list[job_pb2.Job]) -> None:
    """Every event from the first snapshot on, once and in order."""
    sequences = [snapshot.sequence for snapshot in snapshots]
    assert sequences == list(range(sequences[0], sequences[0] + len(sequences)))


def rename(gateway: EmbeddedGateway, job_id: str, name: str) -> None:
    with closing(connect(gateway.address)) as admin:
        request = job_service_pb2.UpdateJobRequest(job_id=job_id, name=name)
        admin.jobs.UpdateJob(request, timeout=30)


def cancel(gateway: EmbeddedGateway, job_id: str) -> None:
    with closing(connect(gateway.address)) as admin:
        admin.jobs.CancelJob(job_service_pb2.CancelJobRequest(job_id=job_id), timeout=30)


def test_a_stream_that_ends_with_the_final_event_is_read_once(gateway, rpc_log):
    with caller(gateway) as alice:
        job_id = submit(alice.stubs).job.id
        snapshots = list(JobFollower(alice.api, job_id))
    assert_each_event_once(snapshots)
    assert snapshots[-1].state == COMPLETED and snapshots[-1].final
    assert rpc_log.wait_for("WatchJob", "OK", alice.name) == ["OK"]
    assert rpc_log.codes("GetJob", alice.name) == []


def test_a_stream_at_its_maximum_age_is_resumed_from_the_last_token(start_gateway, rpc_log):
    gateway = start_gateway(backend_concurrency={"aer_simulator": 0}, max_stream_age=1.0)
    with caller(gateway) as alice:
        job_id = queued_job(gateway, alice.stubs)
        follower = iter(JobFollower(alice.api, job_id))
        seen = read_until(follower, QUEUED)
        # The gateway ends the stream (OK, without a final event) while nobody reads it, and
        # the job changes twice before the follower comes back.
        rpc_log.wait_for("WatchJob", "OK", alice.name)
        rename(gateway, job_id, "renamed")
        cancel(gateway, job_id)
        seen += list(follower)
    assert_each_event_once(seen)
    # A watch without a token would start at the cancellation; the token replays the rename.
    assert [(s.name, s.state) for s in seen[-2:]] == [("renamed", QUEUED), ("renamed", CANCELLED)]
    assert rpc_log.wait_for("WatchJob", "OK", alice.name, count=2) == ["OK", "OK"]


def test_a_stream_cut_by_a_gateway_restart_is_resumed_from_the_last_token(stalled, rpc_log):
    with caller(stalled) as alice:
        job_id = queued_job(stalled, alice.stubs)
        follower = iter(JobFollower(alice.api, job_id))
        seen = read_until(follower, QUEUED)
        # The gateway comes back with a free slot: the job runs and completes unseen.
        restart_with_a_free_slot(stalled, job_id)
        seen += list(follower)
    assert_each_event_once(seen)
    assert [s.state for s in seen[-2:]] == [RUNNING, COMPLETED]
    assert rpc_log.wait_for("WatchJob", "OK", alice.name) == ["UNAVAILABLE", "OK"]


def test_a_stream_cut_off_as_too_slow_is_resumed_from_the_last_token(start_gateway, rpc_log):
    # With no room in a stream's buffer, any change reaching a stream overflows it: the
    # gateway cuts the stream off with RESOURCE_EXHAUSTED, as it does a reader that lags.
    gateway = start_gateway(backend_concurrency={"aer_simulator": 0}, stream_buffer=0)
    with caller(gateway) as alice:
        job_id = queued_job(gateway, alice.stubs)
        follower = iter(JobFollower(alice.api, job_id))
        seen = read_until(follower, QUEUED)
        rename(gateway, job_id, "renamed")
        cancel(gateway, job_id)
        rpc_log.wait_for("WatchJob", "RESOURCE_EXHAUSTED", alice.name)
        seen += list(follower)
    assert_each_event_once(seen)
    assert [(s.name, s.state) for s in seen[-2:]] == [("renamed", QUEUED), ("renamed", CANCELLED)]
    assert rpc_log.wait_for("WatchJob", "OK", alice.name) == ["RESOURCE_EXHAUSTED", "OK"]


def test_back_off_doubles_without_messages_up_to_two_seconds_and_resets_after_one(
    start_gateway, rpc_log
):
    # Streams end at half a second, so the one opened after the outage ends (OK) soon after
    # its first message, and the follower backs off once more.
    gateway = start_gateway(backend_concurrency={"aer_simulator": 0}, max_stream_age=0.5)
    sleeps: list[float] = []
    with caller(gateway) as alice:
        job_id = queued_job(gateway, alice.stubs)

        def sleep(seconds: float) -> None:
            """Records the back-off, skips the wait, and brings the gateway back in time."""
            sleeps.append(seconds)
            if len(sleeps) == len(SCHEDULE):
                gateway.start()
                # The follower's channel waits out gRPC's own reconnect back-off first.
                grpc.channel_ready_future(alice.api._channel).result(timeout=30)
            elif len(sleeps) > len(SCHEDULE):
                cancel(gateway, job_id)

        follower = iter(JobFollower(alice.api, job_id, sleep=sleep))
        seen = read_until(follower, QUEUED)
        gateway.stop()
        seen += list(follower)
    assert sleeps == [*SCHEDULE, 0.1]
    assert_each_event_once(seen)
    assert seen[-1].state == CANCELLED


def test_an_expired_token_fetches_the_job_and_watches_from_its_current_state(stalled, rpc_log):
    with caller(stalled) as alice:
        job_id = queued_job(stalled, alice.stubs)
        follower = iter(JobFollower(alice.api, job_id))
        seen = read_until(follower, QUEUED)
        # While the follower is away the job changes twice and the gateway prunes its log
        # past the follower's token; streams now end at half a second.
        stalled.settings = dataclasses.replace(stalled.settings, max_stream_age=0.5)
        stalled.restart()
        rename(stalled, job_id, "first")
        rename(stalled, job_id, "second")
        assert prune_log(stalled) > 0
        refetched = next(follower)
        with ThreadPoolExecutor(1) as pool:
            reading = pool.submit(list, follower)
            # The follower watches again without a token: that stream starts with the state
            # just fetched (not yielded again) and ends at its maximum age; only then is the
            # job cancelled.
            try:
                rpc_log.wait_for("WatchJob", "OK", alice.name)
            finally:
                cancel(stalled, job_id)
            rest = reading.result(timeout=60)
    assert (refetched.name, refetched.state) == ("second", QUEUED)
    assert refetched.sequence >= seen[-1].sequence + 2  # the first rename was pruned
    assert [(s.name, s.state) for s in rest] == [("second", CANCELLED)]
    assert_each_event_once([refetched, *rest])
    codes = rpc_log.wait_for("WatchJob", "OK", alice.name, count=2)
    assert codes[:2] == ["UNAVAILABLE", "OUT_OF_RANGE"]
    assert rpc_log.codes("GetJob", alice.name) == ["OK"]


def test_an_expired_token_of_a_finished_job_ends_with_the_fetched_snapshot(stalled, rpc_log):
    with caller(stalled) as alice:
        job_id = queued_job(stalled, alice.stubs)
        follower = iter(JobFollower(alice.api, job_id))
        seen = read_until(follower, QUEUED)
        # The job runs and completes while the follower is away; then its RUNNING event is
        # pruned (a job's latest event always stays).
        restart_with_a_free_slot(stalled, job_id)
        assert prune_log(stalled) > 0
        rest = list(follower)
    assert [s.state for s in rest] == [COMPLETED]
    assert rest[0].final and rest[0].sequence >= seen[-1].sequence + 2  # RUNNING was pruned
    assert rpc_log.wait_for("WatchJob", "OUT_OF_RANGE", alice.name) == [
        "UNAVAILABLE",
        "OUT_OF_RANGE",
    ]
    assert rpc_log.codes("GetJob", alice.name) == ["OK"]


def test_an_unknown_job_stops_with_an_api_error(gateway, rpc_log):
    with caller(gateway) as alice, pytest.raises(IBMQJobApiError, match="NOT_FOUND") as caught:
        list(JobFollower(alice.api, "no-such-job"))
    assert caught.value.code is grpc.StatusCode.NOT_FOUND
    assert caught.value.reason == "JOB_NOT_FOUND"
    assert rpc_log.wait_for("WatchJob", "NOT_FOUND", alice.name) == ["NOT_FOUND"]


def test_a_refused_watch_is_not_retried(gateway, rpc_log):
    with closing(connect(gateway.address)) as admin:
        job_id = submit(admin).job.id
    with (
        closing(ApiClient(gateway.address, token="igw_not-a-real-token")) as stranger,
        pytest.raises(IBMQJobApiError, match="UNAUTHENTICATED") as caught,
    ):
        list(JobFollower(stranger, job_id))
    assert caught.value.code is grpc.StatusCode.UNAUTHENTICATED
    # Without a valid token the call has no principal.
    assert rpc_log.wait_for("WatchJob", "UNAUTHENTICATED", "-") == ["UNAUTHENTICATED"]


def test_the_deadline_ends_an_open_stream_with_a_timeout(stalled):
    with caller(stalled) as alice:
        job_id = queued_job(stalled, alice.stubs)
        follower = iter(JobFollower(alice.api, job_id, deadline=time.monotonic() + 1.0))
        seen = read_until(follower, QUEUED)
        with pytest.raises(TimeoutError, match=job_id):
            next(follower)
    assert seen[-1].state == QUEUED


def test_the_deadline_also_bounds_the_retries(gateway):
    address = gateway.address
    gateway.stop()  # nothing listens there any more
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        time.sleep(seconds)

    with closing(ApiClient(address)) as api, pytest.raises(TimeoutError):
        list(JobFollower(api, "job-1", deadline=time.monotonic() + 0.5, sleep=sleep))
    # Back-off as scheduled, but never past the deadline.
    assert all(0 < taken <= planned for taken, planned in zip(sleeps, SCHEDULE, strict=False))
    assert sum(sleeps) <= 0.5


def test_following_gives_up_when_the_gateway_stays_unreachable(gateway, monkeypatch):
    monkeypatch.setattr(_watch, "MAX_OUTAGE", 0.3)
    address = gateway.address
    gateway.stop()
    with (
        closing(ApiClient(address)) as api,
        pytest.raises(IBMQJobApiError, match="UNAVAILABLE") as caught,
    ):
        list(JobFollower(api, "job-1"))
    assert caught.value.code is grpc.StatusCode.UNAVAILABLE


def restart_with_a_free_slot(gateway, job_id: str) -> None:
    """Restarts a stalled gateway with a free slot and waits for ``job_id`` to finish."""
    gateway.settings = dataclasses.replace(gateway.settings, backend_concurrency={})
    gateway.restart()
    with closing(connect(gateway.address)) as admin:
        wait_final(admin, job_id)
