"""Share levels over gRPC: every level x every kind of caller x every operation.

The owner (alice, hub h / group g / project p) submits a job at each level. A caller who
may not see a job gets NOT_FOUND, exactly as for a job that does not exist; one who sees
it but does not own it gets PERMISSION_DENIED when changing it. The backend has no free
slot, so jobs stay QUEUED and every operation has something to act on.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest

from ibmq_gateway.server.api.auth import new_token, token_digest
from ibmq_gateway.server.core.model import User
from ibmq_gateway.server.ops.embedded import EmbeddedGateway
from ibmq_gateway.v1 import job_pb2, job_service_pb2
from tests.conftest import TEST_TOKEN, gateway_settings
from tests.helpers import Stubs, connect, submit

LEVELS = ("none", "project", "group", "hub", "global")
PLACES = {
    "owner": ("alice", "h", "g", "p"),
    "same project": ("bob", "h", "g", "p"),
    "same group": ("carol", "h", "g", "q"),
    "same hub": ("dan", "h", "x", "q"),
    "other hub": ("eve", "z", "g", "p"),
}
SEES = {
    "none": set(),
    "project": {"same project"},
    "group": {"same project", "same group"},
    "hub": {"same project", "same group", "same hub"},
    "global": {"same project", "same group", "same hub", "other hub"},
}
CALLERS = (*PLACES, "admin")


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Stubs]]:
    """A stalled gateway and stubs for each caller (admin is the bootstrap admin)."""
    state = Path(tmp_path_factory.mktemp("share")) / "state"
    settings = gateway_settings(state, backend_concurrency={"aer_simulator": 0})
    with EmbeddedGateway(settings) as gateway:
        stubs = {"admin": connect(gateway.address, TEST_TOKEN)}
        for caller, (name, hub, group, project) in PLACES.items():
            token = new_token()
            user = User(name, hub, group, project, datetime.now(UTC))
            assert gateway.gateway is not None
            gateway.call(gateway.gateway.store.add_user(user, token_digest(token)))
            stubs[caller] = connect(gateway.address, token)
        yield stubs
        for connection in stubs.values():
            connection.close()


def _code(call) -> grpc.StatusCode:
    try:
        call()
    except grpc.RpcError as error:
        return error.code()
    return grpc.StatusCode.OK


def _operations(stubs: Stubs, job_id: str) -> dict[str, grpc.StatusCode]:
    jobs = stubs.jobs
    request = job_service_pb2
    return {
        "get": _code(lambda: jobs.GetJob(request.GetJobRequest(job_id=job_id))),
        "watch": _code(lambda: next(iter(jobs.WatchJob(request.WatchJobRequest(job_id=job_id))))),
        "result": _code(lambda: jobs.GetJobResult(request.GetJobResultRequest(job_id=job_id))),
        "update": _code(
            lambda: jobs.UpdateJob(request.UpdateJobRequest(job_id=job_id, name="renamed"))
        ),
        "cancel": _code(lambda: jobs.CancelJob(request.CancelJobRequest(job_id=job_id))),
    }


def _listed(stubs: Stubs, job_id: str) -> bool:
    found = stubs.jobs.ListJobs(job_service_pb2.ListJobsRequest(page_size=500)).jobs
    return job_id in {job.id for job in found}


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("caller", CALLERS)
def test_share_level_matrix(team: dict[str, Stubs], level: str, caller: str) -> None:
    share_level = job_pb2.ShareLevel.Value(f"SHARE_LEVEL_{level.upper()}")
    job = submit(team["owner"], share_level=share_level).job
    assert job.owner == "alice"
    sees = caller in ("owner", "admin") or caller in SEES[level]
    changes = caller in ("owner", "admin")
    assert _listed(team[caller], job.id) == sees
    outcome = _operations(team[caller], job.id)
    hidden = grpc.StatusCode.NOT_FOUND
    assert outcome["get"] == (grpc.StatusCode.OK if sees else hidden)
    assert outcome["watch"] == (grpc.StatusCode.OK if sees else hidden)
    # The job waits QUEUED: whoever sees it learns its result is not ready yet.
    assert outcome["result"] == (grpc.StatusCode.FAILED_PRECONDITION if sees else hidden)
    denied = grpc.StatusCode.PERMISSION_DENIED
    expected_change = grpc.StatusCode.OK if changes else (denied if sees else hidden)
    assert outcome["update"] == expected_change
    assert outcome["cancel"] == expected_change


def test_watch_jobs_shows_each_caller_only_what_they_may_see(team: dict[str, Stubs]) -> None:
    start = team["other hub"].jobs.ListJobs(job_service_pb2.ListJobsRequest()).resume_token
    hub_job = submit(team["owner"], share_level=job_pb2.SHARE_LEVEL_HUB).job
    public = submit(team["owner"], share_level=job_pb2.SHARE_LEVEL_GLOBAL).job
    request = job_service_pb2.WatchJobsRequest(resume_token=start)
    stream = team["other hub"].jobs.WatchJobs(request, timeout=30)
    seen = set()
    for message in stream:
        if message.HasField("event"):
            seen.add(message.event.job_id)
        if public.id in seen:
            break
    stream.cancel()
    assert public.id in seen and hub_job.id not in seen


def test_share_level_is_reported_as_submitted(team: dict[str, Stubs]) -> None:
    job = submit(team["owner"], share_level=job_pb2.SHARE_LEVEL_GROUP).job
    fetched = team["same group"].jobs.GetJob(job_service_pb2.GetJobRequest(job_id=job.id)).job
    assert fetched.share_level == job_pb2.SHARE_LEVEL_GROUP
