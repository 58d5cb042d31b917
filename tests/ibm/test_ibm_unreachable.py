"""IBM out of reach when the gateway starts: its jobs wait, and resume once IBM is back."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from ibmq_gateway.server.ops.embedded import EmbeddedGateway
from ibmq_gateway.v1 import backend_service_pb2, job_pb2
from tests.helpers import connect, wait_final
from tests.ibm.conftest import ibm_settings
from tests.ibm.helpers import (
    IBM_DEVICE,
    bell_for,
    cancel,
    get_job,
    provider_id,
    state_name,
    submit_to_ibm,
    until,
)

if TYPE_CHECKING:
    from pathlib import Path

    from tests.helpers import Stubs
    from tests.ibm.fake import FakeIBM

pytestmark = pytest.mark.filterwarnings("ignore:The SamplerV2 class is deprecated")


def listed(stubs: Stubs) -> list[str]:
    response = stubs.backends.ListBackends(backend_service_pb2.ListBackendsRequest())
    return [backend.name for backend in response.backends]


def two_waiting_jobs(gateway: EmbeddedGateway) -> tuple[str, str]:
    """Two IBM jobs that were never sent: the submission limit (1/min) holds them back."""
    stubs = connect(gateway.address)
    circuit = bell_for(gateway.address)
    first = submit_to_ibm(stubs, circuit)
    until(lambda: provider_id(stubs, first), "the first job is sent")
    return submit_to_ibm(stubs, circuit), submit_to_ibm(stubs, circuit)


def test_jobs_of_an_unreachable_ibm_wait_then_run_once_it_answers(
    fake_ibm: FakeIBM, tmp_path: Path
) -> None:
    settings = ibm_settings(tmp_path / "state", fake_ibm, ibm_submissions_per_minute=1)
    with EmbeddedGateway(settings) as gateway:
        waiting, cancelled = two_waiting_jobs(gateway)
        gateway.stop()
        # IBM's instance lookup fails for a while: the next start cannot list IBM's devices.
        fake_ibm.fail_next("POST /v3/resources/search", times=1, status=503)
        fake_ibm.clear_requests()
        gateway.start()
        stubs = connect(gateway.address)
        assert IBM_DEVICE not in listed(stubs)
        # Its jobs are not failed as "backend no longer offered": they wait, and can be
        # cancelled meanwhile.
        assert state_name(get_job(stubs, waiting)) == "QUEUED"
        cancel(stubs, cancelled)
        assert state_name(get_job(stubs, cancelled)) == "CANCELLED"
        # The gateway tries again by itself; the device appears and the job runs.
        until(lambda: IBM_DEVICE in listed(stubs), "IBM's devices are listed", timeout=60)
        final = wait_final(stubs, waiting)
        assert job_pb2.JobState.Name(final.state) == "JOB_STATE_COMPLETED"
        assert fake_ibm.count("POST /jobs") == 1  # only the job that was not cancelled


def test_a_job_at_ibm_cancelled_while_ibm_is_out_of_reach_is_cancelled_there(
    fake_ibm: FakeIBM, tmp_path: Path
) -> None:
    fake_ibm.queue_seconds = 120.0
    with EmbeddedGateway(ibm_settings(tmp_path / "state", fake_ibm)) as gateway:
        stubs = connect(gateway.address)
        job_id = submit_to_ibm(stubs, bell_for(gateway.address))
        ibm_id = until(lambda: provider_id(stubs, job_id), "the job is at IBM")
        gateway.stop()
        fake_ibm.fail_next("POST /v3/resources/search", times=1, status=503)
        gateway.start()
        stubs = connect(gateway.address)
        assert IBM_DEVICE not in listed(stubs)  # the job is parked, IBM's id known
        cancel(stubs, job_id)
        assert state_name(get_job(stubs, job_id)) == "CANCELLED"
        until(lambda: fake_ibm.job(ibm_id).status == "Cancelled", "IBM cancels the job")
