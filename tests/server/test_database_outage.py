"""A gateway on PostgreSQL while its database goes away and comes back.

The database is reached through a proxy the test cuts: every connection drops at once and
new ones are refused, as when the server restarts or its machine is gone.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import psycopg
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status
from psycopg.conninfo import conninfo_to_dict

from ibmq_gateway.server.ops.embedded import EmbeddedGateway
from ibmq_gateway.v1 import job_pb2, job_service_pb2
from tests.conftest import gateway_settings
from tests.helpers import Stubs, connect, slow_job_circuit, submit, wait_final, watch
from tests.postgres import SERVER, fresh_database
from tests.tcp_proxy import TcpProxy

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
PATIENCE_S = 30.0
PASSWORD = "db-password-5e0c-do-not-leak"


@pytest.fixture
def database() -> Iterator[str]:
    with fresh_database() as url:
        yield url


@pytest.fixture
def proxy(database: str) -> Iterator[TcpProxy]:
    parts = conninfo_to_dict(database)
    with TcpProxy((str(parts["host"]), int(str(parts["port"])))) as running:
        yield running


LEASE_S = 3.0
"""Short, so that an outage outlasts the gateway's leases within the test's patience."""


@pytest.fixture
def gateway(tmp_path: Path, database: str, proxy: TcpProxy) -> Iterator[EmbeddedGateway]:
    with _gateway(tmp_path, database, proxy, LEASE_S) as running:
        yield running


@pytest.fixture
def patient_gateway(tmp_path: Path, database: str, proxy: TcpProxy) -> Iterator[EmbeddedGateway]:
    """One whose leases outlast every outage of the test."""
    with _gateway(tmp_path, database, proxy, 300.0) as running:
        yield running


@contextlib.contextmanager
def _gateway(
    tmp_path: Path, database: str, proxy: TcpProxy, lease_time: float
) -> Iterator[EmbeddedGateway]:
    port = f":{conninfo_to_dict(database)['port']}/"
    assert port in database, database
    # The server trusts loopback, so any password passes: this one must show nowhere.
    url = database.replace(port, f":{proxy.port}/").replace("@", f":{PASSWORD}@", 1)
    settings = gateway_settings(tmp_path / "state", database=url, lease_time=lease_time)
    with EmbeddedGateway(settings) as running:
        yield running


def _health(stubs: Stubs) -> int:
    health = health_pb2_grpc.HealthStub(stubs.channel)
    answer: health_pb2.HealthCheckResponse = health.Check(
        health_pb2.HealthCheckRequest(), timeout=5
    )
    return int(answer.status)


def _eventually(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + PATIENCE_S
    while not condition():
        assert time.monotonic() < deadline, f"not within {PATIENCE_S:.0f} s: {what}"
        time.sleep(0.1)


def _retry_info(error: grpc.RpcError) -> error_details_pb2.RetryInfo | None:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    for detail in status.details if status else []:
        if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            info = error_details_pb2.RetryInfo()
            detail.Unpack(info)
            return info
    return None


def test_while_the_database_is_away_calls_fail_fast_and_health_says_so(
    gateway: EmbeddedGateway, proxy: TcpProxy, caplog: pytest.LogCaptureFixture
) -> None:
    stubs = connect(gateway.address)
    assert _health(stubs) == SERVING
    proxy.cut()
    _eventually(lambda: _health(stubs) == NOT_SERVING, "health says NOT_SERVING")
    started = time.monotonic()
    with pytest.raises(grpc.RpcError) as refused:
        submit(stubs)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "cannot be reached" in (refused.value.details() or "")
    assert ":" + str(proxy.port) in (refused.value.details() or "")  # names the database
    assert PASSWORD not in (refused.value.details() or "")
    retry = _retry_info(refused.value)
    assert retry is not None and retry.retry_delay.ToTimedelta().total_seconds() > 0
    assert time.monotonic() - started < 25  # answered, not held until the 30 s deadline

    proxy.restore()
    _eventually(lambda: _health(stubs) == SERVING, "health is SERVING again")
    job = wait_final(stubs, submit(stubs).job.id)
    assert job.state == job_pb2.JOB_STATE_COMPLETED
    stubs.close()
    assert "database" in caplog.text  # the outage was logged...
    assert PASSWORD not in caplog.text  # ...without the password


def test_a_job_running_when_the_database_went_away_runs_again_once_it_is_back(
    gateway: EmbeddedGateway, proxy: TcpProxy, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ibmq_gateway")
    stubs, submitted, stream, states = _running_slow_job(gateway)
    # Without the database the gateway cannot renew its lease on the run: before the lease
    # can go to another replica it stops the run, and runs the job again once it is back.
    proxy.cut()
    _eventually(lambda: _health(stubs) == NOT_SERVING, "health says NOT_SERVING")
    _eventually(lambda: "no lease renewed" in caplog.text, "the gateway stops its run")
    proxy.restore()
    states += _states_to_the_end(stream)
    assert states.count(job_pb2.JOB_STATE_COMPLETED) == 1
    request = job_service_pb2.GetJobResultRequest(job_id=submitted.job.id)
    assert stubs.jobs.GetJobResult(request, timeout=30).HasField("result")
    stubs.close()
    # Its run no longer waits for the lead (it is leased), so the lead may come back later.
    _eventually(lambda: "schedules the jobs now" in caplog.text, "the gateway leads again")
    assert states[-3:] == [
        job_pb2.JOB_STATE_QUEUED,
        job_pb2.JOB_STATE_RUNNING,
        job_pb2.JOB_STATE_COMPLETED,
    ]
    assert PASSWORD not in caplog.text


def test_a_run_outlives_an_outage_shorter_than_its_lease(
    patient_gateway: EmbeddedGateway, proxy: TcpProxy, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ibmq_gateway")
    stubs, _, stream, states = _running_slow_job(patient_gateway)
    # The lead is lost at once, the lease only after its time: the run goes on meanwhile,
    # and its end is written once the database is back.
    proxy.cut()
    _eventually(lambda: "stopped scheduling jobs" in caplog.text, "the gateway stands by")
    proxy.restore()
    states += _states_to_the_end(stream)
    stubs.close()
    assert states.count(job_pb2.JOB_STATE_RUNNING) == 1, states
    assert states[-2:] == [job_pb2.JOB_STATE_RUNNING, job_pb2.JOB_STATE_COMPLETED]
    assert "no lease renewed" not in caplog.text


def _running_slow_job(gateway: EmbeddedGateway) -> tuple[Stubs, Any, Any, list[int]]:
    """Submits a job that runs for a while and follows it until it runs: returns the
    stubs, the submission's answer, its stream and the states seen so far."""
    stubs = connect(gateway.address)
    submitted = submit(stubs, "aer_simulator", slow_job_circuit(layers=20))
    stream = watch(stubs, submitted.job.id, submitted.resume_token, timeout=120)
    return stubs, submitted, stream, _states_until_running(stream)


