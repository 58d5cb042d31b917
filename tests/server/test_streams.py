"""WatchJob and WatchJobs: lossless, resumable, heartbeated, bounded."""

from __future__ import annotations

import dataclasses
import threading

import grpc
import pytest
from google.protobuf import duration_pb2

from ibmq_gateway.server.ops.embedded import EmbeddedGateway
from ibmq_gateway.v1 import job_pb2, job_service_pb2
from tests.conftest import gateway_settings
from tests.helpers import connect, details, slow_job_circuit, submit, wait_final, watch


@pytest.fixture
def stalled(tmp_path):
    """A gateway whose aer_simulator has no free slot: its jobs wait QUEUED."""
    settings = gateway_settings(tmp_path / "state", backend_concurrency={"aer_simulator": 0})
    with EmbeddedGateway(settings) as gateway:
        yield gateway


def _events(messages):
    return [m.event for m in messages if m.HasField("event")]


def _state(event):
    return job_pb2.JobState.Name(event.job.state).removeprefix("JOB_STATE_")


def test_watch_starts_with_the_current_state_and_ends_after_the_final_event(stubs):
    job = submit(stubs).job
    wait_final(stubs, job.id)
    messages = list(watch(stubs, job.id))
    assert len(messages) == 1 and messages[0].event.job.final
    assert messages[0].resume_token


def test_every_message_carries_a_token_and_sequences_are_gapless(stubs):
    response = submit(stubs)
    messages = list(watch(stubs, response.job.id, response.resume_token))
    assert all(message.resume_token for message in messages)
    sequences = [event.sequence for event in _events(messages)]
    assert sequences == list(range(2, sequences[-1] + 1))
    revisions = [event.revision for event in _events(messages)]
    assert revisions == sorted(set(revisions))


def test_idle_stream_sends_heartbeats(stalled):
    stubs = connect(stalled.address)
    queued = submit(stubs)
    request = job_service_pb2.WatchJobRequest(
        job_id=queued.job.id, heartbeat_interval=duration_pb2.Duration(seconds=1)
    )
    stream = stubs.jobs.WatchJob(request, timeout=60)
    while next(stream).event.job.state != job_pb2.JOB_STATE_QUEUED:
        pass
    kinds = [next(stream).WhichOneof("kind") for _ in range(2)]
    stream.cancel()
    assert kinds == ["heartbeat", "heartbeat"]
    stubs.close()


@pytest.mark.parametrize("seconds", [-86_399_999_913_601, 2**62])
def test_a_heartbeat_interval_no_timedelta_holds_is_clamped(stubs, seconds):
    # Found by the fuzzer: converting it to a timedelta overflowed, and the stream was INTERNAL.
    job = submit(stubs).job
    wait_final(stubs, job.id)
    request = job_service_pb2.WatchJobRequest(
        job_id=job.id, heartbeat_interval=duration_pb2.Duration(seconds=seconds)
    )
    messages = list(stubs.jobs.WatchJob(request, timeout=30))
    assert [message.event.job.state for message in messages] == [job_pb2.JOB_STATE_COMPLETED]


def test_resume_after_a_dropped_connection_misses_nothing(stubs):
    blocker = submit(stubs, "aer_simulator", slow_job_circuit())
    stream = watch(stubs, blocker.job.id, blocker.resume_token)
    first = next(stream)
    stream.cancel()
    rest = list(watch(stubs, blocker.job.id, first.resume_token))
    sequences = [first.event.sequence] + [event.sequence for event in _events(rest)]
    assert sequences == list(range(2, sequences[-1] + 1))
    assert _state(_events(rest)[-1]) == "COMPLETED"


