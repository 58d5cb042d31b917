"""The gateway's one connection to a ``dask.distributed`` scheduler: kept up and watched.

An asynchronous ``distributed.Client`` lives on the gateway's event loop. A watch asks the
scheduler every ``watch_interval`` seconds how many worker threads it has: that count is
the local backends' capacity (0 while the scheduler is out of reach or has no workers, so
jobs wait QUEUED). A lost scheduler is dropped at once and reached again with back-off.
Every change of the count or of the problem is reported through ``changed`` under one lock:
whoever waits on ``settled`` then knows the gateway's slots follow the cluster's state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from distributed import Client

    from ibmq_gateway.server.executors.base import Changed

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 3.0
"""Seconds one attempt to reach the scheduler (or one question to it) may take."""
WATCH_S = 1.0
"""Seconds between two questions to the scheduler about its workers."""
RETRY_S = (0.5, 10.0)
"""First and longest pause between attempts to reach a lost scheduler."""


class Cluster:
    """A scheduler's address, the client connected to it (if any), and its thread count."""

    def __init__(
        self,
        address: str,
        *,
        connect_timeout: float = CONNECT_TIMEOUT_S,
        watch_interval: float = WATCH_S,
    ) -> None:
        self.address = address
        self._connect_timeout = connect_timeout
        self._watch_interval = watch_interval
        self._client: Client | None = None
        self._threads = 0
        self._problem: str | None = f"connecting to the simulator cluster at {address}"
        self._changed: Changed | None = None
        self._reporting = asyncio.Lock()
        self._watch: asyncio.Task[None] | None = None
        self._closing: set[asyncio.Task[None]] = set()

    @property
    def threads(self) -> int:
        """Worker threads of the cluster now (0 while it cannot be used)."""
        return self._threads

    @property
    def problem(self) -> str | None:
        """Why the cluster cannot run simulations now (None: it can)."""
        return self._problem

    @property
    def client(self) -> Client | None:
        """The connected client, None while the scheduler is out of reach."""
        return self._client

    async def start(self, changed: Changed) -> None:
        """Tries the scheduler once now, then keeps the connection up in the background."""
        self._changed = changed
        await self._connect()
        self._watch = asyncio.get_running_loop().create_task(self._keep_up())

    async def lost(self, client: Client, reason: str) -> None:
        """A run saw ``client`` lose the scheduler: drops it (once) and waits until settled."""
        await self._drop(client, reason)

    async def settled(self) -> None:
        """Returns once the latest change of state has been reported."""
        async with self._reporting:
            pass

    async def close(self) -> None:
        """Stops the watch and closes the client."""
        if self._watch is not None:
            self._watch.cancel()
            await asyncio.gather(self._watch, return_exceptions=True)
        client, self._client = self._client, None
        if client is not None:
            await _close(client, self._connect_timeout)
        await asyncio.gather(*self._closing, return_exceptions=True)

    async def _keep_up(self) -> None:
        delay = RETRY_S[0]
        while True:
            try:
                delay = await self._step(delay)
            except asyncio.CancelledError:
                if _being_cancelled():
                    raise
                # distributed cancels its own pending calls when a client closes.
            except Exception:
                log.exception("the watch of the simulator cluster failed; it goes on")

    async def _step(self, delay: float) -> float:
        """Reaches the scheduler, or asks it about its workers; returns the next pause."""
        if self._client is None:
            await asyncio.sleep(delay)
            return RETRY_S[0] if await self._connect() else min(delay * 2, RETRY_S[1])
        await asyncio.sleep(self._watch_interval)
        client = self._client  # a run may have dropped it meanwhile
        if client is not None:
            await self._check(client)
        return RETRY_S[0]

    async def _connect(self) -> bool:
        # Imported here: the [server] install has no Dask, and only this option needs it.
        from distributed import Client

        try:
            client = await asyncio.wait_for(
                Client(  # type: ignore[no-untyped-call]
                    self.address,
                    asynchronous=True,
                    timeout=self._connect_timeout,
                    set_as_default=False,
                ),
                self._connect_timeout * 2,
            )
        except (OSError, TimeoutError) as error:
            await self._report(
                0, f"the simulator cluster at {self.address} is unreachable: {error}"
            )
            return False
        self._client = client
        log.info("connected to the simulator cluster at %s", self.address)
        await self._check(client)
        return True

    async def _check(self, client: Client) -> None:
        """Asks the scheduler for its workers; drops the client if it cannot answer."""
        if client.status != "running":
            await self._drop(client, f"the client is {client.status}")
            return
        try:
            workers = await asyncio.wait_for(
                client.nthreads(),  # type: ignore[no-untyped-call]
                self._connect_timeout,
            )
        except (OSError, TimeoutError) as error:
            await self._drop(client, f"the scheduler did not answer: {error!r}")
            return
        threads = sum(workers.values())
        problem = None if threads else f"the simulator cluster at {self.address} has no workers"
        if client is self._client:
            await self._report(threads, problem)

    async def _drop(self, client: Client, reason: str) -> None:
        async with self._reporting:
            if client is not self._client:
                return  # dropped already
            self._client = None
            await self._report_locked(0, f"lost the simulator cluster at {self.address}: {reason}")
        # In the background: a client whose scheduler is gone can take its whole timeout.
        closing = asyncio.get_running_loop().create_task(_close(client, self._connect_timeout))
        self._closing.add(closing)
        closing.add_done_callback(self._closing.discard)

    async def _report(self, threads: int, problem: str | None) -> None:
        async with self._reporting:
            await self._report_locked(threads, problem)

    async def _report_locked(self, threads: int, problem: str | None) -> None:
        if (threads, problem) == (self._threads, self._problem):
            return
        self._threads, self._problem = threads, problem
        if problem is None:
            log.info("the simulator cluster at %s has %d worker thread(s)", self.address, threads)
        else:
            log.warning("%s; local-backend jobs wait queued", problem)
        if self._changed is not None:
            await self._changed()


def _being_cancelled() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def _close(client: Client, timeout: float) -> None:
    # Nothing is lost by not waiting longer: the client's futures are dropped already.
    with contextlib.suppress(Exception, asyncio.CancelledError):
        await asyncio.wait_for(client.close(timeout=timeout), timeout * 2)  # type: ignore[no-untyped-call]
