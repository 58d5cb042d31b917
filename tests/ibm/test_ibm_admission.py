"""Who goes to IBM Quantum when, end to end: the team's submission limit, the gateway's queue in
front of IBM (positions, estimates, fair share) and IBM's own queue, and a 429 from IBM.

A real gateway, its IBM executor on the official client, and the loopback fake of IBM.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from ibmq_gateway.server.api.auth import new_token, token_digest
from ibmq_gateway.server.core.model import User
from ibmq_gateway.server.ops.embedded import EmbeddedGateway
from ibmq_gateway.v1 import backend_service_pb2, job_pb2
from tests.helpers import connect, wait_final, watch
from tests.ibm.conftest import ibm_settings
from tests.ibm.helpers import (
    IBM_DEVICE,
    bell_for,
    cancel,
    get_job,
    sent,
    snapshot_when,
    state_name,
    submit_to_ibm,
    tagged,
    until,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from tests.ibm.fake import FakeIBM

QUEUED = job_pb2.JOB_STATE_QUEUED
GATEWAY = job_pb2.QUEUE_SCOPE_GATEWAY
PROVIDER = job_pb2.QUEUE_SCOPE_PROVIDER

pytestmark = pytest.mark.filterwarnings("ignore:The SamplerV2 class is deprecated")


# -- helpers ----------------------------------------------------------------------------------


def waiting_at_position(position: int) -> Callable[[job_pb2.Job], bool]:
    def check(job: job_pb2.Job) -> bool:
        info = job.queue_info
        return job.state == QUEUED and info.scope == GATEWAY and info.position == position

    return check


def start_of(job: job_pb2.Job) -> datetime:
    return job.queue_info.estimated_start_time.ToDatetime(tzinfo=UTC)


@pytest.fixture
def one_a_minute(fake_ibm: FakeIBM, tmp_path: Path) -> Iterator[EmbeddedGateway]:
    """A gateway whose team may send IBM one job a minute."""
    settings = ibm_settings(tmp_path / "state", fake_ibm, ibm_submissions_per_minute=1)
    with EmbeddedGateway(settings) as running:
        yield running


# -- 6. the team's submission limit --------------------------------------------------------


def test_by_default_the_team_sends_ibm_five_jobs_a_minute(
    ibm_gateway: EmbeddedGateway, fake_ibm: FakeIBM
) -> None:
    assert ibm_gateway.settings.ibm_submissions_per_minute == 5  # the fixture keeps the default
    stubs = connect(ibm_gateway.address)
    circuit = bell_for(ibm_gateway.address)
    # One at a time, so which job is refused is not left to the order admissions finish in.
    jobs = []
    for _ in range(5):
        jobs.append(submit_to_ibm(stubs, circuit))
        snapshot_when(stubs, jobs[-1], sent)
    jobs.append(submit_to_ibm(stubs, circuit))
    sixth = snapshot_when(stubs, jobs[5], waiting_at_position(1))
    assert fake_ibm.count("POST /jobs") == 5
    assert not sixth.provider_job_id
    # It waits for the first of the five to leave the minute's window.
    assert start_of(sixth) >= datetime.now(UTC) + timedelta(seconds=30)
    assert fake_ibm.count("POST /jobs") == 5
    cancel(stubs, jobs[5])


def test_past_the_limit_jobs_wait_in_the_gateways_queue_a_minute_apart(
    one_a_minute: EmbeddedGateway, fake_ibm: FakeIBM
) -> None:
    stubs = connect(one_a_minute.address)
    circuit = bell_for(one_a_minute.address)
    first = submit_to_ibm(stubs, circuit)
    snapshot_when(stubs, first, sent)
    second, third = submit_to_ibm(stubs, circuit), submit_to_ibm(stubs, circuit)
    assert state_name(wait_final(stubs, first)) == "COMPLETED"
    snapshot_when(stubs, second, waiting_at_position(1))
    snapshot_when(stubs, third, waiting_at_position(2))
    now = datetime.now(UTC)
    second_job, third_job = get_job(stubs, second), get_job(stubs, third)
    assert fake_ibm.count("POST /jobs") == 1
    for job, position in ((second_job, 1), (third_job, 2)):
        assert job.state == QUEUED and not job.provider_job_id
        assert job.queue_info.scope == GATEWAY
        assert job.queue_info.position == position
    assert start_of(second_job) >= now + timedelta(seconds=30)
    assert start_of(third_job) >= start_of(second_job) + timedelta(seconds=30)
    cancel(stubs, second)
    cancel(stubs, third)
    assert fake_ibm.count("POST /jobs") == 1


# -- 7. IBM's queue ----------------------------------------------------------------------------


def test_a_job_ibm_queues_shows_ibms_queue(ibm_gateway: EmbeddedGateway, fake_ibm: FakeIBM) -> None:
    fake_ibm.queue_seconds = 3.0
    stubs = connect(ibm_gateway.address)
    job_id = submit_to_ibm(stubs, bell_for(ibm_gateway.address))
    snapshots, checked = [], False
    for message in watch(stubs, job_id):
        if not message.HasField("event"):
            continue
        snapshots.append(job := message.event.job)
        if not checked and sent(job) and job.queue_info.scope == PROVIDER:
            # While IBM queues it, reading the job says so too.
            latest = get_job(stubs, job_id)
            assert fake_ibm.job(latest.provider_job_id).status == "Queued"
            assert latest.state == QUEUED and latest.queue_info.scope == PROVIDER
            checked = True
    assert checked
    assert state_name(snapshots[-1]) == "COMPLETED"
    assert not snapshots[-1].HasField("queue_info")
    # From the moment IBM's id is recorded, no snapshot shows the gateway's queue.
    at_ibm = [job for job in snapshots if sent(job) and job.state == QUEUED]
    assert at_ibm and {job.queue_info.scope for job in at_ibm} == {PROVIDER}


# -- 8. fair share -----------------------------------------------------------------------------


def test_another_users_job_goes_ahead_of_one_users_backlog(
    one_a_minute: EmbeddedGateway, fake_ibm: FakeIBM
) -> None:
    fake_ibm.queue_seconds = 60.0  # A's first job waits at IBM for the whole test
    assert one_a_minute.gateway is not None
    token = new_token()
    bob = User("bob", "h", "g", "p", datetime.now(UTC))
    one_a_minute.call(one_a_minute.gateway.store.add_user(bob, token_digest(token)))
    alice, other = connect(one_a_minute.address), connect(one_a_minute.address, token)
    circuit = bell_for(one_a_minute.address)
    backlog = [submit_to_ibm(alice, circuit)]
    snapshot_when(alice, backlog[0], sent)
    backlog += [submit_to_ibm(alice, circuit) for _ in range(2)]
    single = submit_to_ibm(other, circuit)
    snapshot_when(other, single, waiting_at_position(1))
    snapshot_when(alice, backlog[2], waiting_at_position(3))
    positions = {job_id: get_job(alice, job_id).queue_info.position for job_id in backlog[1:]}
    assert get_job(other, single).queue_info.position == 1
    assert positions == {backlog[1]: 2, backlog[2]: 3}
    assert fake_ibm.count("POST /jobs") == 1
    for job_id in backlog:
        cancel(alice, job_id)
    cancel(other, single)
    alice.close()
    other.close()


# -- 9. IBM's "too many requests" ------------------------------------------------------------


def test_a_429_sends_the_job_back_to_the_queue_until_ibm_allows_it(
    ibm_gateway: EmbeddedGateway, fake_ibm: FakeIBM
) -> None:
    stubs = connect(ibm_gateway.address)
    circuit = bell_for(ibm_gateway.address)
    fake_ibm.rate_limit("POST /jobs", times=1, retry_after=3)
    job_id = submit_to_ibm(stubs, circuit)
    snapshots = [m.event.job for m in watch(stubs, job_id) if m.HasField("event")]
    states = [state_name(job) for job in snapshots]
    assert states[-1] == "COMPLETED"
    assert not [state for state in states if "ERROR" in state]
    refused, accepted = fake_ibm.requests_to("POST /jobs")
    assert (refused.status, accepted.status) == (429, 200)
    assert accepted.at - refused.at >= 2.9  # IBM's Retry-After: 3
    assert tagged(fake_ibm, job_id) == [snapshots[-1].provider_job_id]
    # Refused, the job went back to the gateway's queue, to start once IBM allows it.
    waiting = [job for job in snapshots if job.state == QUEUED and job.queue_info.scope == GATEWAY]
    assert not [job for job in waiting if job.provider_job_id]
    assert start_of(waiting[-1]) - start_of(waiting[0]) >= timedelta(seconds=1.5)


def test_a_job_waiting_at_ibm_gets_the_gateways_estimates_from_earlier_jobs(
    ibm_gateway: EmbeddedGateway, fake_ibm: FakeIBM
) -> None:
    """IBM gives no wait estimate; after one job on the device, the gateway has its own."""
    stubs = connect(ibm_gateway.address)
    circuit = bell_for(ibm_gateway.address)
    fake_ibm.queue_seconds = 1.5
    first = snapshot_when(stubs, submit_to_ibm(stubs, circuit), lambda job: job.final)
    assert state_name(first) == "COMPLETED"

    def expected_wait() -> timedelta:
        request = backend_service_pb2.GetBackendRequest(name=IBM_DEVICE)
        wait: timedelta = stubs.backends.GetBackend(request).backend.estimated_wait.ToTimedelta()
        return wait

    # The device's estimate takes in the first job's timestamps once IBM reports them.
    until(lambda: expected_wait() >= timedelta(seconds=1), "the device expects a wait")
    fake_ibm.queue_seconds = 10.0
    second = submit_to_ibm(stubs, circuit)
    waiting = snapshot_when(
        stubs, second, lambda job: job.queue_info.scope == job_pb2.QUEUE_SCOPE_PROVIDER
    )
    start = waiting.queue_info.estimated_start_time.ToDatetime(tzinfo=UTC)
    complete = waiting.queue_info.estimated_complete_time.ToDatetime(tzinfo=UTC)
    # The first job waited at least its 1.5 s at IBM, then ran: estimates follow from that.
    sent_at = waiting.time_per_step["QUEUED"].ToDatetime(tzinfo=UTC)
    assert start >= sent_at + timedelta(seconds=1)
    assert complete > start
    cancel(stubs, second)
