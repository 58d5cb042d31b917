"""The stream follower against a scripted gateway: resumes, refetches, deadlines, give-ups."""

from __future__ import annotations

import time

import grpc
import pytest

from ibmq_gateway.client import IBMQJobApiError, _watch
from ibmq_gateway.client._rpc import ApiClient
from ibmq_gateway.client._watch import JobFollower
from ibmq_gateway.v1 import job_pb2
from tests.client.fakes import FakeJobService, Session, event, heartbeat, serve, snapshot

QUEUED, RUNNING, DONE = (
    job_pb2.JOB_STATE_QUEUED,
    job_pb2.JOB_STATE_RUNNING,
    job_pb2.JOB_STATE_COMPLETED,
)


def follow(
    service: FakeJobService, deadline: float | None = None, *, real_sleep: bool = False
) -> tuple[list[int], list[float]]:
    """Runs a follower to the end; returns the yielded sequences and the back-off sleeps."""
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if real_sleep:
            time.sleep(seconds)

    with serve(service) as address:
        api = ApiClient(address, token="")
        try:
            follower = JobFollower(api, "job-1", deadline, sleep=sleep)
            sequences = [job.sequence for job in follower]
        finally:
            api.close()
    return sequences, sleeps


def tokens(service: FakeJobService) -> list[str]:
    return [request.resume_token for request in service.watch_requests]


def test_a_stream_that_ends_with_the_final_event_is_read_once():
    service = FakeJobService([Session([event(1, QUEUED), event(2, RUNNING), event(3, DONE)])])
    assert follow(service) == ([1, 2, 3], [])
    assert tokens(service) == [""]


@pytest.mark.parametrize(
    "ending",
    [
        None,  # the stream reached its maximum age
        grpc.StatusCode.UNAVAILABLE,  # the gateway restarted
        grpc.StatusCode.RESOURCE_EXHAUSTED,  # the reader was too slow
        grpc.StatusCode.CANCELLED,  # the gateway's backlog refused the stream
    ],
)
def test_an_interrupted_stream_resumes_from_the_last_token(ending):
    service = FakeJobService(
        [
            Session([event(1, QUEUED), heartbeat("h1")], ending),
            Session([event(2, RUNNING), event(3, DONE)]),
        ]
    )
    sequences, sleeps = follow(service)
    assert sequences == [1, 2, 3]
    assert tokens(service) == ["", "h1"]
    assert sleeps == [0.1]


def test_events_replayed_after_a_resume_are_yielded_once():
    service = FakeJobService(
        [
            Session([event(1, QUEUED), event(2, RUNNING)], grpc.StatusCode.UNAVAILABLE),
            Session([event(2, RUNNING), event(3, DONE)]),
        ]
    )
    assert follow(service)[0] == [1, 2, 3]


def test_back_off_doubles_without_messages_up_to_two_seconds_and_resets_after_one():
    silent = [Session([], grpc.StatusCode.UNAVAILABLE) for _ in range(7)]
    service = FakeJobService(
        [
            *silent,
            Session([event(1, QUEUED)], grpc.StatusCode.UNAVAILABLE),
            Session([], grpc.StatusCode.UNAVAILABLE),
            Session([event(2, DONE)]),
        ]
    )
    sequences, sleeps = follow(service)
    assert sequences == [1, 2]
    assert sleeps == [0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0, 0.1, 0.2]


def test_an_expired_token_fetches_the_job_and_watches_from_its_current_state():
    service = FakeJobService(
        [
            Session([event(1, QUEUED), heartbeat("h1")], grpc.StatusCode.UNAVAILABLE),
            Session([], grpc.StatusCode.OUT_OF_RANGE),
            Session([event(4, RUNNING), event(5, DONE)]),
        ],
        current=snapshot(4, RUNNING),
    )
    assert follow(service)[0] == [1, 4, 5]
    assert tokens(service) == ["", "h1", ""]


def test_an_expired_token_of_a_finished_job_ends_with_the_fetched_snapshot():
    service = FakeJobService([Session([], grpc.StatusCode.OUT_OF_RANGE)], current=snapshot(9, DONE))
    assert follow(service)[0] == [9]


def test_an_unknown_job_stops_with_an_api_error():
    service = FakeJobService([])
    with pytest.raises(IBMQJobApiError, match="NOT_FOUND") as caught:
        follow(service)
    assert caught.value.code is grpc.StatusCode.NOT_FOUND


def test_a_refused_watch_is_not_retried():
    service = FakeJobService([Session([], grpc.StatusCode.PERMISSION_DENIED)])
    with pytest.raises(IBMQJobApiError, match="PERMISSION_DENIED"):
        follow(service)
    assert len(service.watch_requests) == 1


def test_the_deadline_ends_an_open_stream_with_a_timeout():
    service = FakeJobService([Session([event(1, QUEUED)], hang=True)])
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        follow(service, deadline=started + 0.5)
    assert 0.4 < time.monotonic() - started < 5


def test_the_deadline_also_bounds_the_retries():
    service = FakeJobService([Session([], grpc.StatusCode.UNAVAILABLE) for _ in range(50)])
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        follow(service, deadline=started + 0.5, real_sleep=True)
    assert time.monotonic() - started < 3
    assert len(service.watch_requests) < 10


def test_following_gives_up_when_the_gateway_stays_unreachable(monkeypatch):
    monkeypatch.setattr(_watch, "MAX_OUTAGE", 0.3)
    service = FakeJobService([Session([], grpc.StatusCode.UNAVAILABLE) for _ in range(50)])
    with pytest.raises(IBMQJobApiError, match="UNAVAILABLE"):
        follow(service, real_sleep=True)
