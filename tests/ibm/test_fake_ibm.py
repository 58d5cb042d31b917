"""The official client, qiskit-ibm-runtime, against the loopback fake of IBM Quantum Platform.

These tests pin what the fake must be for the gateway's IBM executor to be tested on it: the
client authenticates, finds its instance, builds a real target, runs a sampler job through
every state and decodes real noisy counts; and each fault hook produces the behaviour the
client really has for that fault.
"""

from __future__ import annotations

import base64
import json
import time
from typing import TYPE_CHECKING, Any

import pytest
import requests
from qiskit_ibm_runtime import QiskitRuntimeService, SamplerV2
from qiskit_ibm_runtime.accounts import InvalidAccountError
from qiskit_ibm_runtime.api.exceptions import RequestsApiError
from qiskit_ibm_runtime.exceptions import (
    IBMNotAuthorizedError,
    IBMRuntimeError,
    RuntimeInvalidStateError,
    RuntimeJobFailureError,
    RuntimeJobMaxTimeoutError,
)
from qiskit_ibm_runtime.fake_provider import FakeManilaV2

from tests.ibm.helpers import IBM_DEVICE as DEVICE
from tests.ibm.helpers import sampler_bell

if TYPE_CHECKING:
    from qiskit.providers import BackendV2
    from qiskit_ibm_runtime import RuntimeJobV2

    from tests.ibm.conftest import NetworkGuard
    from tests.ibm.fake import FakeIBM

FINAL = ("DONE", "CANCELLED", "ERROR")

# Job mode on the legacy server-side sampler is what the executor will use; 0.50 deprecated it.
pytestmark = pytest.mark.filterwarnings("ignore:The SamplerV2 class is deprecated")


def submit(backend: BackendV2, shots: int = 1000, tags: list[str] | None = None) -> RuntimeJobV2:
    sampler = SamplerV2(mode=backend)
    if tags:
        sampler.options.environment.job_tags = tags
    return sampler.run([(sampler_bell(backend),)], shots=shots)


def statuses_until_final(job: RuntimeJobV2) -> tuple[list[str], int]:
    """Every distinct status the client saw while polling, and how many polls it took."""
    seen: list[str] = []
    polls = 0
    while True:
        status = job.status()
        polls += 1
        if not seen or seen[-1] != status:
            seen.append(status)
        if status in FINAL:
            return seen, polls
        time.sleep(0.05)


def jwt_claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


# -- connecting -----------------------------------------------------------------------------


def test_client_authenticates_through_iam_and_finds_its_instance(
    fake_ibm: FakeIBM, service: QiskitRuntimeService
) -> None:
    assert service.active_instance() == fake_ibm.instance_crn
    routes = [request.route for request in fake_ibm.requests]
    # API key → token (once for instance lookup, once for the API), then the CRN is checked.
    assert routes[:4] == [
        "POST /identity/token",
        "POST /v3/resources/search",
        "GET /catalog/{id}",
        "POST /identity/token",
    ]
    api_calls = [request for request in fake_ibm.requests if request.path.startswith("/api/v1")]
    assert api_calls
    for request in api_calls:
        scheme, _, token = request.headers["authorization"].partition(" ")
        assert scheme == "Bearer"
        assert {"exp", "iat"} <= jwt_claims(token).keys()
        assert request.headers["service-crn"] == fake_ibm.instance_crn
        assert request.headers["ibm-api-version"] == "2026-04-15"


def test_backends_carry_the_real_configuration_and_calibration(
    service: QiskitRuntimeService,
) -> None:
    reference = FakeManilaV2()
    assert [backend.name for backend in service.backends()] == [DEVICE]

    backend = service.backend(DEVICE)
    assert backend.num_qubits == 5
    assert set(backend.configuration().basis_gates) == set(reference.configuration().basis_gates)
    assert sorted(backend.coupling_map.get_edges()) == sorted(reference.coupling_map.get_edges())
    assert backend.properties().t1(0) == pytest.approx(reference.properties().t1(0))
    assert backend.target["cx"][(0, 1)].error == pytest.approx(reference.target["cx"][(0, 1)].error)
    status = backend.status()
    assert status.operational
    assert status.status_msg == "active"

    isa = sampler_bell(backend)
    assert set(isa.count_ops()) <= {*backend.target.operation_names, "barrier"}
    for instruction in isa.data:
        if instruction.operation.name == "cx":
            pair = tuple(isa.find_bit(qubit).index for qubit in instruction.qubits)
            assert pair in backend.coupling_map.get_edges()


# -- jobs -----------------------------------------------------------------------------------


