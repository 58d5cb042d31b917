"""IBM Quantum misbehaving, end to end: a real gateway, its IBM executor on the official client,
and the loopback fake with its fault hooks.

Each test proves one promise of the IBM executor: 5xx storms are outlasted, a send past its
deadline is waited for instead of being sent again (and a cancel meanwhile cancels what it
created), IBM's failures and cancels reach the job
with their reason, cancels are forwarded once (and a 409 is harmless), and however many clients
watch a job, one poller asks IBM about it, backing off while it waits.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from typing import TYPE_CHECKING

import pytest

from ibmq_gateway.client import GatewayProvider
from ibmq_gateway.server.executors.ibm.client import IbmClient
from ibmq_gateway.server.executors.ibm.executor import IbmExecutor
from ibmq_gateway.server.executors.ibm.records import IbmAccount
from ibmq_gateway.server.ops.embedded import EmbeddedGateway
from tests.helpers import connect, wait_final
from tests.ibm.conftest import ibm_settings
from tests.ibm.helpers import IBM_DEVICE as DEVICE
from tests.ibm.helpers import (
    bell_for,
    cancel,
    get_job,
    provider_id,
    sent,
    snapshot_when,
    state_name,
    submit_to_ibm,
    tagged,
    until,
)

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from ibmq_gateway.v1 import job_pb2
    from tests.helpers import Stubs
    from tests.ibm.fake import FakeIBM
    from tests.ibm.fake.server import RecordedRequest

SHOTS = 400
CLIENT_ATTEMPTS = 6
"""qiskit-ibm-runtime's own tries of one request on a 5xx: the first and 5 retries."""

pytestmark = pytest.mark.filterwarnings("ignore:The SamplerV2 class is deprecated")


# -- helpers ----------------------------------------------------------------------------------


def tag_lookups(fake: FakeIBM, job_id: str) -> list[RecordedRequest]:
    """``GET /jobs?tags=<the job's tag>``: the executor's look before each send."""
    return [
        request
        for request in fake.requests_to("GET /jobs")
        if f"ibmq-gateway:{job_id}" in request.query.get("tags", [])
    ]


def polls_of(fake: FakeIBM, ibm_id: str) -> list[RecordedRequest]:
    return [r for r in fake.requests_to("GET /jobs/{id}") if r.path.endswith("/" + ibm_id)]


def assert_completed_once(
    gateway: EmbeddedGateway, fake: FakeIBM, stubs: Stubs, job_id: str
) -> job_pb2.Job:
    """The job ends COMPLETED with a Bell pair's counts, as exactly one tagged IBM job."""
    final = wait_final(stubs, job_id)
    assert state_name(final) == "COMPLETED", final.error
    assert tagged(fake, job_id) == [final.provider_job_id]
    assert fake.job(final.provider_job_id).status == "Completed"
    backend = GatewayProvider(gateway.address).get_backend(DEVICE)
    counts = backend.retrieve_job(job_id).result(timeout=30).get_counts()
    assert sum(counts.values()) == SHOTS
    assert counts.get("00", 0) + counts.get("11", 0) > 0.8 * SHOTS  # noisy, but a Bell pair
    return final


def assert_completed_through_storm(
    gateway: EmbeddedGateway, fake: FakeIBM, route: str, *, times: int, status: int
) -> job_pb2.Job:
    """A job sent while IBM answers the next ``times`` requests to ``route`` with ``status``
    completes as one IBM job (see ``assert_completed_once``); returns its final snapshot."""
    stubs = connect(gateway.address)
    circuit = bell_for(gateway.address)
    fake.fail_next(route, times=times, status=status)
    job_id = submit_to_ibm(stubs, circuit, SHOTS)
    return assert_completed_once(gateway, fake, stubs, job_id)


def assert_error_running(
    stubs: Stubs, fake: FakeIBM, job_id: str, *, code: int, reason: str, says: str, ibm: str
) -> job_pb2.Job:
    """The job ends in ERROR_RUNNING_JOB with ``code`` and ``reason``, its message saying
    ``says``, and its IBM job in status ``ibm``; returns its final snapshot."""
    final = wait_final(stubs, job_id)
    assert state_name(final) == "ERROR_RUNNING_JOB"
    assert final.error.code == code
    assert final.error.reason == reason
    assert says in final.error.message
    assert fake.job(final.provider_job_id).status == ibm
    return final


@pytest.fixture
def quick_gateway(fake_ibm: FakeIBM, tmp_path: Path) -> Iterator[EmbeddedGateway]:
    """A gateway that gives up on an IBM call after 2 s (qiskit's own retries take 15 s)."""
    settings = ibm_settings(tmp_path / "state", fake_ibm, ibm_call_timeout=2.0)
    with EmbeddedGateway(settings) as running:
        yield running