def _states_until_running(stream: Any) -> list[int]:
    states = []
    for message in stream:
        if message.HasField("event"):
            states.append(message.event.job.state)
            if message.event.job.state == job_pb2.JOB_STATE_RUNNING:
                return states
    raise AssertionError(f"the stream ended before RUNNING: {states}")


def _states_to_the_end(stream: Any) -> list[int]:
    return [message.event.job.state for message in stream if message.HasField("event")]


def _terminate_connections(database: str) -> int:
    """Ends every session on ``database`` from the server's side, as an operator can."""
    name = str(conninfo_to_dict(database)["dbname"])
    with psycopg.connect(SERVER, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
            (name,),
        ).fetchall()
    return len(rows)


def _gateway_lock_held(database: str) -> bool:
    with psycopg.connect(database, autocommit=True) as db:
        row = db.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        ).fetchone()
    return bool(row and row[0])


def test_connections_the_server_ends_are_replaced_and_the_gateway_lock_retaken(
    gateway: EmbeddedGateway, database: str
) -> None:
    stubs = connect(gateway.address)
    assert wait_final(stubs, submit(stubs).job.id).state == job_pb2.JOB_STATE_COMPLETED
    assert _gateway_lock_held(database)
    assert _terminate_connections(database) >= 2  # the pool's and the lock holder's

    # The next calls find fresh connections, not the dead ones.
    assert wait_final(stubs, submit(stubs).job.id).state == job_pb2.JOB_STATE_COMPLETED
    _eventually(lambda: _gateway_lock_held(database), "the gateway holds its lock again")
    assert _health(stubs) == SERVING
    stubs.close()
