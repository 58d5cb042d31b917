"""Following jobs through a gateway whose streams end early and often."""

from __future__ import annotations

import itertools

import pytest
from qiskit.providers import JobStatus

from ibmq_gateway.client import GatewayProvider, QueueInfo
from ibmq_gateway.server.ops.embedded import EmbeddedGateway
from tests.client import circuits
from tests.conftest import gateway_settings

pytestmark = pytest.mark.slow  # jobs that keep a backend busy for seconds


@pytest.fixture
def short_streams(tmp_path):
    """A gateway that closes every stream after half a second (as at its maximum age)."""
    settings = gateway_settings(tmp_path / "state", max_stream_age=0.5, heartbeat_interval=0.2)
    with EmbeddedGateway(settings) as running, GatewayProvider(running.address) as provider:
        yield provider


def test_waits_resume_after_streams_reach_their_maximum_age(short_streams):
    sim = short_streams.get_backend("aer_simulator")
    job = sim.run(circuits.slow(60), shots=10, method="statevector")
    seen: list[tuple[JobStatus, QueueInfo | None]] = []

    def callback(job_id, status, the_job, queue_info=None):
        seen.append((status, queue_info))

    job.wait_for_final_state(timeout=120, callback=callback)
    assert job.status() is JobStatus.DONE
    assert JobStatus.RUNNING in [status for status, _ in seen]
    # Each change is reported once, although every stream was replaced several times.
    assert all(earlier != later for earlier, later in itertools.pairwise(seen))
    assert job.result().success
