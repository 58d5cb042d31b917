"""The IBM key stays in the gateway's memory: not in responses, logs, state or argv.

A ``serve`` process uses the key for real (against the loopback fake of IBM, which accepts
only this key) and runs a job on an IBM device; then every response, error, log line at
DEBUG, state file and the process's argv are searched for it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import cast

import grpc
import pytest
from grpc_health.v1.health_pb2 import HealthCheckRequest
from grpc_health.v1.health_pb2_grpc import HealthStub

from ibmq_gateway.v1 import backend_service_pb2, job_pb2, job_service_pb2
from tests.helpers import connect, submit, wait_final
from tests.ibm.fake import FakeIBM
from tests.ibm.helpers import IBM_DEVICE, bell_for
from tests.processes import free_port
from tests.server.test_credentials import MARKER

pytestmark = pytest.mark.filterwarnings("ignore:The SamplerV2 class is deprecated")


def _everything_a_client_sees(address: str) -> bytes:
    """Runs the scenarios over gRPC; returns every response and error, serialized."""
    stubs = connect(address)
    seen: list[bytes] = []

    def keep(call) -> None:
        try:
            response = call()
            items = response if isinstance(response, list) else [response]
            seen.extend(item.SerializeToString() for item in items)
        except grpc.RpcError as error:
            seen.append(str(error.details()).encode())
            # Trailing metadata carries the google.rpc.Status details (bytes) and text.
            # (grpc's stubs type the entries as objects; at run time they are pairs.)
            trailers = cast("list[tuple[str, object]]", error.trailing_metadata() or [])
            for _, value in trailers:
                seen.append(value if isinstance(value, bytes) else str(value).encode())

    backends, jobs = stubs.backends, stubs.jobs
    keep(lambda: HealthStub(stubs.channel).Check(HealthCheckRequest()))  # logged at DEBUG
    keep(lambda: backends.ListBackends(backend_service_pb2.ListBackendsRequest()))
    keep(lambda: backends.GetBackend(backend_service_pb2.GetBackendRequest(name="fake_manila")))
    keep(
        lambda: backends.GetBackendProperties(
            backend_service_pb2.GetBackendPropertiesRequest(name="fake_manila")
        )
    )
    keep(lambda: backends.GetBackend(backend_service_pb2.GetBackendRequest(name=IBM_DEVICE)))
    for job in (submit(stubs).job, submit(stubs, IBM_DEVICE, bell_for(address)).job):
        watch = job_service_pb2.WatchJobRequest(job_id=job.id)
        keep(lambda: list(jobs.WatchJob(watch, timeout=60)))  # noqa: B023 - called at once
        assert job_pb2.JobState.Name(wait_final(stubs, job.id).state) == "JOB_STATE_COMPLETED"
        result = job_service_pb2.GetJobResultRequest(job_id=job.id)
        keep(lambda: jobs.GetJobResult(result))  # noqa: B023 - called at once
    keep(lambda: jobs.ListJobs(job_service_pb2.ListJobsRequest()))
    keep(lambda: jobs.CancelJob(job_service_pb2.CancelJobRequest(job_id=job.id)))
    keep(lambda: jobs.GetJob(job_service_pb2.GetJobRequest(job_id="missing")))
    keep(lambda: submit(stubs, "aer_simulator", job_pb2.Circuit(qasm3="not qasm")))
    keep(lambda: submit(stubs, "ibm_nowhere"))
    keep(
        lambda: connect(address, "igw_wrong").backends.ListBackends(
            backend_service_pb2.ListBackendsRequest()
        )
    )
    stubs.close()
    return b"\n".join(seen)


@pytest.fixture
def fake_ibm_with_marker(fake_ibm: FakeIBM) -> FakeIBM:
    """The fake, accepting only the recognisable key."""
    fake_ibm.accounts.api_key = MARKER
    return fake_ibm


def test_the_ibm_key_leaves_no_trace(fake_ibm_with_marker: FakeIBM, tmp_path: Path) -> None:
    fake = fake_ibm_with_marker
    state, log = tmp_path / "state", tmp_path / "gateway.log"
    address = f"127.0.0.1:{free_port()}"
    environ = {
        **os.environ,
        **fake.environ(),
        "IBMQ_GATEWAY_IBM_TOKEN": MARKER,
        "IBMQ_GATEWAY_IBM_INSTANCE": fake.instance_crn,
        "IBMQ_GATEWAY_IBM_URL": fake.api_url,
        "IBMQ_GATEWAY_FAKE_DEVICES": "fake_manila",
    }
    command = [sys.executable, "-m", "ibmq_gateway.server.cli", "serve", "--address", address,
               "--state-dir", str(state), "--log-level", "DEBUG"]  # fmt: skip
    with log.open("w") as output:
        process = subprocess.Popen(command, env=environ, stdout=output, stderr=subprocess.STDOUT)
    try:
        grpc.channel_ready_future(grpc.insecure_channel(address)).result(timeout=60)
        argv = Path(f"/proc/{process.pid}/cmdline").read_bytes()
        responses = _everything_a_client_sees(address)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    stored = b"".join(path.read_bytes() for path in state.iterdir() if path.is_file())
    logged = log.read_bytes()
    assert b"DEBUG" in logged and b"SubmitJob" in logged  # the log really is at debug level
    assert fake.count("POST /identity/token") > 0  # the key was really used
    for place, content in [("argv", argv), ("responses", responses), ("log", logged),
                           ("state", stored)]:  # fmt: skip
        assert MARKER.encode() not in content, f"the IBM key leaked into the {place}"
