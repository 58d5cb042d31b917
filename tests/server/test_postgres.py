"""A gateway whose state is in PostgreSQL: jobs, streams and restarts as on SQLite, and the
commands an operator runs against the database."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from qiskit import QuantumCircuit

from ibmq_gateway.client import GatewayProvider
from ibmq_gateway.server.api.auth import ADMIN_TOKEN_FILE, ensure_admin, token_digest
from ibmq_gateway.server.ops.embedded import EmbeddedGateway
from ibmq_gateway.server.store import schema
from ibmq_gateway.server.store.postgres import PostgresJobStore
from ibmq_gateway.v1 import job_pb2
from tests.conftest import gateway_settings
from tests.helpers import connect, states_until_final, submit, watch
from tests.postgres import fresh_database


@pytest.fixture
def database() -> Iterator[str]:
    with fresh_database() as url:
        yield url


@pytest.fixture
def gateway(tmp_path: Path, database: str) -> Iterator[EmbeddedGateway]:
    with EmbeddedGateway(gateway_settings(tmp_path / "state", database=database)) as running:
        yield running


def test_a_qiskit_job_runs_through_a_gateway_on_postgresql(gateway: EmbeddedGateway) -> None:
    bell = QuantumCircuit(2)
    bell.h(0)
    bell.cx(0, 1)
    bell.measure_all()
    with GatewayProvider(gateway.address) as provider:
        job = provider.get_backend("aer_simulator").run(bell, shots=256, seed_simulator=7)
        counts = job.result().get_counts()
        assert provider.backend.retrieve_job(job.job_id()).status().name == "DONE"
    assert sum(counts.values()) == 256
    assert set(counts) <= {"00", "11"}


def test_a_stream_resumes_across_a_restart_on_postgresql(gateway: EmbeddedGateway) -> None:
    stubs = connect(gateway.address)
    submitted = submit(stubs)
    states = states_until_final(stubs, submitted.job.id, submitted.resume_token)
    stubs.close()
    assert states[-1] == "COMPLETED"
    gateway.restart()
    stubs = connect(gateway.address)
    # The creation token still works on the new process: the log is in the database.
    again = [
        message.event.job.state
        for message in watch(stubs, submitted.job.id, submitted.resume_token)
        if message.HasField("event")
    ]
    stubs.close()
    assert again[-1] == job_pb2.JOB_STATE_COMPLETED
    assert len(again) == len(states)


def _command(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "COLUMNS": "200", **env}
    return subprocess.run(
        [sys.executable, "-m", "ibmq_gateway.server.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=environ,
    )


def test_db_upgrade_brings_a_new_database_to_the_newest_revision(
    database: str, tmp_path: Path
) -> None:
    outcome = _command("db", "upgrade", "--database", database, "--state-dir", str(tmp_path))
    assert outcome.returncode == 0, outcome.stderr
    assert f"schema at revision {schema.head()}" in outcome.stdout
    with psycopg.connect(database) as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [
            (schema.head(),)
        ]
    # The administration commands reach the same database from the environment.
    empty = _command("users", "list", "--state-dir", str(tmp_path), IBMQ_GATEWAY_DATABASE=database)
    assert empty.returncode == 0, empty.stderr
    assert empty.stdout.count("\n") == 2, empty.stdout  # a heading only: no users yet


def test_serve_refuses_a_database_of_a_newer_gateway_in_one_line(
    database: str, tmp_path: Path
) -> None:
    assert _command("db", "upgrade", "--database", database).returncode == 0
    with psycopg.connect(database) as db:
        db.execute("UPDATE alembic_version SET version_num = '9999_newer'")
    outcome = _command(
        "serve", "--address", "127.0.0.1:0", "--state-dir", str(tmp_path), "--database", database
    )
    assert outcome.returncode == 1
    lines = outcome.stderr.strip().splitlines()
    assert len(lines) == 1, outcome.stderr
    assert "'9999_newer'" in lines[0] and "newer ibmq-gateway" in lines[0]


def test_serve_refuses_a_database_that_is_not_postgresql(tmp_path: Path) -> None:
    outcome = _command("serve", "--state-dir", str(tmp_path), "--database", "mysql://db/gw")
    assert outcome.returncode == 2
    assert "postgresql://" in outcome.stderr


def test_a_second_gateway_on_the_same_database_is_a_replica_of_the_first(
    gateway: EmbeddedGateway, database: str, tmp_path: Path
) -> None:
    settings = gateway_settings(tmp_path / "replica", database=database)
    with EmbeddedGateway(settings) as replica:
        assert gateway.gateway is not None and replica.gateway is not None
        assert gateway.gateway.manager.leading and not replica.gateway.manager.leading
        stubs = connect(replica.address)
        submitted = submit(stubs)  # stored by the replica, run by the leading gateway
        states = states_until_final(stubs, submitted.job.id, submitted.resume_token)
        stubs.close()
    # The token of the submission is past CREATING: the stream goes on from there.
    assert states == ["VALIDATING", "VALIDATED", "QUEUED", "RUNNING", "COMPLETED"]
    # Administration commands still work beside the serving gateway.
    listed = _command("users", "list", "--state-dir", str(tmp_path), "--database", database)
    assert listed.returncode == 0
    assert listed.stdout.splitlines()[-1].split()[0] == "admin"


async def test_replicas_starting_together_on_an_empty_database_make_one_admin(
    database: str, tmp_path: Path
) -> None:
    store = PostgresJobStore(database)
    await store.open()
    try:
        state_dirs = [tmp_path / name for name in ("first", "second")]
        for state_dir in state_dirs:
            state_dir.mkdir()
        # Both find no users, then both add the admin: one of them is second.
        await asyncio.gather(*(ensure_admin(store, state_dir, None) for state_dir in state_dirs))
        assert [user.name for user in await store.list_users()] == ["admin"]
        written = [d / ADMIN_TOKEN_FILE for d in state_dirs if (d / ADMIN_TOKEN_FILE).exists()]
        assert len(written) == 1
        token = written[0].read_text().strip()
        assert await store.user_by_token(token_digest(token)) is not None
    finally:
        await store.close()
