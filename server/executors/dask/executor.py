"""The cluster executor: local backends simulated by the workers of a Dask cluster.

It offers the same backends as the in-process executor (Aer's ideal simulator and the fake
devices) and runs the same Aer call on the workers (``work.simulate_chunk``). A job's
circuits are split into chunks (``chunks``), each a Dask task, which run in parallel on the
cluster's worker threads and merge back in circuit order.

Dask futures are used directly rather than Aer's ``AerSimulator(executor=client)``: Aer
would build the noisy simulator here and pickle it to the workers, where the gateway sends
only QPY and the backend's name; and Aer's split would not give each chunk the seed that
keeps results equal to one in-process run.

Faults: a worker that dies mid-task has its tasks re-run elsewhere by Dask's scheduler
(``distributed.scheduler.allowed-failures``, then the chunk fails with ``KilledWorker``).
A scheduler lost mid-run drops the run's futures: the job goes back to the gateway's queue
(``RetryLater``) and runs again, whole, once a scheduler is back; the cluster's capacity is
0 meanwhile, so nothing else starts. Cancel releases the job's futures: tasks not started
never run, and a running task's result is dropped (Dask cannot stop a running thread).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import logging
import time
import uuid
from typing import TYPE_CHECKING, Any, ClassVar

from ibmq_gateway.server.executors.base import (
    BackendInfo,
    BackendStatus,
    ExecutionError,
    Executor,
    RetryLater,
)
from ibmq_gateway.server.executors.dask.chunks import chunk_options, encode, merge, split
from ibmq_gateway.server.executors.dask.cluster import Cluster
from ibmq_gateway.server.executors.dask.work import simulate_chunk
from ibmq_gateway.server.executors.local.catalog import (
    DEFAULT_FAKE_DEVICES,
    aer_backend_info,
    fake_backend_info,
    fake_properties,
    load_fake_devices,
)
from ibmq_gateway.server.executors.local.executor import EXECUTION_FAILED

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from distributed import Client, Future
    from qiskit import QuantumCircuit
    from qiskit.result import Result

    from ibmq_gateway.server.core.model import Job
    from ibmq_gateway.server.executors.base import Changed, RunReporter

log = logging.getLogger(__name__)

CANCEL_TIMEOUT_S = 5.0


@dataclasses.dataclass
class _Run:
    """One job's futures on the cluster, as far as cancelling them goes."""

    client: Client
    futures: list[Future[Any]] = dataclasses.field(default_factory=list)
    cancelled: bool = False


