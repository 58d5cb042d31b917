"""The transport against real gateways: tokens, error translation, submit retries.

What the client sends shows in the gateway's answers and in its RPC log (who called, how
the call ended). Submit attempts that never reach a stopped gateway are counted on the
client's stub, which passes each one on unchanged.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import closing

import grpc
import pytest

from ibmq_gateway.client import IBMQBackendApiError, IBMQJobApiError
from ibmq_gateway.client._credentials import TOKEN_ENV, TOKEN_FILE_ENV
from ibmq_gateway.client._rpc import ApiClient, api_errors, channel_target
from ibmq_gateway.v1 import job_pb2, job_service_pb2
from tests.client.gateways import add_user
from tests.helpers import BELL_QASM3, chain_qasm3, connect, details

NOT_QASM = "this is not a circuit"


def submit_request(qasm3: str = BELL_QASM3) -> job_service_pb2.SubmitJobRequest:
    return job_service_pb2.SubmitJobRequest(
        request_id="r-1", backend="aer_simulator", circuits=[job_pb2.Circuit(qasm3=qasm3)]
    )


def record_submits(
    api: ApiClient,
    monkeypatch: pytest.MonkeyPatch,
    after_failure: Callable[[int], None] = lambda attempts: None,
) -> list[str]:
    """The request id of each SubmitJob attempt ``api`` makes, as it makes it.

    Every attempt still goes to the gateway; ``after_failure`` runs after a failed one
    (with the number of attempts so far), before the client sees the error.
    """
    sent: list[str] = []
    real = api._jobs.SubmitJob

    def submit_job(request: job_service_pb2.SubmitJobRequest, **kwargs: object) -> object:
        sent.append(request.request_id)
        try:
            return real(request, **kwargs)
        except grpc.RpcError:
            after_failure(len(sent))
            raise

    monkeypatch.setattr(api._jobs, "SubmitJob", submit_job)
    return sent


def test_a_token_is_sent_as_bearer_metadata(gateway, rpc_log):
    token = add_user(gateway, "carol")
    with closing(ApiClient(gateway.address, token=token)) as api:
        api.backends_list()
    assert rpc_log.wait_for("ListBackends", "OK", "carol") == ["OK"]


def test_a_token_the_gateway_does_not_know_arrives_as_one(gateway):
    with (
        closing(ApiClient(gateway.address, token="igw_not-a-real-token")) as api,
        pytest.raises(IBMQBackendApiError) as caught,
        api_errors(IBMQBackendApiError),
    ):
        api.backends_list()
    assert caught.value.code is grpc.StatusCode.UNAUTHENTICATED
    # A well-formed bearer token that matches no user (not a missing or malformed one).
    assert caught.value.reason == "INVALID_TOKEN"


def test_the_token_comes_from_the_environment_when_not_given(gateway, rpc_log, monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, add_user(gateway, "dave"))
    with closing(ApiClient(gateway.address)) as api:
        api.backends_list()
    assert rpc_log.wait_for("ListBackends", "OK", "dave") == ["OK"]


@pytest.mark.parametrize("token", [None, ""], ids=["none-found", "empty"])
def test_without_a_token_no_authorization_is_sent(gateway, monkeypatch, tmp_path, token):
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    monkeypatch.delenv(TOKEN_FILE_ENV, raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "no-local-gateway"))
    with (
        closing(ApiClient(gateway.address, token=token)) as api,
        pytest.raises(IBMQBackendApiError) as caught,
        api_errors(IBMQBackendApiError),
    ):
        api.backends_list()
    assert caught.value.code is grpc.StatusCode.UNAUTHENTICATED
    assert caught.value.reason == "MISSING_TOKEN"


def test_errors_carry_code_reason_and_the_gateways_message(gateway):
    with closing(connect(gateway.address)) as raw, pytest.raises(grpc.RpcError) as direct:
        raw.jobs.GetJob(job_service_pb2.GetJobRequest(job_id="no-such-job"), timeout=30)
    with (
        closing(ApiClient(gateway.address)) as api,
        pytest.raises(IBMQBackendApiError) as caught,
        api_errors(IBMQBackendApiError, "Lookup"),
    ):
        api.job_get("no-such-job")
    error = caught.value
    assert error.code is grpc.StatusCode.NOT_FOUND
    assert error.reason == "JOB_NOT_FOUND"
    assert error.message == f"Lookup: NOT_FOUND: {direct.value.details()} (JOB_NOT_FOUND)"


def test_field_violations_are_part_of_the_message(gateway):
    with closing(connect(gateway.address)) as raw, pytest.raises(grpc.RpcError) as direct:
        raw.jobs.SubmitJob(submit_request(NOT_QASM), timeout=30)
    violations = details(direct.value)[1].field_violations
    assert [violation.field for violation in violations] == ["circuits[0]"]
    with (
        closing(ApiClient(gateway.address)) as api,
        pytest.raises(IBMQJobApiError) as caught,
        api_errors(),
    ):
        api.job_submit(submit_request(NOT_QASM))
    assert caught.value.code is grpc.StatusCode.INVALID_ARGUMENT
    assert f"; circuits[0]: {violations[0].description}" in caught.value.message


def test_transport_failures_become_api_errors(gateway):
    address = gateway.address
    gateway.stop()  # nothing listens there any more
    with (
        closing(ApiClient(address)) as api,
        pytest.raises(IBMQJobApiError) as caught,
        api_errors(IBMQJobApiError, "Get"),
    ):
        api.job_get("job-1")
    assert caught.value.code is grpc.StatusCode.UNAVAILABLE


def test_submit_is_retried_with_the_same_request_id_on_transient_errors(gateway, monkeypatch):
    address = gateway.address
    gateway.stop()
    with closing(ApiClient(address)) as api:

        def come_back(attempts: int) -> None:
            if attempts == 1:  # UNAVAILABLE: the gateway is down; it is up for the retry
                gateway.start()
                grpc.channel_ready_future(api._channel).result(timeout=30)

        sent = record_submits(api, monkeypatch, come_back)
        job = api.job_submit(submit_request())
        # Had an attempt reached the gateway unanswered, its retry would get the same job.
        again = api.job_submit(submit_request())
    assert sent == ["r-1"] * 3
    assert again.id == job.id
    with closing(connect(address)) as admin:
        listed = admin.jobs.ListJobs(job_service_pb2.ListJobsRequest(), timeout=30).jobs
    assert [listed_job.id for listed_job in listed] == [job.id]


def test_submit_gives_up_after_a_few_attempts(gateway, monkeypatch):
    address = gateway.address
    gateway.stop()
    with closing(ApiClient(address)) as api:
        sent = record_submits(api, monkeypatch)
        with pytest.raises(grpc.RpcError) as caught:
            api.job_submit(submit_request())
    assert caught.value.code() is grpc.StatusCode.UNAVAILABLE
    assert sent == ["r-1"] * 4


def test_submit_is_not_retried_on_other_errors(gateway, monkeypatch, rpc_log):
    with closing(ApiClient(gateway.address)) as api:
        sent = record_submits(api, monkeypatch)
        with pytest.raises(grpc.RpcError) as caught:
            api.job_submit(submit_request(NOT_QASM))
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert sent == ["r-1"]
    assert rpc_log.wait_for("SubmitJob", "INVALID_ARGUMENT", "admin") == ["INVALID_ARGUMENT"]


def test_calls_go_round_robin_over_several_addresses(start_gateway):
    gateways = [start_gateway(), start_gateway()]  # one store each: who got what shows
    with closing(ApiClient([g.address for g in gateways])) as api:
        grpc.channel_ready_future(api._channel).result(timeout=30)
        for index in range(6):
            request = submit_request()
            request.request_id = f"r-{index}"
            api.job_submit(request)
    for gateway in gateways:
        with closing(connect(gateway.address)) as admin:
            listed = admin.jobs.ListJobs(job_service_pb2.ListJobsRequest(), timeout=30).jobs
        assert len(listed) >= 2, gateway.address  # 3 each once both are connected


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("gateway.example:50051", "gateway.example:50051"),
        ("10.0.0.1:50051, 10.0.0.2:50051", "ipv4:10.0.0.1:50051,10.0.0.2:50051"),
        (["[::1]:50051", "[::2]:50051"], "ipv6:[::1]:50051,[::2]:50051"),
    ],
)
def test_a_target_of_several_addresses_is_one_balanced_channel(target, expected):
    assert channel_target(target) == expected


@pytest.mark.parametrize(
    "target", ["a.example:1,b.example:1", "10.0.0.1:1,[::1]:1", "10.0.0.1,10.0.0.2"]
)
def test_several_addresses_that_grpc_cannot_balance_are_refused_with_the_way_out(target):
    with pytest.raises(ValueError, match="one DNS name that resolves to every replica"):
        channel_target(target)


def test_a_submission_refused_by_a_busy_parser_is_sent_again_when_told(start_gateway, monkeypatch):
    gateway = start_gateway(max_parse_wait=0.0)
    long_job = submit_request(chain_qasm3(10_000))  # about 3 s to parse
    long_job.request_id = "long"
    with closing(connect(gateway.address)) as admin, closing(ApiClient(gateway.address)) as api:
        ahead = admin.jobs.SubmitJob.future(long_job, timeout=60)
        time.sleep(0.5)  # it reaches the parser long before its parse ends
        sent = record_submits(api, monkeypatch)
        job = api.job_submit(submit_request(chain_qasm3(100)))  # queued behind it: refused
        assert ahead.result().job.id != job.id
    assert len(sent) >= 2 and set(sent) == {"r-1"}
