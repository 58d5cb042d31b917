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
from typing import TYPE_CHECKING, Any

import pytest
from qiskit import QuantumCircuit, transpile

from ibmq_gateway.client import GatewayProvider
from ibmq_gateway.server.embedded import EmbeddedGateway
from ibmq_gateway.server.executors.ibm import IbmExecutor
from ibmq_gateway.server.executors.ibm_client import IbmAccount, IbmClient
from ibmq_gateway.v1 import job_pb2, job_service_pb2
from tests.helpers import connect, qpy_bytes, submit, wait_final, watch
from tests.ibm.conftest import ibm_settings

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from tests.helpers import Stubs
    from tests.ibm.fake import FakeIBM
    from tests.ibm.fake.jobs import Job as FakeJob
    from tests.ibm.fake.server import RecordedRequest

DEVICE = "ibm_fake_manila"
SHOTS = 400
CLIENT_ATTEMPTS = 6
"""qiskit-ibm-runtime's own tries of one request on a 5xx: the first and 5 retries."""

pytestmark = pytest.mark.filterwarnings("ignore:The SamplerV2 class is deprecated")


# -- helpers ----------------------------------------------------------------------------------


def bell() -> QuantumCircuit:
    circuit = QuantumCircuit(2, 2, name="bell")
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure([0, 1], [0, 1])
    return circuit


def device_circuit(address: str) -> job_pb2.Circuit:
    """A Bell pair transpiled to the IBM device's target, ready to submit."""
    backend = GatewayProvider(address).get_backend(DEVICE)
    return job_pb2.Circuit(qpy=qpy_bytes(transpile(bell(), backend, seed_transpiler=3)))


def submit_bell(stubs: Stubs, circuit: job_pb2.Circuit) -> job_pb2.Job:
    run_options = job_pb2.RunOptions(shots=SHOTS)
    job: job_pb2.Job = submit(stubs, DEVICE, circuit, run_options=run_options).job
    return job


def tagged(fake: FakeIBM, job_id: str) -> list[FakeJob]:
    """The fake's IBM jobs carrying the gateway job's tag."""
    return [job for job in fake.board.all() if f"ibmq-gateway:{job_id}" in job.tags]


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
    assert job_pb2.JobState.Name(final.state) == "JOB_STATE_COMPLETED", final.error
    ibm_jobs = tagged(fake, job_id)
    assert [job.id for job in ibm_jobs] == [final.provider_job_id]
    assert ibm_jobs[0].status == "Completed"
    backend = GatewayProvider(gateway.address).get_backend(DEVICE)
    counts = backend.retrieve_job(job_id).result(timeout=30).get_counts()
    assert sum(counts.values()) == SHOTS
    assert counts.get("00", 0) + counts.get("11", 0) > 0.8 * SHOTS  # noisy, but a Bell pair
    return final


def until(
    stubs: Stubs, job_id: str, wanted: Callable[[job_pb2.Job], bool], timeout: float = 30
) -> job_pb2.Job:
    """The first snapshot on the job's stream that satisfies ``wanted``."""
    stream = watch(stubs, job_id, timeout=timeout)
    try:
        for message in stream:
            if message.HasField("event") and wanted(message.event.job):
                job: job_pb2.Job = message.event.job
                return job
    finally:
        stream.cancel()
    raise AssertionError(f"the stream of {job_id} ended before the awaited snapshot")