# -- 1. 5xx storms ---------------------------------------------------------------------------


@pytest.mark.slow
def test_a_5xx_storm_on_submit_outlasts_the_clients_retries(
    ibm_gateway: EmbeddedGateway, fake_ibm: FakeIBM
) -> None:
    final = assert_completed_through_storm(
        ibm_gateway, fake_ibm, "POST /jobs", times=CLIENT_ATTEMPTS, status=503
    )
    sends = fake_ibm.requests_to("POST /jobs")
    # The client's own tries all failed, so the executor tried again: it looked for the tag
    # once more (IBM might have taken a failed send), then sent once, successfully.
    assert [request.status for request in sends] == [503] * CLIENT_ATTEMPTS + [200]
    lookups = tag_lookups(fake_ibm, final.id)
    assert len(lookups) == 2
    assert sends[-2].at < lookups[1].at < sends[-1].at


@pytest.mark.slow
def test_a_5xx_storm_on_polls_is_outlasted(
    quick_gateway: EmbeddedGateway, fake_ibm: FakeIBM
) -> None:
    final = assert_completed_through_storm(
        quick_gateway, fake_ibm, "GET /jobs/{id}", times=2 * CLIENT_ATTEMPTS, status=503
    )
    polls = polls_of(fake_ibm, final.provider_job_id)
    assert sum(request.status == 503 for request in polls) == 2 * CLIENT_ATTEMPTS
    assert polls[-1].status == 200
    assert fake_ibm.count("POST /jobs") == 1


@pytest.mark.slow
def test_a_5xx_storm_on_results_is_outlasted(
    quick_gateway: EmbeddedGateway, fake_ibm: FakeIBM
) -> None:
    assert_completed_through_storm(
        quick_gateway, fake_ibm, "GET /jobs/{id}/results", times=2 * CLIENT_ATTEMPTS, status=502
    )
    reads = fake_ibm.requests_to("GET /jobs/{id}/results")
    assert [r.status for r in reads][: 2 * CLIENT_ATTEMPTS] == [502] * 2 * CLIENT_ATTEMPTS
    assert 200 in [r.status for r in reads]
    assert fake_ibm.count("POST /jobs") == 1


# -- 2. a send that timed out ------------------------------------------------------------------


def short_send_gateway(
    fake: FakeIBM, state_dir: Path, *, submit_timeout: float = 2.0
) -> EmbeddedGateway:
    """A gateway whose IBM executor gives up on a send after ``submit_timeout`` seconds.

    No setting shortens the send's deadline (``ibm_call_timeout`` covers the other calls;
    a send has 300 s), so the executor is built here as ``IbmExecutor.from_settings`` would,
    but with that short deadline.
    """
    account = IbmAccount(token=fake.api_key, instance=fake.instance_crn, api_url=fake.api_url)
    client = IbmClient(account, call_timeout=5.0, submit_timeout=submit_timeout)
    return EmbeddedGateway(
        ibm_settings(state_dir, fake), executors=[IbmExecutor(client, poll_ceiling=2.0)]
    )


def test_a_send_past_its_deadline_is_waited_for_not_sent_again(
    fake_ibm: FakeIBM, tmp_path: Path
) -> None:
    """IBM answers the send 2.5 s after it began, past the gateway's 1 s deadline: sending
    again then would make a second IBM job, so the gateway waits for the send's answer."""
    with short_send_gateway(fake_ibm, tmp_path / "state", submit_timeout=1.0) as gateway:
        stubs = connect(gateway.address)
        circuit = bell_for(gateway.address)
        fake_ibm.delay("POST /jobs", seconds=2.5, times=1)
        job_id = submit_to_ibm(stubs, circuit, SHOTS)
        final = assert_completed_once(gateway, fake_ibm, stubs, job_id)
        sends = fake_ibm.requests_to("POST /jobs")
        assert len(sends) == 1 and sends[0].seconds >= 2.4  # answered past the deadline
        assert len(tag_lookups(fake_ibm, job_id)) == 1  # the look before the send only
        assert fake_ibm.job(final.provider_job_id).tags == [f"ibmq-gateway:{job_id}"]