def test_bell_job_goes_queued_running_done_with_noisy_bell_counts(
    fake_ibm: FakeIBM, service: QiskitRuntimeService
) -> None:
    # Running long enough that polls see it on a loaded machine (0.3 s was not always).
    fake_ibm.run_seconds = 2.0
    job = submit(service.backend(DEVICE), shots=1000)

    seen, polls = statuses_until_final(job)
    counts = job.result()[0].data.meas.get_counts()

    assert seen == ["QUEUED", "RUNNING", "DONE"]
    assert fake_ibm.count("GET /jobs/{id}") == polls  # one request per poll, none once final
    assert sum(counts.values()) == 1000
    assert counts["00"] + counts["11"] >= 900
    assert min(counts["00"], counts["11"]) >= 350
    assert counts.get("01", 0) + counts.get("10", 0) > 0  # Manila's noise, really simulated
    timestamps = job.metrics()["timestamps"]
    assert timestamps["created"] < timestamps["running"] < timestamps["finished"]
    sent = job.inputs["pubs"][0][0]  # the params come back, QPY decoded into a circuit
    assert sent.count_ops() == sampler_bell(service.backend(DEVICE)).count_ops()
    assert f"job {job.job_id()} completed" in job.logs()
    assert service.usage()["usage_consumed_seconds"] >= 1


def test_tags_round_trip_and_find_jobs_with_all_given_tags(
    fake_ibm: FakeIBM, service: QiskitRuntimeService
) -> None:
    fake_ibm.queue_seconds = 30  # both stay pending throughout
    backend = service.backend(DEVICE)
    first = submit(backend, shots=100, tags=["gw:job-1", "gw-user:alice"])
    second = submit(backend, shots=100, tags=["gw-user:alice"])

    assert sorted(service.job(first.job_id()).tags) == ["gw-user:alice", "gw:job-1"]
    assert [job.job_id() for job in service.jobs(job_tags=["gw:job-1"])] == [first.job_id()]
    alices = {job.job_id() for job in service.jobs(job_tags=["gw-user:alice"])}
    assert alices == {first.job_id(), second.job_id()}
    assert {job.job_id() for job in service.jobs(pending=True)} == alices
    both = service.jobs(job_tags=["gw:job-1", "gw-user:alice"])
    assert [job.job_id() for job in both] == [first.job_id()]

    new_tags = second.update_tags(["gw:job-2", "gw-user:alice"])
    assert sorted(new_tags) == ["gw-user:alice", "gw:job-2"]
    assert [job.job_id() for job in service.jobs(job_tags=["gw:job-2"])] == [second.job_id()]


def test_cancel_then_cancel_again_is_a_conflict(
    fake_ibm: FakeIBM, service: QiskitRuntimeService
) -> None:
    fake_ibm.queue_seconds = 30  # still queued when cancelled
    job = submit(service.backend(DEVICE))
    assert job.status() == "QUEUED"

    job.cancel()

    assert service.job(job.job_id()).status() == "CANCELLED"
    with pytest.raises(RuntimeInvalidStateError, match="cannot be cancelled"):
        job.cancel()
    assert [request.status for request in fake_ibm.requests_to("POST /jobs/{id}/cancel")] == [
        204,
        409,
    ]
    with pytest.raises(RuntimeInvalidStateError, match="was cancelled"):
        job.result()


# -- faults ---------------------------------------------------------------------------------


def test_5xx_burst_on_submit_is_retried_by_the_client(
    fake_ibm: FakeIBM, service: QiskitRuntimeService
) -> None:
    fake_ibm.fail_next("POST /jobs", times=2, status=502)

    job = submit(service.backend(DEVICE), shots=100)

    submits = [request.status for request in fake_ibm.requests_to("POST /jobs")]
    assert submits == [502, 502, 200]
    assert [job.id for job in fake_ibm.board.all()] == [job.job_id()]


def test_5xx_on_a_status_poll_is_retried_or_surfaces_as_requests_api_error(
    fake_ibm: FakeIBM, service: QiskitRuntimeService
) -> None:
    job = submit(service.backend(DEVICE), shots=100)
    fake_ibm.fail_next("GET /jobs/{id}", status=500)  # in the client's retry list
    assert job.status() in ("QUEUED", "RUNNING")

    fake_ibm.fail_next("GET /jobs/{id}", status=501, message="Not this time")  # not in it
    with pytest.raises(RequestsApiError, match="Not this time") as raised:
        job.status()
    assert raised.value.status_code == 501
    polls = [request.status for request in fake_ibm.requests_to("GET /jobs/{id}")]
    assert polls == [500, 200, 501]


def test_dropped_connection_on_a_poll_is_retried(
    fake_ibm: FakeIBM, service: QiskitRuntimeService
) -> None:
    job = submit(service.backend(DEVICE), shots=100)
    fake_ibm.drop_next("GET /jobs/{id}")

    assert job.status() in ("QUEUED", "RUNNING")
    assert [request.status for request in fake_ibm.requests_to("GET /jobs/{id}")] == [0, 200]


def test_429_on_a_poll_waits_for_retry_after(
    fake_ibm: FakeIBM, service: QiskitRuntimeService
) -> None:
    job = submit(service.backend(DEVICE), shots=100)
    fake_ibm.rate_limit("GET /jobs/{id}", retry_after=1)

    started = time.monotonic()
    assert job.status() in ("QUEUED", "RUNNING", "DONE")

    assert time.monotonic() - started >= 1.0
    polls = fake_ibm.requests_to("GET /jobs/{id}")
    assert [request.status for request in polls] == [429, 200]


