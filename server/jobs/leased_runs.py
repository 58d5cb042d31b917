"""The runs this replica holds leases on, when replicas share a store.

The scheduling replica offers each job that gets a slot; every replica claims offers
whenever one is announced and every quarter of the lease time, runs what it claimed, and
renews its leases as often. A replica that cannot renew for two thirds of the lease time
stops its runs, writing nothing, before the leases expire and another replica takes them
over; one that finds a lease taken from it stops that run. So no job runs on two replicas
at once, and a replica killed mid-run costs its jobs one lease time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

from ibmq_gateway.server.core.errors import DatabaseUnavailableError
from ibmq_gateway.server.store import RunLeases

log = logging.getLogger(__name__)

Run = Callable[[str], Awaitable[float | None]]
"""Runs a claimed job; returns the seconds before it may be tried again (it was refused),
or None once its run ended."""
Spawn = Callable[[Coroutine[Any, Any, Any]], "asyncio.Task[Any]"]

_RENEW_EVERY = 1 / 4
"""Of the lease time: renewals (and claims without a wake-up) come at least this often, so
two are at most half a lease time apart."""
_STOP_AFTER = 2 / 3
"""Of the lease time without a renewal: past it this replica's leases may be gone."""


def holder_name() -> str:
    """This process's name on its leases: host and pid for people, a nonce for uniqueness."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class LeasedRuns:
    """Claims offered runs, runs them under renewed leases, and stops those it loses."""

    def __init__(
        self,
        leases: RunLeases,
        seconds: float,
        run: Run,
        spawn: Spawn,
        backends: Callable[[], Sequence[str]],
    ) -> None:
        self._leases = leases
        self._seconds = seconds
        self._run = run
        self._spawn = spawn
        self._backends = backends
        self._held: dict[str, asyncio.Task[None]] = {}
        self._woken = asyncio.Event()
        self._renewed_at = time.monotonic()

    def holds(self, job_id: str) -> bool:
        """Whether this replica runs the job now."""
        return job_id in self._held

    def wake(self) -> None:
        """A run may have been offered or given back: claim soon."""
        self._woken.set()

    def stop(self, job_id: str) -> bool:
        """Stops the job's run here (it was cancelled); True if this replica ran it."""
        task = self._held.pop(job_id, None)
        if task is not None:
            task.cancel()
        return task is not None

    async def offer(self, job_id: str, backend: str) -> None:
        """Offers the job's run to every replica, this one included."""
        await self._leases.offer(job_id, backend)
        self.wake()

    async def offered(self) -> set[str]:
        """Ids of the jobs whose runs are offered or held, by any replica."""
        return await self._leases.offered()

    async def keep(self) -> None:
        """Renews and claims until cancelled."""
        loop = asyncio.get_running_loop()
        # On a clock of its own: a renewal that hangs must not delay the stop.
        watches = [
            loop.create_task(self._stop_runs_when_lapsing()),
            loop.create_task(self._wake_at_offers()),
        ]
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._woken.wait(), self._seconds * _RENEW_EVERY)
                self._woken.clear()
                try:
                    await self._renew()
                    await self._claim()
                except DatabaseUnavailableError as error:
                    log.debug("cannot keep run leases now: %s", error)
        finally:
            for watch in watches:
                watch.cancel()

    async def _wake_at_offers(self) -> None:
        # aclosing: a cancelled listener closes its connection now, not at garbage collection.
        async with contextlib.aclosing(self._leases.offers()) as offers:
            async for _ in offers:
                self.wake()

    async def _renew(self) -> None:
        """Renews the leases when due (a wake-up claims, no more)."""
        if not self._held:
            self._renewed_at = time.monotonic()
            return
        if time.monotonic() - self._renewed_at < self._seconds * _RENEW_EVERY:
            return
        asked_at = time.monotonic()
        kept = await self._leases.renew()
        self._renewed_at = asked_at
        for job_id in [job_id for job_id in self._held if job_id not in kept]:
            log.warning("job %s: its lease went to another replica; stopped its run here", job_id)
            self.stop(job_id)

    async def _claim(self) -> None:
        while (job_id := await self._leases.claim(self._backends())) is not None:
            if job_id not in self._held:  # else a lease of its own that had lapsed
                self._held[job_id] = self._spawn(self._run_held(job_id))

    async def _run_held(self, job_id: str) -> None:
        # Until the run says otherwise it is given back: stopped (cancelled, a lease lost,
        # the database gone, shutting down) it may be claimed again at once; failed, after
        # one lease time, so that a run that cannot succeed does not spin.
        again_in: float | None = 0.0
        try:
            again_in = await self._run(job_id)
        except Exception:
            again_in = self._seconds
            raise
        finally:
            if self._held.get(job_id) is asyncio.current_task():
                del self._held[job_id]
            # A lease lost meanwhile is another's: neither call touches it.
            with contextlib.suppress(DatabaseUnavailableError):
                if again_in is None:
                    await self._leases.release(job_id)
                else:
                    await self._leases.postpone(job_id, again_in)

    async def _stop_runs_when_lapsing(self) -> None:
        while True:
            await asyncio.sleep(max(self._lapses_at() - time.monotonic(), 0.0))
            if time.monotonic() < self._lapses_at():
                continue  # renewed meanwhile
            if self._held:
                log.warning(
                    "no lease renewed for %.0f s: stopped %d runs here; another replica "
                    "takes them over",
                    time.monotonic() - self._renewed_at,
                    len(self._held),
                )
            for job_id in list(self._held):
                self.stop(job_id)
            self._renewed_at = time.monotonic()  # nothing is held now, so nothing lapses

    def _lapses_at(self) -> float:
        """When this replica's oldest lease may be about to expire (a lease is renewed, or
        taken, no earlier than the renewal that started at ``_renewed_at``)."""
        return self._renewed_at + self._seconds * _STOP_AFTER
