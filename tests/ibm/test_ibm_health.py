"""A refused IBM key: health says so, IBM devices refuse jobs clearly, local backends go on."""

from __future__ import annotations

from typing import TYPE_CHECKING

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ibmq_gateway.server.executors.ibm import executor, sending
from ibmq_gateway.server.ops.embedded import EmbeddedGateway
from ibmq_gateway.v1 import backend_service_pb2, job_pb2
from tests.helpers import connect, details, submit, wait_final
from tests.ibm.conftest import ibm_settings
from tests.ibm.helpers import IBM_DEVICE as DEVICE
from tests.ibm.helpers import bell_for, get_job, until

if TYPE_CHECKING:
    from pathlib import Path

    from tests.ibm.fake import FakeIBM

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
pytestmark = pytest.mark.filterwarnings("ignore:The SamplerV2 class is deprecated")


def health(address: str, service: str) -> int:
    with grpc.insecure_channel(address) as channel:
        request = health_pb2.HealthCheckRequest(service=service)
        return int(health_pb2_grpc.HealthStub(channel).Check(request, timeout=10).status)


def test_a_refused_key_makes_ibm_not_serving_and_leaves_local_backends_working(
    fake_ibm: FakeIBM, tmp_path: Path
) -> None:
    fake_ibm.reject_api_key()
    with EmbeddedGateway(ibm_settings(tmp_path / "state", fake_ibm)) as gateway:
        assert health(gateway.address, "ibm") == NOT_SERVING
        assert health(gateway.address, "") == SERVING
        stubs = connect(gateway.address)
        listed = stubs.backends.ListBackends(backend_service_pb2.ListBackendsRequest())
        assert [backend.name for backend in listed.backends] == ["aer_simulator"]
        with pytest.raises(grpc.RpcError) as refused:
            submit(stubs, DEVICE)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "refused the gateway's API key" in str(refused.value.details())
        assert details(refused.value)[0].reason == "UPSTREAM_UNAVAILABLE"
        local = submit(stubs, "aer_simulator").job
        assert job_pb2.JobState.Name(wait_final(stubs, local.id).state) == "JOB_STATE_COMPLETED"


def test_a_key_revoked_while_serving_turns_ibm_unhealthy_until_ibm_takes_it_again(
    ibm_gateway: EmbeddedGateway, fake_ibm: FakeIBM, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Minutes in production; seconds here.
    monkeypatch.setattr(executor, "AUTH_RETRY_S", 0.5)
    monkeypatch.setattr(sending, "UNREACHABLE_RETRY_S", 0.5)
    assert health(ibm_gateway.address, "ibm") == SERVING
    circuit = bell_for(ibm_gateway.address)
    fake_ibm.reject_api_key()
    stubs = connect(ibm_gateway.address)
    # The next call to IBM (sending this job) meets the refusal; the job waits, queued.
    job = submit(stubs, DEVICE, circuit).job
    until(lambda: health(ibm_gateway.address, "ibm") == NOT_SERVING, "health turns NOT_SERVING")
    backend = stubs.backends.GetBackend(backend_service_pb2.GetBackendRequest(name=DEVICE))
    assert not backend.backend.status.operational
    assert "API key" in backend.backend.status.status_msg
    with pytest.raises(grpc.RpcError) as refused:
        submit(stubs, DEVICE, circuit)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    assert job_pb2.JobState.Name(get_job(stubs, job.id).state) == "JOB_STATE_QUEUED"
    # IBM takes the key again: the gateway notices by itself, and the waiting job runs.
    fake_ibm.accept_api_key()
    until(lambda: health(ibm_gateway.address, "ibm") == SERVING, "health turns SERVING again")
    final = wait_final(stubs, job.id)
    assert job_pb2.JobState.Name(final.state) == "JOB_STATE_COMPLETED"
    assert fake_ibm.count("POST /jobs") == 1