def test_resume_after_a_server_restart_misses_nothing(stalled):
    stubs = connect(stalled.address)
    queued = submit(stubs)
    stream = watch(stubs, queued.job.id, queued.resume_token)
    seen = [next(stream)]
    while seen[-1].event.job.state != job_pb2.JOB_STATE_QUEUED:
        seen.append(next(stream))
    # The gateway comes back with a free slot, so the job can finish.
    stalled.settings = dataclasses.replace(stalled.settings, backend_concurrency={})
    stalled.restart()
    with pytest.raises(grpc.RpcError) as dropped:
        seen.extend(stream)
    assert dropped.value.code() == grpc.StatusCode.UNAVAILABLE
    rest = list(watch(stubs, queued.job.id, seen[-1].resume_token))
    sequences = [m.event.sequence for m in seen + rest if m.HasField("event")]
    assert sequences == list(range(2, sequences[-1] + 1))
    assert _state(_events(rest)[-1]) == "COMPLETED"
    stubs.close()


def test_watch_jobs_follows_matching_jobs_only(stubs):
    start = stubs.jobs.ListJobs(job_service_pb2.ListJobsRequest()).resume_token
    tagged = [submit(stubs, tags=["mine"]).job.id for _ in range(2)]
    other = submit(stubs, tags=["theirs"]).job.id
    for job_id in [*tagged, other]:
        wait_final(stubs, job_id)
    request = job_service_pb2.WatchJobsRequest(
        filter=job_pb2.JobFilter(tags=["mine"]),
        resume_token=start,
        heartbeat_interval=duration_pb2.Duration(seconds=1),
    )
    stream = stubs.jobs.WatchJobs(request, timeout=30)
    events = []
    for message in stream:
        if message.HasField("heartbeat"):
            break
        events.append(message.event)
    stream.cancel()
    assert {event.job_id for event in events} == set(tagged)
    for job_id in tagged:
        sequences = [e.sequence for e in events if e.job_id == job_id]
        assert sequences == list(range(1, len(sequences) + 1))
        assert [e for e in events if e.job_id == job_id][-1].job.final


def test_watch_jobs_without_a_token_starts_with_active_jobs(stubs):
    done = submit(stubs).job
    wait_final(stubs, done.id)
    blocker = submit(stubs, "aer_simulator", slow_job_circuit()).job
    stream = stubs.jobs.WatchJobs(job_service_pb2.WatchJobsRequest(), timeout=30)
    first = next(stream)
    stream.cancel()
    assert first.event.job_id == blocker.id


@pytest.mark.parametrize(
    ("token", "code"),
    [
        ("not-a-token", grpc.StatusCode.INVALID_ARGUMENT),
        ("MTpvdGhlcmVwb2NoOjE", grpc.StatusCode.OUT_OF_RANGE),
    ],
    ids=["malformed", "other-log"],
)
def test_unusable_tokens_are_refused(stubs, token, code):
    job = submit(stubs).job
    with pytest.raises(grpc.RpcError) as caught:
        list(watch(stubs, job.id, token))
    assert caught.value.code() == code
    assert details(caught.value)[0].reason in {"INVALID_RESUME_TOKEN", "RESUME_TOKEN_EXPIRED"}


def test_streams_close_at_their_maximum_age(tmp_path):
    settings = gateway_settings(
        tmp_path / "state", max_stream_age=1.5, backend_concurrency={"aer_simulator": 0}
    )
    with EmbeddedGateway(settings) as gateway:
        stubs = connect(gateway.address)
        queued = submit(stubs)
        messages = list(watch(stubs, queued.job.id, queued.resume_token))
        assert messages[-1].HasField("heartbeat")
        assert not any(m.event.job.final for m in messages if m.HasField("event"))
        stubs.jobs.CancelJob(job_service_pb2.CancelJobRequest(job_id=queued.job.id))
        rest = list(watch(stubs, queued.job.id, messages[-1].resume_token))
        assert [_state(event) for event in _events(rest)] == ["CANCELLED"]
        stubs.close()


def test_many_watchers_of_one_job_all_see_its_end(stubs):
    response = submit(stubs, "aer_simulator", slow_job_circuit())
    finals: list[int] = []

    def follow() -> None:
        events = _events(watch(stubs, response.job.id, response.resume_token))
        finals.append(events[-1].job.state)

    threads = [threading.Thread(target=follow) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert finals == [job_pb2.JOB_STATE_COMPLETED] * 20
