"""A real two-worker Dask cluster on 127.0.0.1 for the session, and jobs to run on it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest

from ibmq_gateway.server.core.model import Job, RunOptions
from ibmq_gateway.server.core.states import JobState
from ibmq_gateway.server.executors.dask.cluster import Cluster
from ibmq_gateway.server.executors.dask.executor import DaskExecutor
from tests.dask_cluster import local_cluster

if TYPE_CHECKING:
    from ibmq_gateway.server.core.model import QueueInfo


class RecordingReporter:
    """A ``RunReporter`` that remembers what it was told, in order."""

    def __init__(self) -> None:
        self.events: list[str] = []

    async def running(self) -> None:
        self.events.append("running")

    async def queued(self, info: QueueInfo) -> None:
        self.events.append("queued")

    async def sent(self, provider_job_id: str) -> None:
        self.events.append(f"sent {provider_job_id}")


def make_job(backend: str, job_id: str = "job-1", options: RunOptions | None = None) -> Job:
    """A job in the state the manager hands to an executor."""
    return Job(
        id=job_id,
        backend=backend,
        owner="alice",
        state=JobState.QUEUED,
        created=datetime.now(UTC),
        run_options=options or RunOptions(),
    )


async def no_change() -> None:
    """The ``changed`` hook of an executor that no manager follows."""


@pytest.fixture(scope="session")
def dask_address() -> Iterator[str]:
    """A LocalCluster: two worker processes of one thread each."""
    with local_cluster(workers=2) as address:
        yield address


@pytest.fixture
async def on_cluster(dask_address: str) -> AsyncIterator[DaskExecutor]:
    """A cluster executor connected to the session's cluster."""
    executor = DaskExecutor(Cluster(dask_address), fake_devices=("fake_manila",))
    await executor.start(no_change)
    assert executor.problem() is None
    try:
        yield executor
    finally:
        await executor.close()
