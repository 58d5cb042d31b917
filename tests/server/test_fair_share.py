"""Fair share: the gateway's queue takes turns between users."""

from __future__ import annotations

from datetime import UTC, datetime

from ibmq_gateway.server.api.auth import new_token, token_digest
from ibmq_gateway.server.core.model import User
from ibmq_gateway.server.jobs.scheduler import Scheduler
from ibmq_gateway.server.ops.embedded import EmbeddedGateway
from ibmq_gateway.v1 import job_pb2, job_service_pb2
from tests.conftest import gateway_settings
from tests.helpers import connect, submit


def _order(scheduler: Scheduler) -> list[str]:
    positions = scheduler.positions("b")
    return sorted(positions, key=lambda job_id: positions[job_id].position or 0)


def test_one_users_many_jobs_take_turns_with_anothers_one() -> None:
    scheduler = Scheduler({"b": 1})
    for index in range(100):
        scheduler.enqueue("b", f"a{index}", "alice", order=index)
    scheduler.enqueue("b", "b0", "bob", order=1000)
    assert _order(scheduler)[:3] == ["a0", "b0", "a1"]


def test_running_jobs_count_against_their_owner() -> None:
    scheduler = Scheduler({"b": 1})
    scheduler.enqueue("b", "a0", "alice", order=0)
    assert scheduler.start_next("b") == ["a0"]
    scheduler.enqueue("b", "a1", "alice", order=1)
    scheduler.enqueue("b", "b0", "bob", order=2)
    assert _order(scheduler) == ["b0", "a1"]
    scheduler.finish("b", "a0")
    # With nothing running, both owners rank equal and the earlier submission goes first.
    assert _order(scheduler) == ["a1", "b0"]


def test_one_user_alone_is_first_come_first_served() -> None:
    scheduler = Scheduler({"b": 2})
    for index in (3, 1, 2):
        scheduler.enqueue("b", f"a{index}", "alice", order=index)
    assert scheduler.start_next("b") == ["a1", "a2"]
    assert _order(scheduler) == ["a3"]


def test_queue_positions_reflect_fair_share_over_grpc(tmp_path) -> None:
    settings = gateway_settings(tmp_path / "state", backend_concurrency={"aer_simulator": 0})
    with EmbeddedGateway(settings) as gateway:
        token = new_token()
        bob = User("bob", "h", "g", "p", datetime.now(UTC))
        assert gateway.gateway is not None
        gateway.call(gateway.gateway.store.add_user(bob, token_digest(token)))
        admin, other = connect(gateway.address), connect(gateway.address, token)
        many = [submit(admin) for _ in range(10)]
        single = submit(other)
        job = _queued(other, single.job.id)
        assert job.queue_info.position == 2
        assert job.scheduling_mode == job_pb2.SCHEDULING_MODE_FAIRSHARE
        assert _queued(admin, many[-1].job.id).queue_info.position == 11
        admin.close()
        other.close()


def _queued(stubs, job_id: str) -> job_pb2.Job:
    """The job once it is QUEUED with a position, followed on its stream."""
    request = job_service_pb2.WatchJobRequest(job_id=job_id)
    stream = stubs.jobs.WatchJob(request, timeout=30)
    for message in stream:
        job = message.event.job
        if job.state == job_pb2.JOB_STATE_QUEUED and job.queue_info.HasField("position"):
            fresh: job_pb2.Job = stubs.jobs.GetJob(job_service_pb2.GetJobRequest(job_id=job_id)).job
            stream.cancel()
            return fresh
    raise AssertionError(f"job {job_id} never queued")