def test_a_job_cancelled_while_its_send_is_in_flight_is_cancelled_at_ibm(
    fake_ibm: FakeIBM, tmp_path: Path
) -> None:
    fake_ibm.queue_seconds = 30.0
    with short_send_gateway(fake_ibm, tmp_path / "state", submit_timeout=30.0) as gateway:
        stubs = connect(gateway.address)
        circuit = bell_for(gateway.address)
        fake_ibm.delay("POST /jobs", seconds=2.0, times=1)
        job_id = submit_to_ibm(stubs, circuit, SHOTS)
        until(lambda: tag_lookups(fake_ibm, job_id), "the send begins")
        cancel(stubs, job_id)
        # The send lands after the cancel; the gateway cancels what it created.
        ibm_id = until(lambda: tagged(fake_ibm, job_id), "IBM takes the send")[0]
        until(lambda: fake_ibm.job(ibm_id).status == "Cancelled", "the IBM job is cancelled")
        assert fake_ibm.count("POST /jobs") == 1


# -- 3. IBM's failures -----------------------------------------------------------------------


def test_a_job_ibm_failed_ends_in_error_with_ibms_reason_and_code(
    ibm_gateway: EmbeddedGateway, fake_ibm: FakeIBM
) -> None:
    stubs = connect(ibm_gateway.address)
    circuit = bell_for(ibm_gateway.address)
    fake_ibm.next_jobs_fail(reason="Qubit 3 lost its calibration", reason_code=1517)
    fake_ibm.next_jobs_fail(reason="Internal error in the control system")
    # The fake hands endings out in the order jobs reach it: send one at a time.
    with_code = submit_to_ibm(stubs, circuit, SHOTS)
    snapshot_when(stubs, with_code, sent)
    without_code = submit_to_ibm(stubs, circuit, SHOTS)
    for job_id, code, says in (
        (with_code, 1517, "Qubit 3 lost its calibration"),
        (without_code, 2100, "Internal error in the control system"),
    ):
        final = assert_error_running(
            stubs, fake_ibm, job_id, code=code, reason="IBM_JOB_FAILED", says=says, ibm="Failed"
        )
        assert final.provider_job_id in final.error.message
    assert fake_ibm.count("POST /jobs") == 2


def test_a_job_ibm_stopped_at_its_time_limit_ends_in_error_1305(
    ibm_gateway: EmbeddedGateway, fake_ibm: FakeIBM
) -> None:
    stubs = connect(ibm_gateway.address)
    fake_ibm.next_jobs_run_too_long()
    job_id = submit_to_ibm(stubs, bell_for(ibm_gateway.address), SHOTS)
    says = "ran past its maximum execution time"
    assert_error_running(
        stubs, fake_ibm, job_id, code=1305, reason="RAN_TOO_LONG", says=says, ibm="Cancelled"
    )


def test_a_result_ibm_refuses_ends_the_job_in_error_instead_of_retrying_forever(
    ibm_gateway: EmbeddedGateway, fake_ibm: FakeIBM
) -> None:
    fake_ibm.fail_next("GET /jobs/{id}/results", times=1, status=404, message="No results")
    job_id = submit_to_ibm(connect(ibm_gateway.address), bell_for(ibm_gateway.address), SHOTS)
    final = assert_error_running(
        connect(ibm_gateway.address),
        fake_ibm,
        job_id,
        code=2103,
        reason="IBM_RESULT_UNREADABLE",
        says="refuses its result",
        ibm="Completed",
    )
    assert final.provider_job_id in final.error.message
    assert fake_ibm.count("GET /jobs/{id}/results") == 1


# -- 4. cancels ------------------------------------------------------------------------------


def test_cancelling_a_job_waiting_at_ibm_cancels_it_there_once(
    ibm_gateway: EmbeddedGateway, fake_ibm: FakeIBM
) -> None:
    stubs = connect(ibm_gateway.address)
    circuit = bell_for(ibm_gateway.address)
    fake_ibm.queue_seconds = 60.0
    job_id = submit_to_ibm(stubs, circuit, SHOTS)
    ibm_id = snapshot_when(stubs, job_id, sent).provider_job_id
    cancel(stubs, job_id)
    until(lambda: fake_ibm.job(ibm_id).status == "Cancelled", "the cancel reaches IBM")
    cancels = fake_ibm.requests_to("POST /jobs/{id}/cancel")
    assert [(r.path.rsplit("/", 2)[-2], r.status) for r in cancels] == [(ibm_id, 204)]
    # The gateway stops polling the job (the poll ceiling is 2 s), and it stays CANCELLED.
    polled = len(polls_of(fake_ibm, ibm_id))
    time.sleep(2.5)
    assert len(polls_of(fake_ibm, ibm_id)) == polled
    assert fake_ibm.count("POST /jobs/{id}/cancel") == 1
    assert state_name(get_job(stubs, job_id)) == "CANCELLED"


