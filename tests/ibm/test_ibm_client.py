"""``IbmClient`` against the loopback fake of IBM Quantum Platform (real client, real HTTP).

The fake runs every job through Queued → Running → a final state (0.3 s each here) and its fault
hooks produce IBM's real failure modes; these tests pin what the gateway sees for each.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import time
from typing import TYPE_CHECKING, TypeVar

import pytest
from qiskit.providers import JobStatus

from ibmq_gateway.server.executors.ibm.client import IbmClient
from ibmq_gateway.server.executors.ibm.errors import (
    IbmAuthError,
    IbmError,
    IbmRateLimitedError,
    IbmRejectedError,
    IbmTransientError,
)
from ibmq_gateway.server.executors.ibm.reading import normalize_status
from ibmq_gateway.server.executors.ibm.records import IbmAccount, IbmDevice, IbmJobState
from tests.ibm.helpers import IBM_DEVICE as DEVICE
from tests.ibm.helpers import sampler_bell

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable

    from tests.ibm.fake import FakeIBM

E = TypeVar("E", bound=IbmError)

FINAL = ("DONE", "CANCELLED", "ERROR")


def account(fake: FakeIBM) -> IbmAccount:
    return IbmAccount(token=fake.api_key, instance=fake.instance_crn, api_url=fake.api_url)


@pytest.fixture
async def client(fake_ibm: FakeIBM) -> AsyncIterator[IbmClient]:
    ibm = IbmClient(account(fake_ibm), call_timeout=20)
    try:
        yield ibm
    finally:
        await ibm.close()


@contextlib.asynccontextmanager
async def one_lane(fake: FakeIBM, call_timeout: float) -> AsyncIterator[IbmClient]:
    """A client of its own with a single lane, whose calls give up after ``call_timeout`` s."""
    ibm = IbmClient(account(fake), lanes=1, call_timeout=call_timeout)
    try:
        yield ibm
    finally:
        await ibm.close()


async def manila(client: IbmClient) -> IbmDevice:
    (device,) = await client.devices()
    return device


async def poll_until_final(
    client: IbmClient, job_id: str, seconds: float = 20
) -> list[IbmJobState]:
    """Every distinct state seen, polling every 50 ms until final (or failing at the deadline)."""
    seen: list[IbmJobState] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        state = await client.status(job_id)
        if not seen or seen[-1] != state:
            seen.append(state)
        if state.status in FINAL:
            return seen
        await asyncio.sleep(0.05)
    pytest.fail(f"job {job_id} not final after {seconds} s: {seen}")


async def refusal(
    call: Awaitable[object], kind: type[E], fake: FakeIBM, match: str | None = None
) -> E:
    """The error of ``kind`` that ``call`` raises, whose text (for people and logs) never holds
    the API key."""
    with pytest.raises(kind, match=match) as raised:
        await call
    error = raised.value
    assert fake.api_key not in str(error)
    assert fake.api_key not in error.message
    assert fake.api_key not in repr(error)
    return error


# -- devices --------------------------------------------------------------------------------


async def test_connect_lists_devices_with_target_status_and_calibration(
    fake_ibm: FakeIBM, client: IbmClient
) -> None:
    from qiskit_ibm_runtime.fake_provider import FakeManilaV2

    await client.connect()
    device = await manila(client)

    assert device.name == DEVICE
    assert device.num_qubits == 5
    assert device.target.num_qubits == 5
    assert {"cx", "id", "rz", "sx", "x", "measure"} <= set(device.target.operation_names)
    assert not device.simulator
    assert device.version == "1.2.6"
    assert (device.max_shots, device.max_experiments) == (100000, 300)
    assert device.description == "5-qubit IBM Quantum device ibm_fake_manila (Falcon r5.11)"

    # The service caches configurations for its lifetime; asking again really asks IBM again.
    fetched = fake_ibm.count("GET /backends/{name}/configuration")
    assert [again.name for again in await client.devices()] == [DEVICE]
    assert fake_ibm.count("GET /backends/{name}/configuration") == fetched + 1

    status = await client.device_status(DEVICE)
    assert (status.operational, status.message, status.queue_length) == (True, "active", 0)
    assert status.wait_seconds is None  # not exposed by qiskit-ibm-runtime 0.51

    fake_ibm.set_backend_status(DEVICE, online=False, message="calibrating")
    offline = await client.device_status(DEVICE)
    assert (offline.operational, offline.message) == (False, "calibrating")

    properties = await client.properties(DEVICE)
    assert properties is not None
    assert properties["backend_name"] == DEVICE
    assert isinstance(properties["last_update_date"], str)
    json.dumps(properties)  # JSON-ready: no datetimes left
    t1 = next(item for item in properties["qubits"][0] if item["name"] == "T1")
    assert t1["value"] == pytest.approx(FakeManilaV2().properties().t1(0) * 1e6)
    assert isinstance(t1["date"], str)


async def test_unknown_device_is_rejected(fake_ibm: FakeIBM, client: IbmClient) -> None:
    await refusal(client.device_status("ibm_nowhere"), IbmRejectedError, fake_ibm)


# -- jobs -----------------------------------------------------------------------------------


async def test_bell_job_runs_to_done_and_its_result_decodes(
    fake_ibm: FakeIBM, client: IbmClient
) -> None:
    device = await manila(client)
    circuit = sampler_bell(device)
    # Running long enough that polls every 50 ms see it on a loaded machine (0.3 s did not).
    fake_ibm.run_seconds = 2.0

    job_id = await client.submit(DEVICE, [circuit, circuit], 500, ["gw:job-1", "gw-user:alice"])

    assert sorted(fake_ibm.job(job_id).tags) == ["gw-user:alice", "gw:job-1"]
    assert await client.find_job("gw:job-1") == job_id
    assert await client.find_job("gw:no-such-job") is None

    fake_ibm.clear_requests()
    seen = await poll_until_final(client, job_id)
    assert [state.status for state in seen] == ["QUEUED", "RUNNING", "DONE"]
    assert seen[-1] == IbmJobState("DONE")
    polls = fake_ibm.count("GET /jobs/{id}")
    assert await client.status(job_id) == IbmJobState("DONE")
    assert fake_ibm.count("GET /jobs/{id}") == polls  # final: the lane's job object answers

    result = await client.result(job_id)
    assert len(result) == 2  # one pub per circuit
    for pub in result:
        counts = pub.data.meas.get_counts()
        assert sum(counts.values()) == 500
        assert counts.get("00", 0) + counts.get("11", 0) >= 450

    assert await client.cancel(job_id) is False  # already final: IBM's 409


async def test_a_fresh_client_finds_and_follows_a_job_it_did_not_submit(
    fake_ibm: FakeIBM, client: IbmClient
) -> None:
    job_id = await client.submit(DEVICE, [sampler_bell(await manila(client))], 100, ["gw:job-2"])

    async with one_lane(fake_ibm, call_timeout=20) as other:
        assert await other.find_job("gw:job-2") == job_id
        seen = await poll_until_final(other, job_id)
        assert seen[-1].status == "DONE"
        assert sum((await other.result(job_id))[0].data.meas.get_counts().values()) == 100


async def test_failed_job_is_error_with_ibms_reason(fake_ibm: FakeIBM, client: IbmClient) -> None:
    fake_ibm.next_jobs_fail(reason="Qubit 3 lost calibration", reason_code=1517)
    job_id = await client.submit(DEVICE, [sampler_bell(await manila(client))], 100, ["gw:job-3"])

    seen = await poll_until_final(client, job_id)

    assert seen[-1] == IbmJobState("ERROR", "Qubit 3 lost calibration", 1517)
    await refusal(client.result(job_id), IbmRejectedError, fake_ibm, match="ERROR")


async def test_job_that_ran_too_long_is_error_1305(fake_ibm: FakeIBM, client: IbmClient) -> None:
    fake_ibm.next_jobs_run_too_long()
    job_id = await client.submit(DEVICE, [sampler_bell(await manila(client))], 100, ["gw:job-4"])

    final = (await poll_until_final(client, job_id))[-1]

    assert fake_ibm.job(job_id).status == "Cancelled"  # IBM says Cancelled; the client, ERROR
    assert (final.status, final.reason_code) == ("ERROR", 1305)
    assert "maximum execution time" in final.reason


async def test_cancel_a_queued_job_then_again(fake_ibm: FakeIBM, client: IbmClient) -> None:
    fake_ibm.queue_seconds = 30  # still queued when cancelled
    job_id = await client.submit(DEVICE, [sampler_bell(await manila(client))], 100, ["gw:job-5"])
    assert (await client.status(job_id)).status == "QUEUED"

    assert await client.cancel(job_id) is True
    assert (await client.status(job_id)).status == "CANCELLED"
    assert await client.cancel(job_id) is False

    statuses = [request.status for request in fake_ibm.requests_to("POST /jobs/{id}/cancel")]
    assert statuses == [204, 409]
    with pytest.raises(IbmRejectedError, match="CANCELLED"):
        await client.result(job_id)


async def test_unknown_job_and_unknown_backend_are_rejected(
    fake_ibm: FakeIBM, client: IbmClient
) -> None:
    circuit = sampler_bell(await manila(client))
    unknown_job = client.status("nosuchjob0000000000a")
    await refusal(unknown_job, IbmRejectedError, fake_ibm, match="HTTP 404")
    unknown_backend = client.submit("ibm_nowhere", [circuit], 100, ["gw:job-6"])
    await refusal(unknown_backend, IbmRejectedError, fake_ibm, match="ibm_nowhere")
    assert fake_ibm.count("POST /jobs") == 0


# -- faults ---------------------------------------------------------------------------------


async def test_bad_api_key_fails_connect_with_auth_error(
    fake_ibm: FakeIBM, client: IbmClient
) -> None:
    fake_ibm.reject_api_key()

    error = await refusal(client.connect(), IbmAuthError, fake_ibm, match="API key")

    assert fake_ibm.instance_crn in error.message


async def test_key_revoked_after_connect_is_an_auth_error(
    fake_ibm: FakeIBM, client: IbmClient
) -> None:
    await client.connect()
    fake_ibm.reject_api_key()

    await refusal(client.find_job("gw:job-7"), IbmAuthError, fake_ibm)


async def test_429_on_submit_is_rate_limited_with_retry_after(
    fake_ibm: FakeIBM, client: IbmClient
) -> None:
    circuit = sampler_bell(await manila(client))
    fake_ibm.rate_limit("POST /jobs", retry_after=7)

    submitted = client.submit(DEVICE, [circuit], 100, ["gw:job-8"])
    error = await refusal(submitted, IbmRateLimitedError, fake_ibm)

    assert error.retry_after == 7
    assert fake_ibm.count("POST /jobs") == 1  # the client does not retry a 429 POST
    assert await client.find_job("gw:job-8") is None  # nothing was created: safe to resubmit
    assert await client.submit(DEVICE, [circuit], 100, ["gw:job-8"])


@pytest.mark.slow
async def test_503_storm_on_status_is_transient(fake_ibm: FakeIBM, client: IbmClient) -> None:
    job_id = await client.submit(DEVICE, [sampler_bell(await manila(client))], 100, ["gw:job-9"])
    fake_ibm.fail_next("GET /jobs/{id}", times=10, status=503)

    # The client retries 5 times (~15 s), then gives up.
    await refusal(client.status(job_id), IbmTransientError, fake_ibm)

    assert fake_ibm.count("GET /jobs/{id}") == 6
    fake_ibm.clear_faults()
    assert (await client.status(job_id)).status in ("QUEUED", "RUNNING", "DONE")


async def test_call_past_its_timeout_is_transient_and_the_next_runs_on_a_fresh_lane(
    fake_ibm: FakeIBM,
) -> None:
    async with one_lane(fake_ibm, call_timeout=2) as client:
        await client.connect()
        await client.device_status(DEVICE)
        exchanges = fake_ibm.count("POST /identity/token")
        fake_ibm.delay("GET /backends/{name}/status", seconds=30, times=1)

        started = time.monotonic()
        late = client.device_status(DEVICE)
        await refusal(late, IbmTransientError, fake_ibm, match="did not answer in time")
        assert time.monotonic() - started < 3.5

        status = await client.device_status(DEVICE)
        assert status.operational
        assert fake_ibm.count("POST /identity/token") > exchanges  # a new service logged in


async def test_calls_queued_behind_a_stuck_call_move_to_the_fresh_lane(
    fake_ibm: FakeIBM,
) -> None:
    async with one_lane(fake_ibm, call_timeout=3) as client:
        await client.connect()
        fake_ibm.delay("GET /backends/{name}/status", seconds=30, times=1)
        stuck = asyncio.create_task(client.device_status(DEVICE))
        await asyncio.sleep(1.5)  # the status call holds the only lane
        queued = asyncio.create_task(client.properties(DEVICE))

        with pytest.raises(IbmTransientError):
            await stuck
        # Left on the stuck lane it would time out too; moved, it gets its answer in time.
        properties = await queued
        assert properties is not None
        assert properties["backend_name"] == DEVICE


async def test_closed_client_refuses_calls(fake_ibm: FakeIBM, client: IbmClient) -> None:
    await client.close()
    with pytest.raises(IbmError, match="closed"):
        await client.devices()


# -- pieces ---------------------------------------------------------------------------------


def test_statuses_of_both_kinds_normalize() -> None:
    # RuntimeJobV2 returns strings; the local (fake backend) job returns qiskit's JobStatus.
    assert normalize_status("QUEUED") == "QUEUED"
    assert normalize_status("INITIALIZING") == "QUEUED"
    assert normalize_status("Completed") == "DONE"
    assert normalize_status("Failed") == "ERROR"
    assert normalize_status(JobStatus.DONE) == "DONE"
    assert normalize_status(JobStatus.RUNNING) == "RUNNING"
    assert normalize_status(JobStatus.CANCELLED) == "CANCELLED"
    assert normalize_status(JobStatus.ERROR) == "ERROR"
    assert normalize_status(JobStatus.VALIDATING) == "QUEUED"
    assert normalize_status("SOMETHING NEW") is None


def test_account_repr_hides_the_key() -> None:
    text = repr(IbmAccount(token="s3cret-key-value", instance="crn:v1:x"))
    assert "s3cret-key-value" not in text
    assert "crn:v1:x" in text


def test_module_imports_without_qiskit_ibm_runtime() -> None:
    code = (
        "import sys, ibmq_gateway.server.executors.ibm.client; "
        "assert 'qiskit_ibm_runtime' not in sys.modules, 'imported eagerly'"
    )
    outcome = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert outcome.returncode == 0, outcome.stderr
