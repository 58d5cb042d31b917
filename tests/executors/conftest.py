"""A real two-worker Dask cluster on 127.0.0.1 for the session (jobs and reporters for it:
``tests.backends.conftest``, as for the in-process executor)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from ibmq_gateway.server.executors.dask.cluster import Cluster
from ibmq_gateway.server.executors.dask.executor import DaskExecutor
from tests.dask_cluster import local_cluster


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
