"""Per-user quotas: a request past a limit is RESOURCE_EXHAUSTED and creates nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from ibmq_gateway.server.api.auth import new_token, token_digest
from ibmq_gateway.server.core.model import User
from ibmq_gateway.server.ops.embedded import EmbeddedGateway
from ibmq_gateway.v1 import job_pb2, job_service_pb2
from tests.conftest import gateway_settings
from tests.helpers import BELL_QASM3, Stubs, connect, details, submit

LIMITS = {
    "quota_active_jobs": 2,
    "quota_circuits_per_job": 2,
    "quota_shots": 100,
    "quota_request_bytes": 2000,
    # The port takes larger messages than bob's quota (as for admins), so the quota answers.
    "max_receive_bytes": 1024 * 1024,
}


@pytest.fixture
def users(tmp_path) -> Iterator[tuple[Stubs, Stubs]]:
    """(bob, a user with small quotas; the admin) on a gateway whose jobs stay queued."""
    settings = gateway_settings(
        tmp_path / "state", backend_concurrency={"aer_simulator": 0}, **LIMITS
    )
    with EmbeddedGateway(settings) as gateway:
        token = new_token()
        assert gateway.gateway is not None
        bob = User("bob", "h", "g", "p", datetime.now(UTC))
        gateway.call(gateway.gateway.store.add_user(bob, token_digest(token)))
        pair = (connect(gateway.address, token), connect(gateway.address))
        yield pair
        for stubs in pair:
            stubs.close()


def _quota_failure(error: grpc.RpcError) -> error_details_pb2.QuotaFailure:
    failure = error_details_pb2.QuotaFailure()
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None
    assert any(detail.Unpack(failure) for detail in status.details)
    return failure


def _job_count(stubs: Stubs) -> int:
    return len(stubs.jobs.ListJobs(job_service_pb2.ListJobsRequest(page_size=500)).jobs)


@pytest.mark.parametrize(
    ("fields", "limit", "value"),
    [
        ({"circuits": 3}, "circuits per job", 2),
        ({"run_options": job_pb2.RunOptions(shots=101)}, "shots per circuit", 100),
        ({"name": "x" * 199, "tags": ["t" * 90] * 20}, "request size in bytes", 2000),
    ],
    ids=["circuits", "shots", "request-size"],
)
def test_each_limit_is_reported_with_its_value(users, fields, limit, value):
    bob, _ = users
    circuits = [job_pb2.Circuit(qasm3=BELL_QASM3)] * fields.pop("circuits", 1)
    with pytest.raises(grpc.RpcError) as caught:
        submit(bob, "aer_simulator", *circuits, **fields)
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    violation = _quota_failure(caught.value).violations[0]
    assert violation.subject == "user:bob"
    assert violation.description == f"{limit} limit is {value}"
    assert details(caught.value)[0].reason == "QUOTA_EXCEEDED"
    assert _job_count(bob) == 0


def test_active_jobs_are_limited_and_a_retry_still_answers(users):
    bob, _ = users
    first = submit(bob, request_id="first")
    submit(bob)
    with pytest.raises(grpc.RpcError) as caught:
        submit(bob)
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "jobs queued or running at once" in str(caught.value.details())
    assert _job_count(bob) == 2
    assert submit(bob, request_id="first").job.id == first.job.id
    bob.jobs.CancelJob(job_service_pb2.CancelJobRequest(job_id=first.job.id))
    assert submit(bob).job.state == job_pb2.JOB_STATE_CREATING


def test_submissions_at_once_never_pass_the_active_jobs_limit(users):
    bob, _ = users
    calls = [bob.jobs.SubmitJob.future(_bell(), timeout=30) for _ in range(12)]

    outcomes = [_outcome(call) for call in calls]

    assert outcomes.count(grpc.StatusCode.OK) == LIMITS["quota_active_jobs"]
    assert outcomes.count(grpc.StatusCode.RESOURCE_EXHAUSTED) == 12 - LIMITS["quota_active_jobs"]
    assert _job_count(bob) == LIMITS["quota_active_jobs"]


def _bell() -> job_service_pb2.SubmitJobRequest:
    return job_service_pb2.SubmitJobRequest(
        backend="aer_simulator", circuits=[job_pb2.Circuit(qasm3=BELL_QASM3)]
    )


def _outcome(call) -> grpc.StatusCode:
    try:
        call.result()
    except grpc.RpcError as error:
        return error.code()
    return grpc.StatusCode.OK


def test_admins_have_no_quota(users):
    _, admin = users
    for _ in range(3):
        submit(admin, "aer_simulator", *[job_pb2.Circuit(qasm3=BELL_QASM3)] * 3)
    assert _job_count(admin) == 3