def test_429_on_submit_is_not_retried(fake_ibm: FakeIBM, service: QiskitRuntimeService) -> None:
    backend = service.backend(DEVICE)
    fake_ibm.rate_limit("POST /jobs", retry_after=1)

    # urllib3 retries POST only for the client's 5xx list, so the 429 reaches the caller.
    with pytest.raises(IBMRuntimeError, match="429"):
        submit(backend)
    assert fake_ibm.count("POST /jobs") == 1


def test_delay_holds_a_route_long_enough_to_time_out(
    fake_ibm: FakeIBM, service: QiskitRuntimeService
) -> None:
    backend = service.backend(DEVICE)
    fake_ibm.delay("GET /backends/{name}/status", seconds=0.5, times=1)

    started = time.monotonic()
    assert backend.status().operational
    assert time.monotonic() - started >= 0.5

    # The client sets no read timeout on GETs; a caller with a deadline sees it expire.
    fake_ibm.delay("GET /instances/usage", seconds=30, times=1)
    with pytest.raises(requests.ReadTimeout):
        requests.get(fake_ibm.api_url + "/instances/usage", timeout=0.3)


def test_job_that_ran_too_long_ends_cancelled_with_reason_1305(
    fake_ibm: FakeIBM, service: QiskitRuntimeService
) -> None:
    fake_ibm.next_jobs_run_too_long()
    job = submit(service.backend(DEVICE), shots=100)

    seen, _ = statuses_until_final(job)

    # The API says Cancelled + 1305; the client turns that into ERROR and a timeout error.
    assert fake_ibm.job(job.job_id()).status == "Cancelled"
    assert seen[-1] == "ERROR"
    assert "ran longer than maximum execution time" in (job.error_message() or "")
    with pytest.raises(RuntimeJobMaxTimeoutError, match="Error code 1305"):
        job.result()


def test_failed_job_carries_its_reason(fake_ibm: FakeIBM, service: QiskitRuntimeService) -> None:
    fake_ibm.next_jobs_fail(reason="Qubit 3 lost calibration", reason_code=1517)
    job = submit(service.backend(DEVICE), shots=100)

    job.wait_for_final_state(timeout=10, poll_interval=0.1)

    assert job.status() == "ERROR"
    with pytest.raises(RuntimeJobFailureError, match="Error code 1517; Qubit 3 lost calibration"):
        job.result()


def test_bad_api_key_is_refused_at_iam(fake_ibm: FakeIBM) -> None:
    with pytest.raises(InvalidAccountError, match="valid API token"):
        QiskitRuntimeService(**fake_ibm.service_kwargs(token="not-the-key"))

    assert [request.status for request in fake_ibm.requests_to("POST /identity/token")] == [401]


def test_revoked_api_key_makes_the_api_refuse_the_client(
    fake_ibm: FakeIBM, service: QiskitRuntimeService
) -> None:
    fake_ibm.reject_api_key()

    with pytest.raises(IBMNotAuthorizedError, match="401"):
        service.jobs()


def test_offline_device_keeps_jobs_queued(fake_ibm: FakeIBM, service: QiskitRuntimeService) -> None:
    backend = service.backend(DEVICE)
    fake_ibm.set_backend_status(DEVICE, online=False, message="calibrating")
    assert not backend.status().operational

    job = submit(backend, shots=100)
    time.sleep(0.6)  # longer than queue_seconds + run_seconds
    assert job.status() == "QUEUED"

    fake_ibm.set_backend_status(DEVICE, online=True)
    job.wait_for_final_state(timeout=10, poll_interval=0.1)
    assert job.status() == "DONE"


# -- the network guard ----------------------------------------------------------------------


def test_guard_catches_the_client_going_to_real_ibm_hosts(
    network_guard: NetworkGuard, fake_ibm: FakeIBM, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in fake_ibm.environ():
        monkeypatch.delenv(name)

    # No overrides: the client heads for IBM Cloud IAM, and the guard stops it by name.
    with pytest.raises(InvalidAccountError):
        QiskitRuntimeService(token=fake_ibm.api_key, instance=fake_ibm.instance_crn)

    assert any("iam.cloud.ibm.com" in attempt for attempt in network_guard.attempts)
    with pytest.raises(pytest.fail.Exception, match=r"iam\.cloud\.ibm\.com"):
        network_guard.check()  # what teardown does; it also clears, so this test passes


def test_guard_refuses_addresses_outside_loopback(network_guard: NetworkGuard) -> None:
    import socket

    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("192.0.2.1", 443), timeout=1)
    with socket.socket() as sock, pytest.raises(ConnectionRefusedError):
        sock.connect(("198.51.100.7", 80))

    assert len(network_guard.attempts) == 2
    network_guard.attempts.clear()
