"""Two replicas on one PostgreSQL database share the team's IBM submission limit.

The leading replica sends; the other counts every send it sees in the event log, so when it
takes over it does not send past the limit within the same minute.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from ibmq_gateway.server.ops.embedded import EmbeddedGateway
from ibmq_gateway.v1 import job_pb2
from tests.helpers import connect, wait_final
from tests.ibm.conftest import ibm_settings
from tests.ibm.helpers import (
    bell_for,
    cancel,
    get_job,
    sent,
    snapshot_when,
    state_name,
    submit_to_ibm,
    until,
)
from tests.postgres import fresh_database

if TYPE_CHECKING:
    from pathlib import Path

    from tests.ibm.fake import FakeIBM

pytestmark = pytest.mark.filterwarnings("ignore:The SamplerV2 class is deprecated")


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
