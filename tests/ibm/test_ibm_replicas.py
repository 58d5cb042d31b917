"""Two replicas on one PostgreSQL database with jobs at IBM.

They share the team's IBM submission limit: every replica counts every send its scheduler
did not take a turn for (another's, or one its leased run made), so one that takes over
does not send past the limit within the same minute. And a job at IBM is followed by the
replica holding its run's lease: killed, another takes the lease and re-attaches the job,
never sending it again.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import psycopg
import pytest

from ibmq_gateway.server.ops.embedded import EmbeddedGateway
from ibmq_gateway.v1 import job_pb2
from tests.helpers import connect, wait_final
from tests.ibm.conftest import ibm_settings
from tests.ibm.helpers import (
    bell_for,
    cancel,
    get_job,
    provider_id,
    sent,
    snapshot_when,
    state_name,
    submit_to_ibm,
    until,
)
from tests.postgres import fresh_database
from tests.processes import Served, free_port

if TYPE_CHECKING:
    from pathlib import Path

    from tests.ibm.fake import FakeIBM

pytestmark = pytest.mark.filterwarnings("ignore:The SamplerV2 class is deprecated")


LEASE_S = 2.0


def test_a_replica_killed_while_following_an_ibm_job_hands_it_on(
    fake_ibm: FakeIBM, tmp_path: Path
) -> None:
    fake_ibm.queue_seconds = 6.0  # at IBM long enough to kill its follower meanwhile
    settings = ibm_settings(tmp_path, fake_ibm)
    with fresh_database() as database:
        environ = {
            "IBMQ_GATEWAY_DATABASE": database,
            "IBMQ_GATEWAY_LEASE_TIME": str(LEASE_S),
            "IBMQ_GATEWAY_FAKE_DEVICES": "",
            "IBMQ_GATEWAY_IBM_TOKEN": fake_ibm.api_key,
            "IBMQ_GATEWAY_IBM_INSTANCE": str(settings.ibm_instance),
            "IBMQ_GATEWAY_IBM_URL": str(settings.ibm_url),
            **fake_ibm.environ(),
        }
        replicas: list[Served] = []
        try:
            for name in ("first", "second"):
                replicas.append(Served(tmp_path / name, free_port(), env=environ))
            stubs = [connect(replica.address) for replica in replicas]
            job_id = submit_to_ibm(stubs[0], bell_for(replicas[0].address), shots=300)
            sent_as = until(lambda: provider_id(stubs[0], job_id), "IBM's id is recorded")
            follower = until(lambda: _lease_holder(database, job_id), "a replica holds the run")
            killed = next(
                i for i, replica in enumerate(replicas) if replica.process.pid == follower
            )
            replicas[killed].kill()
            other = stubs[1 - killed]
            final = wait_final(other, job_id)
            assert state_name(final) == "COMPLETED"
            assert final.provider_job_id == sent_as  # re-attached, not sent again
            assert fake_ibm.count("POST /jobs") == 1
            assert _lease_holder(database, job_id) is None  # released by the one that ended it
            for each in stubs:
                each.close()
        finally:
            for replica in replicas:
                replica.kill()


def _lease_holder(database: str, job_id: str) -> int | None:
    """The pid of the process holding the job's run lease (its lease names carry it)."""
    with psycopg.connect(database, autocommit=True) as db:
        row = db.execute("SELECT holder FROM run_leases WHERE job_id = %s", (job_id,)).fetchone()
    return int(row[0].split(":")[1]) if row and row[0] else None


def _leading(gateway: EmbeddedGateway) -> bool:
    return gateway.gateway is not None and gateway.gateway.manager.leading


def test_a_replica_taking_over_keeps_the_minutes_limit(fake_ibm: FakeIBM, tmp_path: Path) -> None:
    with fresh_database() as database:
        replicas = [
            EmbeddedGateway(
                ibm_settings(
                    tmp_path / name, fake_ibm, database=database, ibm_submissions_per_minute=1
                )
            )
            for name in ("first", "second")
        ]
        first, second = replicas
        with first, second:
            assert _leading(first) and not _leading(second)
            stubs = connect(second.address)  # submitted on one replica, run by the other
            circuit = bell_for(second.address)
            sent_first = submit_to_ibm(stubs, circuit)
            snapshot_when(stubs, sent_first, sent)
            waiting = submit_to_ibm(stubs, circuit)
            first.stop()  # the lock goes with it: the second replica runs the jobs now
            until(lambda: _leading(second), "the second replica leads")
            # It re-attaches the sent job (not sending it again) and polls it to the end.
            assert state_name(wait_final(stubs, sent_first)) == "COMPLETED"
            now = datetime.now(UTC)
            until(
                lambda: get_job(stubs, waiting).queue_info.position == 1,
                "the waiting job has its place in the queue",
            )
            job = get_job(stubs, waiting)
            # Within the minute of the first send, the limit of one holds between the two.
            assert job.state == job_pb2.JOB_STATE_QUEUED and not job.provider_job_id
            assert fake_ibm.count("POST /jobs") == 1
            start = job.queue_info.estimated_start_time.ToDatetime(tzinfo=UTC)
            assert start >= now + timedelta(seconds=30)
            cancel(stubs, waiting)
            stubs.close()