@pytest.mark.slow
def test_cancelling_a_job_ibm_finished_unseen_is_a_harmless_409(
    ibm_gateway: EmbeddedGateway, fake_ibm: FakeIBM, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    stubs = connect(ibm_gateway.address)
    circuit = bell_for(ibm_gateway.address)
    fake_ibm.delay("GET /jobs/{id}", seconds=5.0)  # every poll is held 5 s
    job_id = submit_to_ibm(stubs, circuit, SHOTS)
    ibm_id = snapshot_when(stubs, job_id, sent).provider_job_id
    until(lambda: fake_ibm.job(ibm_id).status == "Completed", "IBM finishes the job")
    cancel(stubs, job_id)
    cancels = until(lambda: fake_ibm.requests_to("POST /jobs/{id}/cancel"), "a cancel is sent")
    assert [r.status for r in cancels] == [409]
    fake_ibm.clear_faults()
    # The held poll saw DONE after the cancel: the job stays CANCELLED, with no result.
    until(lambda: polls_of(fake_ibm, ibm_id), "the held poll ends")
    assert state_name(get_job(stubs, job_id)) == "CANCELLED"
    # Nothing crashed: the next job runs, and no background task failed.
    later = submit_to_ibm(stubs, circuit, SHOTS)
    assert_completed_once(ibm_gateway, fake_ibm, stubs, later)
    assert fake_ibm.count("POST /jobs/{id}/cancel") == 1
    failures = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not failures, [r.getMessage() for r in failures]


# -- 5. one poller ---------------------------------------------------------------------------


@pytest.mark.slow
def test_ten_watchers_share_one_poller_that_backs_off(fake_ibm: FakeIBM, tmp_path: Path) -> None:
    fake_ibm.queue_seconds = 6.0
    settings = ibm_settings(tmp_path / "state", fake_ibm, ibm_poll_ceiling=3.0)
    with EmbeddedGateway(settings) as gateway:
        stubs = connect(gateway.address)
        job_id = submit_to_ibm(stubs, bell_for(gateway.address), SHOTS)
        finals: list[str] = []
        lock = threading.Lock()

        def follow() -> None:
            own = connect(gateway.address)
            try:
                final = wait_final(own, job_id)
                with lock:
                    finals.append(state_name(final))
            finally:
                own.close()

        watchers = [threading.Thread(target=follow) for _ in range(10)]
        for watcher in watchers:
            watcher.start()
        for watcher in watchers:
            watcher.join(40)
        assert finals == ["COMPLETED"] * 10
        polls = polls_of(fake_ibm, provider_id(stubs, job_id))
    moments = [request.at for request in polls]
    gaps = [later - earlier for earlier, later in itertools.pairwise(moments)]
    assert len(polls) >= 4, gaps
    assert min(gaps) >= 0.9, gaps  # the floor, whoever watches
    assert len(polls) <= (moments[-1] - moments[0]) / 0.9 + 2, gaps
    # While IBM queues the job (6 s) nothing changes, so the pause grows from the floor.
    assert max(gaps) > gaps[0] + 0.3, gaps
    assert gaps[1] > gaps[0], gaps


# -- lost answers and forgotten jobs ----------------------------------------------------------


def test_a_send_whose_answer_is_lost_is_found_at_ibm_not_sent_again(
    ibm_gateway: EmbeddedGateway, fake_ibm: FakeIBM
) -> None:
    stubs = connect(ibm_gateway.address)
    circuit = bell_for(ibm_gateway.address)
    fake_ibm.lose_answer_next("POST /jobs")  # IBM creates the job; its answer never arrives
    job_id = submit_to_ibm(stubs, circuit, SHOTS)
    final = assert_completed_once(ibm_gateway, fake_ibm, stubs, job_id)
    assert fake_ibm.count("POST /jobs") == 1
    assert final.provider_job_id == tagged(fake_ibm, job_id)[0]


def test_a_job_ibm_no_longer_knows_ends_in_error_instead_of_being_polled_forever(
    ibm_gateway: EmbeddedGateway, fake_ibm: FakeIBM
) -> None:
    fake_ibm.queue_seconds = 60.0
    stubs = connect(ibm_gateway.address)
    job_id = submit_to_ibm(stubs, bell_for(ibm_gateway.address), SHOTS)
    ibm_id = snapshot_when(stubs, job_id, sent).provider_job_id
    fake_ibm.board.delete(ibm_id)
    final = wait_final(stubs, job_id)
    assert state_name(final) == "ERROR_RUNNING_JOB"
    assert "IBM no longer knows this job" in final.error.message
