"""The event log as replicas on one database see it: read in revision order, from the last
revision delivered, whenever anyone may have committed.

On a shared store (PostgreSQL) a replica's streams, metrics and job manager learn of every
commit, its own and the others', from here and only from here: one reader in revision order
is what keeps "no gap, no duplicate" true across writers. Revisions are handed out under a
row lock held to commit, so a commit never lands below one already read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from ibmq_gateway.server.core.errors import DatabaseUnavailableError
from ibmq_gateway.server.core.model import JobEvent
from ibmq_gateway.server.store import JobStore

log = logging.getLogger(__name__)

_PAGE = 500
_IDLE_READ_S = 1.0
"""Read even without a wake-up this often: a notification may be lost with its connection."""

Deliver = Callable[[list[JobEvent]], None]


class LogFollower:
    """Delivers every event after ``revision`` once, in revision order, to ``deliver``."""

    def __init__(self, store: JobStore, deliver: Deliver, revision: int) -> None:
        self._store = store
        self._deliver = deliver
        self._revision = revision
        self._woken = asyncio.Event()

    def wake(self) -> None:
        """Something was committed (here, or a replica's notification came): read soon."""
        self._woken.set()

    async def run(self) -> None:
        """Follows the log until cancelled."""
        listening = asyncio.create_task(self._listen())
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._woken.wait(), _IDLE_READ_S)
                self._woken.clear()
                await self._read_new()
        finally:
            listening.cancel()
            await asyncio.gather(listening, return_exceptions=True)

    async def _listen(self) -> None:
        # aclosing: a cancelled listener closes its connection now, not at garbage collection.
        async with contextlib.aclosing(self._store.commits()) as commits:
            async for _ in commits:
                self.wake()

    async def _read_new(self) -> None:
        try:
            while events := await self._store.events_after(self._revision, limit=_PAGE):
                self._revision = events[-1].revision
                self._deliver(events)
                if len(events) < _PAGE:
                    return
        except DatabaseUnavailableError as error:
            log.debug("cannot read the event log now: %s", error)
