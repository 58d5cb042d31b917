"""The cluster executor when a worker process dies mid-job (real ``dask worker`` processes)."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator

import pytest
from distributed import Client

from ibmq_gateway.server.core.model import RunOptions
from ibmq_gateway.server.executors.dask.cluster import Cluster
from ibmq_gateway.server.executors.dask.executor import DaskExecutor
from ibmq_gateway.server.executors.local.executor import LocalExecutor
from tests.backends.conftest import RecordingReporter, make_job
from tests.dask_cluster import ClusterProcesses

from .conftest import no_change
from .test_dask_executor import outcomes, slow

WAIT_S = 60.0


@pytest.fixture
async def two_worker_processes() -> AsyncIterator[tuple[DaskExecutor, Client]]:
    """An executor on a scheduler and two workers of their own, and a client to watch."""
    with ClusterProcesses() as processes:
        processes.start_scheduler()
        processes.start_workers(2)
        executor = DaskExecutor(Cluster(processes.address), fake_devices=())
        await executor.start(no_change)
        watcher = await Client(processes.address, asynchronous=True, set_as_default=False)
        try:
            await asyncio.wait_for(watcher.wait_for_workers(2), WAIT_S)
            while executor.capacity("aer_simulator") != 2:  # its watch sees both too
                await asyncio.sleep(0.05)
            yield executor, watcher
        finally:
            await watcher.close()
            await executor.close()


async def busy_worker_pid(watcher: Client, job_id: str) -> int:
    """The process id of a worker running one of the job's chunks (waits for one)."""
    while True:
        processing = await watcher.processing()
        busy = [w for w, keys in processing.items() if any(job_id in str(k) for k in keys)]
        if busy:
            pids: dict[str, int] = await watcher.run(os.getpid, workers=busy[:1])
            return pids[busy[0]]
        await asyncio.sleep(0.02)


async def test_a_worker_killed_mid_job_has_its_chunks_run_again(
    two_worker_processes: tuple[DaskExecutor, Client],
) -> None:
    executor, watcher = two_worker_processes
    circuits = [slow(i) for i in range(8)]
    options = RunOptions(shots=3000, memory=True, seed_simulator=99)
    reporter = RecordingReporter()
    job = make_job("aer_simulator", "victim", options)
    running = asyncio.create_task(executor.run(job, circuits, reporter))

    pid = await asyncio.wait_for(busy_worker_pid(watcher, "victim"), WAIT_S)
    os.kill(pid, signal.SIGKILL)
    result = await asyncio.wait_for(running, WAIT_S)
    assert pid not in (await watcher.run(os.getpid)).values()  # it did die mid-job

    in_process = LocalExecutor(fake_devices=(), max_workers=1)
    try:
        expected = await in_process.run(
            make_job("aer_simulator", options=options), circuits, RecordingReporter()
        )
    finally:
        await in_process.close()
    assert outcomes(result) == outcomes(expected)
    assert reporter.events == ["running"]
