"""``ibmq-gateway serve`` as a real process: health, reflection, signals, and kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from ibmq_gateway.v1 import job_pb2, job_service_pb2
from tests.conftest import TEST_TOKEN
from tests.helpers import connect, slow_job_circuit, submit, wait_final, watch
from tests.postgres import fresh_database
from tests.processes import Served
from tests.processes import free_port as _free_port


@pytest.fixture
def serve():
    """Starts ``serve`` processes; kills any still running when the test ends."""
    started: list[Served] = []

    def start(state_dir: Path, port: int, **env: str) -> Served:
        started.append(Served(state_dir, port, env=env))
        return started[-1]

    yield start
    for served in started:
        if served.process.poll() is None:
            served.process.kill()
            served.process.wait(timeout=30)


def test_serve_answers_health_and_reflection_and_stops_on_sigterm(serve, tmp_path):
    served = serve(tmp_path / "state", _free_port())
    channel = grpc.insecure_channel(served.address)
    # Health answers anyone (probes hold no token); reflection needs a token like the rest.
    check = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""))
    assert check.status == health_pb2.HealthCheckResponse.SERVING
    reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
    listing = [reflection_pb2.ServerReflectionRequest(list_services="")]
    with pytest.raises(grpc.RpcError) as refused:
        next(reflection.ServerReflectionInfo(iter(listing)))
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    bearer = [("authorization", f"Bearer {TEST_TOKEN}")]
    answer = next(reflection.ServerReflectionInfo(iter(listing), metadata=bearer))
    names = {service.name for service in answer.list_services_response.service}
    assert {
        "ibmq_gateway.v1.JobService",
        "ibmq_gateway.v1.BackendService",
        "grpc.health.v1.Health",
    } <= names
    channel.close()
    assert served.stop(signal.SIGTERM) == 0
    assert (tmp_path / "state" / "gateway.sqlite3").exists()


def test_sigint_stops_gracefully(serve, tmp_path):
    served = serve(tmp_path / "state", _free_port())
    assert served.stop(signal.SIGINT) == 0


@pytest.fixture(params=["sqlite", "postgresql"])
def store_environ(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """The environment of a gateway on each store: its state directory alone, or PostgreSQL."""
    if request.param == "sqlite":
        yield {}
        return
    with fresh_database() as url:
        yield {"IBMQ_GATEWAY_DATABASE": url}


def test_nothing_is_lost_when_the_process_is_killed(serve, tmp_path, store_environ):
    port = _free_port()
    state = tmp_path / "state"
    served = serve(state, port, **store_environ)
    stubs = connect(served.address)
    running = submit(stubs, "aer_simulator", slow_job_circuit(layers=30))
    for message in watch(stubs, running.job.id, running.resume_token):
        if message.event.job.state == job_pb2.JOB_STATE_RUNNING:
            break
    queued = [submit(stubs) for _ in range(3)]
    served.process.kill()
    served.process.wait(timeout=30)
    stubs.close()

    served = serve(state, port, **store_environ)
    stubs = connect(served.address)
    finals = [wait_final(stubs, r.job.id) for r in (running, *queued)]
    assert [job.state for job in finals] == [job_pb2.JOB_STATE_COMPLETED] * 4
    history = [
        job_pb2.JobState.Name(m.event.job.state).removeprefix("JOB_STATE_")
        for m in watch(stubs, running.job.id, running.resume_token)
    ]
    # The interrupted run went back to the queue and ran again (see README, "Restarts").
    assert history[-4:] == ["RUNNING", "QUEUED", "RUNNING", "COMPLETED"]
    result = stubs.jobs.GetJobResult(job_service_pb2.GetJobResultRequest(job_id=queued[0].job.id))
    assert set(result.result.results[0].counts) <= {"00", "11"}
    stubs.close()
    assert served.stop(signal.SIGTERM) == 0


@pytest.mark.parametrize("flag", [["--concurrency", "x"], ["--bogus"]])
def test_bad_flags_fail_with_a_message(flag):
    outcome = subprocess.run(
        [sys.executable, "-m", "ibmq_gateway.server.cli", "serve", *flag],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert outcome.returncode == 2 and "usage" in outcome.stderr.lower()


def test_bad_environment_fails_with_a_message(tmp_path):
    environ = {**os.environ, "IBMQ_GATEWAY_CONCURRENCY": "many"}
    outcome = subprocess.run(
        [sys.executable, "-m", "ibmq_gateway.server.cli", "serve", "--state-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        env=environ,
    )
    assert outcome.returncode == 2 and "many" in outcome.stderr


def test_the_demo_runs_a_bell_job_end_to_end(tmp_path):
    # The README's first command, with no token in the environment: the demo's gateway
    # makes its own admin and the demo uses that token.
    environ = {k: v for k, v in os.environ.items() if not k.startswith("IBMQ_GATEWAY_")}
    outcome = subprocess.run(
        [sys.executable, "-m", "ibmq_gateway.server.cli", "demo"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**environ, "IBMQ_GATEWAY_FAKE_DEVICES": ""},
        check=False,
    )
    assert outcome.returncode == 0, outcome.stdout + outcome.stderr
    lines = outcome.stdout.splitlines()
    assert any(line.endswith("DONE") for line in lines)
    counts = next(line for line in lines if line.startswith("counts:"))
    assert "'00'" in counts and "'11'" in counts and "'01'" not in counts
    # The story alone: the gateway's INFO lines (RPC log, start and stop) stay out.
    assert " INFO " not in outcome.stdout + outcome.stderr, outcome.stderr
    assert "submitted job" in outcome.stdout


def test_the_demo_shows_the_gateways_log_when_verbose(tmp_path):
    environ = {k: v for k, v in os.environ.items() if not k.startswith("IBMQ_GATEWAY_")}
    outcome = subprocess.run(
        [sys.executable, "-m", "ibmq_gateway.server.cli", "demo", "--verbose"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**environ, "IBMQ_GATEWAY_FAKE_DEVICES": ""},
        check=False,
    )
    assert outcome.returncode == 0, outcome.stdout + outcome.stderr
    assert "JobService/SubmitJob OK" in outcome.stderr
    assert any(line.startswith("counts:") for line in outcome.stdout.splitlines())


def test_a_second_gateway_on_a_busy_address_is_refused(serve, tmp_path):
    served = serve(tmp_path / "first", _free_port())
    outcome = subprocess.run(
        [
            sys.executable,
            "-m",
            "ibmq_gateway.server.cli",
            "serve",
            "--address",
            served.address,
            "--state-dir",
            str(tmp_path / "second"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert outcome.returncode != 0
    assert f"cannot listen on {served.address}" in outcome.stderr
    assert "Traceback" not in outcome.stderr