def eventually(check: Callable[[], Any], timeout: float = 20.0, what: str = "") -> Any:
    """Polls ``check`` until it returns something true; fails after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        time.sleep(0.05)


def state_name(job: job_pb2.Job) -> str:
    return job_pb2.JobState.Name(job.state).removeprefix("JOB_STATE_")


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
    stubs = connect(ibm_gateway.address)
    circuit = device_circuit(ibm_gateway.address)
    fake_ibm.fail_next("POST /jobs", times=CLIENT_ATTEMPTS, status=503)
    job = submit_bell(stubs, circuit)
    assert_completed_once(ibm_gateway, fake_ibm, stubs, job.id)
    sends = fake_ibm.requests_to("POST /jobs")
    # The client's own tries all failed, so the executor tried again: it looked for the tag
    # once more (IBM might have taken a failed send), then sent once, successfully.
    assert [request.status for request in sends] == [503] * CLIENT_ATTEMPTS + [200]
    lookups = tag_lookups(fake_ibm, job.id)
    assert len(lookups) == 2
    assert sends[-2].at < lookups[1].at < sends[-1].at


@pytest.mark.slow
def test_a_5xx_storm_on_polls_is_outlasted(
    quick_gateway: EmbeddedGateway, fake_ibm: FakeIBM
) -> None:
    stubs = connect(quick_gateway.address)
    circuit = device_circuit(quick_gateway.address)
    fake_ibm.fail_next("GET /jobs/{id}", times=2 * CLIENT_ATTEMPTS, status=503)
    job = submit_bell(stubs, circuit)
    final = assert_completed_once(quick_gateway, fake_ibm, stubs, job.id)
    polls = polls_of(fake_ibm, final.provider_job_id)
    assert sum(request.status == 503 for request in polls) == 2 * CLIENT_ATTEMPTS
    assert polls[-1].status == 200
    assert fake_ibm.count("POST /jobs") == 1


@pytest.mark.slow
def test_a_5xx_storm_on_results_is_outlasted(
    quick_gateway: EmbeddedGateway, fake_ibm: FakeIBM
) -> None:
    stubs = connect(quick_gateway.address)
    circuit = device_circuit(quick_gateway.address)
    fake_ibm.fail_next("GET /jobs/{id}/results", times=2 * CLIENT_ATTEMPTS, status=502)
    job = submit_bell(stubs, circuit)
    assert_completed_once(quick_gateway, fake_ibm, stubs, job.id)
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
        circuit = device_circuit(gateway.address)
        fake_ibm.delay("POST /jobs", seconds=2.5, times=1)
        job = submit_bell(stubs, circuit)
        final = assert_completed_once(gateway, fake_ibm, stubs, job.id)
        sends = fake_ibm.requests_to("POST /jobs")
        assert len(sends) == 1 and sends[0].seconds >= 2.4  # answered past the deadline
        assert len(tag_lookups(fake_ibm, job.id)) == 1  # the look before the send only
        assert fake_ibm.job(final.provider_job_id).tags == [f"ibmq-gateway:{job.id}"]


def test_a_job_cancelled_while_its_send_is_in_flight_is_cancelled_at_ibm(
    fake_ibm: FakeIBM, tmp_path: Path
) -> None:
    fake_ibm.queue_seconds = 30.0
    with short_send_gateway(fake_ibm, tmp_path / "state", submit_timeout=30.0) as gateway:
        stubs = connect(gateway.address)
        circuit = device_circuit(gateway.address)
        fake_ibm.delay("POST /jobs", seconds=2.0, times=1)
        job = submit_bell(stubs, circuit)
        eventually(lambda: tag_lookups(fake_ibm, job.id), what="the send to begin")
        cancelled = stubs.jobs.CancelJob(job_service_pb2.CancelJobRequest(job_id=job.id)).job
        assert job_pb2.JobState.Name(cancelled.state) == "JOB_STATE_CANCELLED"
        # The send lands after the cancel; the gateway cancels what it created.
        ibm_job = eventually(lambda: tagged(fake_ibm, job.id), what="IBM to take the send")[0]
        eventually(lambda: ibm_job.status == "Cancelled", what="the IBM job to be cancelled")
        assert fake_ibm.count("POST /jobs") == 1


# -- 3. IBM's failures -----------------------------------------------------------------------


def test_a_job_ibm_failed_ends_in_error_with_ibms_reason_and_code(
    ibm_gateway: EmbeddedGateway, fake_ibm: FakeIBM
) -> None:
    stubs = connect(ibm_gateway.address)
    circuit = device_circuit(ibm_gateway.address)
    fake_ibm.next_jobs_fail(reason="Qubit 3 lost its calibration", reason_code=1517)
    fake_ibm.next_jobs_fail(reason="Internal error in the control system")
    # The fake hands endings out in the order jobs reach it: send one at a time.
    with_code = submit_bell(stubs, circuit)
    until(stubs, with_code.id, lambda snapshot: bool(snapshot.provider_job_id))
    without_code = submit_bell(stubs, circuit)
    for job, code in ((with_code, 1517), (without_code, 2100)):
        final = wait_final(stubs, job.id)
        assert state_name(final) == "ERROR_RUNNING_JOB"
        assert final.error.code == code
        assert final.error.reason == "IBM_JOB_FAILED"
        assert final.provider_job_id in final.error.message
        assert fake_ibm.job(final.provider_job_id).status == "Failed"
    assert "Qubit 3 lost its calibration" in wait_final(stubs, with_code.id).error.message
    assert (
        "Internal error in the control system" in wait_final(stubs, without_code.id).error.message
    )
    assert fake_ibm.count("POST /jobs") == 2


def test_a_job_ibm_stopped_at_its_time_limit_ends_in_error_1305(
    ibm_gateway: EmbeddedGateway, fake_ibm: FakeIBM
) -> None:
    stubs = connect(ibm_gateway.address)
    circuit = device_circuit(ibm_gateway.address)
    fake_ibm.next_jobs_run_too_long()
    job = submit_bell(stubs, circuit)
    final = wait_final(stubs, job.id)
    assert state_name(final) == "ERROR_RUNNING_JOB"
    assert final.error.code == 1305
    assert final.error.reason == "RAN_TOO_LONG"
    assert "ran past its maximum execution time" in final.error.message
    assert fake_ibm.job(final.provider_job_id).status == "Cancelled"


# -- 4. cancels ------------------------------------------------------------------------------


def test_cancelling_a_job_waiting_at_ibm_cancels_it_there_once(
    ibm_gateway: EmbeddedGateway, fake_ibm: FakeIBM
) -> None:
    stubs = connect(ibm_gateway.address)
    circuit = device_circuit(ibm_gateway.address)
    fake_ibm.queue_seconds = 60.0
    job = submit_bell(stubs, circuit)
    sent = until(stubs, job.id, lambda snapshot: bool(snapshot.provider_job_id))
    ibm_id = sent.provider_job_id
    cancelled = stubs.jobs.CancelJob(job_service_pb2.CancelJobRequest(job_id=job.id)).job
    assert state_name(cancelled) == "CANCELLED"
    eventually(lambda: fake_ibm.job(ibm_id).status == "Cancelled", what="the cancel at IBM")
    cancels = fake_ibm.requests_to("POST /jobs/{id}/cancel")
    assert [(r.path.rsplit("/", 2)[-2], r.status) for r in cancels] == [(ibm_id, 204)]
    # The gateway stops polling the job (the poll ceiling is 2 s), and it stays CANCELLED.
    polled = len(polls_of(fake_ibm, ibm_id))
    time.sleep(2.5)
    assert len(polls_of(fake_ibm, ibm_id)) == polled
    assert fake_ibm.count("POST /jobs/{id}/cancel") == 1
    latest = stubs.jobs.GetJob(job_service_pb2.GetJobRequest(job_id=job.id)).job
    assert state_name(latest) == "CANCELLED"


@pytest.mark.slow
def test_cancelling_a_job_ibm_finished_unseen_is_a_harmless_409(
    ibm_gateway: EmbeddedGateway, fake_ibm: FakeIBM, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    stubs = connect(ibm_gateway.address)
    circuit = device_circuit(ibm_gateway.address)
    fake_ibm.delay("GET /jobs/{id}", seconds=5.0)  # every poll is held 5 s
    job = submit_bell(stubs, circuit)
    ibm_id = until(stubs, job.id, lambda snapshot: bool(snapshot.provider_job_id)).provider_job_id
    eventually(lambda: fake_ibm.job(ibm_id).status == "Completed", what="IBM to finish the job")
    cancelled = stubs.jobs.CancelJob(job_service_pb2.CancelJobRequest(job_id=job.id)).job
    assert state_name(cancelled) == "CANCELLED"
    cancels = eventually(lambda: fake_ibm.requests_to("POST /jobs/{id}/cancel"), what="a cancel")
    assert [r.status for r in cancels] == [409]
    fake_ibm.clear_faults()
    # The held poll saw DONE after the cancel: the job stays CANCELLED, with no result.
    eventually(lambda: polls_of(fake_ibm, ibm_id), what="the held poll to end")
    latest = stubs.jobs.GetJob(job_service_pb2.GetJobRequest(job_id=job.id)).job
    assert state_name(latest) == "CANCELLED"
    # Nothing crashed: the next job runs, and no background task failed.
    later = submit_bell(stubs, circuit)
    assert_completed_once(ibm_gateway, fake_ibm, stubs, later.id)
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
        circuit = device_circuit(gateway.address)
        job = submit_bell(stubs, circuit)
        finals: list[str] = []
        lock = threading.Lock()

        def follow() -> None:
            own = connect(gateway.address)
            try:
                final = wait_final(own, job.id)
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
        ibm_id = stubs.jobs.GetJob(job_service_pb2.GetJobRequest(job_id=job.id)).job
        polls = polls_of(fake_ibm, ibm_id.provider_job_id)
    moments = [request.at for request in polls]
    gaps = [later - earlier for earlier, later in itertools.pairwise(moments)]
    assert len(polls) >= 4, gaps
    assert min(gaps) >= 0.9, gaps  # the floor, whoever watches
    assert len(polls) <= (moments[-1] - moments[0]) / 0.9 + 2, gaps
    # While IBM queues the job (6 s) nothing changes, so the pause grows from the floor.
    assert max(gaps) > gaps[0] + 0.3, gaps
    assert gaps[1] > gaps[0], gaps
