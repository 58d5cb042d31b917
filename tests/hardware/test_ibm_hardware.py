"""One Bell job on real IBM Quantum hardware through the gateway (``-m ibm_hardware``).

Opt in with IBMQ_GATEWAY_TEST_IBM_TOKEN (an IBM Quantum API key) and
IBMQ_GATEWAY_TEST_IBM_INSTANCE (its instance's CRN); skipped otherwise. It spends real QPU
time (100 shots on the least busy operational device) and may wait long in IBM's queue:
IBMQ_GATEWAY_TEST_IBM_TIMEOUT seconds (default 7200). Unlike tests/ibm, no network guard.
"""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING

import pytest
from qiskit import transpile

from ibmq_gateway.client import GatewayProvider
from ibmq_gateway.server.ops.embedded import EmbeddedGateway
from ibmq_gateway.v1 import job_service_pb2
from tests.conftest import gateway_settings
from tests.helpers import bell_circuit, connect

if TYPE_CHECKING:
    from pathlib import Path

    from ibmq_gateway.client.backend import GatewayBackend

TOKEN = os.environ.get("IBMQ_GATEWAY_TEST_IBM_TOKEN", "")
INSTANCE = os.environ.get("IBMQ_GATEWAY_TEST_IBM_INSTANCE", "")
TIMEOUT = float(os.environ.get("IBMQ_GATEWAY_TEST_IBM_TIMEOUT", "7200"))
SHOTS = 100

pytestmark = [
    pytest.mark.ibm_hardware,
    pytest.mark.skipif(
        not (TOKEN and INSTANCE),
        reason="real IBM hardware: set IBMQ_GATEWAY_TEST_IBM_TOKEN and "
        "IBMQ_GATEWAY_TEST_IBM_INSTANCE to run",
    ),
    # The gateway's IBM client (as in tests/ibm): expected until the client-side Sampler.
    pytest.mark.filterwarnings("ignore:The SamplerV2 class is deprecated"),
]


def least_busy_device(provider: GatewayProvider) -> GatewayBackend:
    devices = [
        backend
        for backend in provider.backends()
        if backend.name.startswith("ibm_") and not backend.simulator
    ]
    operational = [(device, device.status()) for device in devices]
    operational = [(device, status) for device, status in operational if status.operational]
    assert operational, f"no operational IBM device among {[d.name for d in devices]}"
    return min(operational, key=lambda pair: pair[1].pending_jobs)[0]


# Beyond the job's own timeout: the gateway's start (IBM connect and device list) and teardown.
@pytest.mark.timeout(TIMEOUT + 900)
def test_a_bell_job_runs_on_real_ibm_hardware(tmp_path: Path) -> None:
    settings = gateway_settings(
        tmp_path / "state", ibm_token=TOKEN, ibm_instance=INSTANCE, fake_devices=()
    )
    with EmbeddedGateway(settings) as running, GatewayProvider(running.address) as provider:
        assert running.gateway is not None
        problems = running.gateway.manager.upstream_problems()
        assert problems.get("ibm") is None, f"IBM cannot be used: {problems}"
        backend = least_busy_device(provider)
        circuit = transpile(bell_circuit(), backend, optimization_level=1, seed_transpiler=7)
        job = backend.run(circuit, shots=SHOTS)
        try:
            counts = job.result(timeout=TIMEOUT).get_counts()
        except BaseException:
            with contextlib.suppress(Exception):
                job.cancel()  # leave no QPU work behind a failed or timed-out wait
            raise
        assert sum(counts.values()) == SHOTS, counts
        # A noisy device, but a Bell pair: correlated outcomes clearly dominate.
        assert counts.get("00", 0) + counts.get("11", 0) >= 70, (backend.name, counts)
        stubs = connect(running.address)
        try:
            request = job_service_pb2.GetJobRequest(job_id=job.job_id())
            stored = stubs.jobs.GetJob(request, timeout=30).job
        finally:
            stubs.close()
        assert stored.provider_job_id, f"no IBM job id recorded for {job.job_id()}"