class DaskExecutor(Executor):
    """Runs Aer and fake-device jobs as Dask tasks on a ``dask.distributed`` cluster."""

    upstream: ClassVar[str | None] = "simulator"
    waits_out_problems: ClassVar[bool] = True

    def __init__(
        self, cluster: Cluster, fake_devices: Sequence[str] = DEFAULT_FAKE_DEVICES
    ) -> None:
        """Builds the backend catalogue; nothing is connected before ``start``.

        Args:
            cluster: The scheduler to send simulations to.
            fake_devices: Names of the IBM fake devices to offer, e.g. ``"fake_manila"``.

        Raises:
            ValueError: a name is not a fake device of qiskit-ibm-runtime.
        """
        self._cluster = cluster
        self._devices = load_fake_devices(fake_devices)
        infos = [aer_backend_info(), *map(fake_backend_info, self._devices.values())]
        self._backends = {info.name: info for info in infos}
        self._properties: dict[str, dict[str, Any]] = {}
        self._runs: dict[str, _Run] = {}

    @classmethod
    def connecting_to(
        cls, address: str, fake_devices: Sequence[str] = DEFAULT_FAKE_DEVICES
    ) -> DaskExecutor:
        """An executor for the scheduler at ``address`` (``tcp://host:8786``)."""
        return cls(Cluster(address), fake_devices)

    async def start(self, changed: Changed) -> None:
        """Reaches the scheduler (or keeps trying in the background)."""
        await self._cluster.start(changed)

    def problem(self) -> str | None:
        return self._cluster.problem

    def status(self, backend: str) -> BackendStatus | None:
        problem = self._cluster.problem
        return None if problem is None else BackendStatus(False, f"unavailable: {problem}")

    def capacity(self, backend: str) -> int | None:
        """The cluster's worker threads: each backend may keep them all busy."""
        return self._cluster.threads

    def backends(self) -> list[BackendInfo]:
        return list(self._backends.values())

    def properties(self, backend: str, as_of: datetime | None = None) -> dict[str, Any] | None:
        device = self._devices.get(backend)
        if device is None:
            return None
        if backend not in self._properties:
            self._properties[backend] = fake_properties(device)
        return self._properties[backend]

    async def run(self, job: Job, circuits: list[QuantumCircuit], reporter: RunReporter) -> Result:
        """Simulates the job's circuits as chunks on the cluster, in parallel.

        Raises:
            ExecutionError: some chunks or circuits failed; ``partial`` holds the rest.
            RetryLater: the scheduler is out of reach; the job waits in the queue again.
            asyncio.CancelledError: the job was cancelled; its futures are released.
        """
        info = self._backends.get(job.backend)
        if info is None:
            message = f"No local backend named {job.backend!r}."
            raise ExecutionError(EXECUTION_FAILED, "EXECUTION_FAILED", message)
        client = await self._connected()
        chunks = split(len(circuits), self._cluster.threads)
        payloads = await asyncio.to_thread(encode, circuits, chunks)
        run = self._runs[job.id] = _Run(client)
        try:
            token = uuid.uuid4().hex[:8]
            run.futures = [
                client.submit(
                    simulate_chunk,
                    info.name,
                    payload,
                    chunk_options(job.run_options, chunk),
                    info.default_shots,
                    key=f"simulate-{job.id}-{token}-{index}",
                )
                for index, (chunk, payload) in enumerate(zip(chunks, payloads, strict=True))
            ]
            await reporter.running()
            outcomes = await asyncio.gather(*map(_outcome, run.futures))
        except asyncio.CancelledError:
            await self._release(run)
            raise
        finally:
            if self._runs.get(job.id) is run:
                del self._runs[job.id]
        if run.cancelled:
            raise asyncio.CancelledError
        await self._raise_if_lost(client, outcomes)
        return await asyncio.to_thread(merge, circuits, chunks, outcomes)

    async def cancel(self, job: Job) -> None:
        """Releases the job's futures: waiting chunks never run, running ones go unheard."""
        run = self._runs.get(job.id)
        if run is not None:
            await self._release(run)

    async def close(self) -> None:
        """Releases every run's futures and closes the connection."""
        for run in list(self._runs.values()):
            await self._release(run)
        await self._cluster.close()

    async def _connected(self) -> Client:
        client = self._cluster.client
        if client is None:
            # Started just as the cluster went away: once the slots show it, back in line.
            await self._cluster.settled()
            raise RetryLater(time.monotonic(), self._cluster.problem or "no simulator cluster")
        return client

    async def _raise_if_lost(self, client: Client, outcomes: list[Any]) -> None:
        """A chunk dropped by the client (not failed) means the scheduler was lost."""
        if any(isinstance(outcome, concurrent.futures.CancelledError) for outcome in outcomes):
            await self._cluster.lost(client, "a run's tasks were dropped")
            raise RetryLater(time.monotonic(), self._cluster.problem or "simulator cluster lost")

    async def _release(self, run: _Run) -> None:
        if run.cancelled:
            return
        run.cancelled = True
        try:
            await asyncio.wait_for(
                run.client.cancel(run.futures, force=True),  # type: ignore[no-untyped-call]
                CANCEL_TIMEOUT_S,
            )
        except Exception as error:  # the scheduler is gone: so are the tasks
            log.info("could not cancel a run's tasks: %r", error)


async def _outcome(future: Future[Any]) -> dict[str, Any] | BaseException:
    """The chunk's result, or why it has none (an error, a dead worker, a lost scheduler)."""
    try:
        outcome: dict[str, Any] = await future
    except Exception as error:
        return error
    return outcome
