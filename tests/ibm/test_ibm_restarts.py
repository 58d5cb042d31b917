"""Restarts and crashes with jobs at IBM: nothing sent twice, nothing lost."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from ibmq_gateway.server.ops.embedded import EmbeddedGateway
from ibmq_gateway.v1 import job_pb2, job_service_pb2
from tests.helpers import connect, submit, wait_final
from tests.ibm.conftest import ibm_settings
from tests.ibm.helpers import IBM_DEVICE as DEVICE
from tests.ibm.helpers import bell_for, provider_id, submit_to_ibm, tagged, until
from tests.processes import Served, free_port

if TYPE_CHECKING:
    from pathlib import Path

    from tests.ibm.fake import FakeIBM

pytestmark = pytest.mark.filterwarnings("ignore:The SamplerV2 class is deprecated")


def test_a_job_waiting_at_ibm_is_reattached_after_a_restart(
    fake_ibm: FakeIBM, tmp_path: Path
) -> None:
    fake_ibm.queue_seconds = 3.0
    with EmbeddedGateway(ibm_settings(tmp_path / "state", fake_ibm)) as gateway:
        stubs = connect(gateway.address)
        job_id = submit_to_ibm(stubs, bell_for(gateway.address), shots=300)
        sent_as = until(lambda: provider_id(stubs, job_id), "IBM's id is recorded")
        gateway.restart()
        stubs = connect(gateway.address)
        final = wait_final(stubs, job_id)
        assert job_pb2.JobState.Name(final.state) == "JOB_STATE_COMPLETED"
        assert final.provider_job_id == sent_as
        assert fake_ibm.count("POST /jobs") == 1
        result = stubs.jobs.GetJobResult(job_service_pb2.GetJobResultRequest(job_id=job_id))
        counts = result.result.results[0].counts
        assert sum(counts.values()) == 300


def test_a_gateway_killed_while_sending_finds_the_job_by_its_tag(
    fake_ibm: FakeIBM, tmp_path: Path
) -> None:
    state, port = tmp_path / "state", free_port()
    settings = ibm_settings(state, fake_ibm)
    environ = {
        "IBMQ_GATEWAY_FAKE_DEVICES": "",
        "IBMQ_GATEWAY_IBM_TOKEN": fake_ibm.api_key,
        "IBMQ_GATEWAY_IBM_INSTANCE": str(settings.ibm_instance),
        "IBMQ_GATEWAY_IBM_URL": str(settings.ibm_url),
        **fake_ibm.environ(),
    }
    served = Served(state, port, env=environ)
    try:
        stubs = connect(served.address)
        circuit = bell_for(served.address)
        # IBM takes the job only after the gateway is dead: the id never reaches its database.
        fake_ibm.delay("POST /jobs", 3.0, times=1)
        job = submit(stubs, DEVICE, circuit).job
        until(lambda: fake_ibm.arrived("POST /jobs") == 1, "the fake holds the POST")
        served.process.kill()
        served.process.wait(timeout=30)
        until(lambda: tagged(fake_ibm, job.id), "IBM created the job", timeout=15)
        # The fake records a call once its answer is made, a moment after creating the job.
        until(lambda: fake_ibm.count("POST /jobs") == 1, "the POST is answered")
        served = Served(state, port, env=environ)
        stubs = connect(served.address)
        final = wait_final(stubs, job.id)
    finally:
        served.process.kill()
        served.process.wait(timeout=30)
    assert job_pb2.JobState.Name(final.state) == "JOB_STATE_COMPLETED"
    assert [final.provider_job_id] == tagged(fake_ibm, job.id)
    assert fake_ibm.count("POST /jobs") == 1  # found by its tag, not sent again
