"""The IBM credential stays in the gateway's memory: not in responses, logs, state or argv."""

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

from ibmq_gateway.server.settings import Settings
from ibmq_gateway.v1 import backend_service_pb2, job_pb2, job_service_pb2
from tests.helpers import connect, submit, wait_final
from tests.server.test_process import _free_port

MARKER = "FAKE-IBM-KEY-6f1d0c2a-do-not-leak"
INSTANCE = "crn:v1:bluemix:public:quantum-computing:us-east:a/team:instance-id::"


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
    job = submit(stubs).job
    keep(lambda: list(jobs.WatchJob(job_service_pb2.WatchJobRequest(job_id=job.id), timeout=60)))
    wait_final(stubs, job.id)
    keep(lambda: jobs.GetJobResult(job_service_pb2.GetJobResultRequest(job_id=job.id)))
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


def test_the_ibm_key_leaves_no_trace(tmp_path: Path) -> None:
    state, log = tmp_path / "state", tmp_path / "gateway.log"
    address = f"127.0.0.1:{_free_port()}"
    environ = {
        **os.environ,
        "IBMQ_GATEWAY_IBM_TOKEN": MARKER,
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
    for place, content in [("argv", argv), ("responses", responses), ("log", logged),
                           ("state", stored)]:  # fmt: skip
        assert MARKER.encode() not in content, f"the IBM key leaked into the {place}"


def test_the_key_comes_from_a_file_and_never_shows_in_settings(tmp_path: Path) -> None:
    key_file = tmp_path / "ibm.key"
    key_file.write_text(MARKER + "\n")
    settings = Settings.load({"ibm_token_file": key_file, "ibm_instance": INSTANCE}, environ={})
    assert settings.ibm_token == MARKER
    assert MARKER not in repr(settings) and MARKER not in str(settings)


def test_an_unreadable_key_file_is_named_without_content(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"ibm_token_file .*missing\.key"):
        Settings.load(
            {"ibm_token_file": tmp_path / "missing.key", "ibm_instance": INSTANCE}, environ={}
        )
    empty = tmp_path / "empty.key"
    empty.write_text("\n")
    with pytest.raises(ValueError, match="is empty"):
        Settings.load({"ibm_token_file": empty, "ibm_instance": INSTANCE}, environ={})


def test_a_key_without_an_instance_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="IBMQ_GATEWAY_IBM_INSTANCE") as refused:
        Settings.load({}, environ={"IBMQ_GATEWAY_IBM_TOKEN": MARKER})
    assert MARKER not in str(refused.value)
