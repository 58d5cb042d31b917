"""The transport against a scripted gateway: tokens, error translation, submit retries."""

from __future__ import annotations

import grpc
import pytest

from ibmq_gateway.client import IBMQBackendApiError, IBMQJobApiError
from ibmq_gateway.client._rpc import TOKEN_ENV, ApiClient, api_errors
from ibmq_gateway.v1 import job_service_pb2
from tests.client.fakes import FakeJobService, serve


@pytest.fixture
def service():
    return FakeJobService()


@pytest.fixture
def address(service):
    with serve(service) as running:
        yield running


def test_a_token_is_sent_as_bearer_metadata(service, address):
    api = ApiClient(address, token="secret")
    with pytest.raises(grpc.RpcError):
        api.job_get("job-1")
    api.close()
    assert service.metadata[-1]["authorization"] == "Bearer secret"


def test_the_token_comes_from_the_environment_when_not_given(service, address, monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, "from-env")
    api = ApiClient(address)
    with pytest.raises(grpc.RpcError):
        api.job_get("job-1")
    api.close()
    assert service.metadata[-1]["authorization"] == "Bearer from-env"


def test_without_a_token_no_authorization_is_sent(service, address, monkeypatch):
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    api = ApiClient(address)
    with pytest.raises(grpc.RpcError):
        api.job_get("job-1")
    api.close()
    assert "authorization" not in service.metadata[-1]


def test_errors_carry_code_reason_and_the_gateways_message(address):
    api = ApiClient(address, token="")
    with pytest.raises(IBMQBackendApiError) as caught, api_errors(IBMQBackendApiError, "Lookup"):
        api.job_get("job-1")
    api.close()
    error = caught.value
    assert error.code is grpc.StatusCode.NOT_FOUND
    assert error.reason == "JOB_NOT_FOUND"
    assert error.message == "Lookup: NOT_FOUND: no such job (JOB_NOT_FOUND)"


def test_field_violations_are_part_of_the_message(address):
    api = ApiClient(address, token="")
    request = job_service_pb2.UpdateJobRequest(job_id="job-1", replace_tags=True)
    with pytest.raises(IBMQJobApiError, match="tags: too many tags"), api_errors():
        api.job_update(request)
    api.close()


def test_transport_failures_become_api_errors():
    api = ApiClient("127.0.0.1:1", token="")  # nothing listens there
    with pytest.raises(IBMQJobApiError) as caught, api_errors(IBMQJobApiError, "Get"):
        api.job_get("job-1")
    api.close()
    assert caught.value.code is grpc.StatusCode.UNAVAILABLE


def test_submit_is_retried_with_the_same_request_id_on_transient_errors(service, address):
    service.submit_failures = [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED]
    api = ApiClient(address, token="")
    job = api.job_submit(job_service_pb2.SubmitJobRequest(request_id="r-1", backend="x"))
    api.close()
    assert job.id == "submitted"
    assert [request.request_id for request in service.submit_requests] == ["r-1"] * 3


def test_submit_gives_up_after_a_few_attempts(service, address):
    service.submit_failures = [grpc.StatusCode.UNAVAILABLE] * 10
    api = ApiClient(address, token="")
    with pytest.raises(grpc.RpcError):
        api.job_submit(job_service_pb2.SubmitJobRequest(request_id="r-1", backend="x"))
    api.close()
    assert len(service.submit_requests) == 4


def test_submit_is_not_retried_on_other_errors(service, address):
    service.submit_failures = [grpc.StatusCode.INVALID_ARGUMENT]
    api = ApiClient(address, token="")
    with pytest.raises(grpc.RpcError):
        api.job_submit(job_service_pb2.SubmitJobRequest(request_id="r-1", backend="x"))
    api.close()
    assert len(service.submit_requests) == 1
