"""What replicas on one PostgreSQL database share besides rows: who schedules the jobs,
and a wake-up whenever any of them commits.

One replica at a time schedules jobs (admission, queue, slots, limits): the one holding the
database's dispatch lock, an advisory lock on a connection of its own. Killed, its
connection closes and the lock is free at once; a replica that lost the connection stops
scheduling before another can take over. Runs are leased to any replica
(``postgres_leases``); every replica serves the API and streams.

Each write transaction sends a notification on ``CHANNEL``; it carries nothing that
matters. A replica that hears one reads the event log from its last revision, so a lost or
coalesced notification costs latency, never an event.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncGenerator

import psycopg

from ibmq_gateway.server.store.postgres_sql import Connection

log = logging.getLogger(__name__)

CHANNEL = "ibmq_gateway_commits"
OFFERS = "ibmq_gateway_offers"
"""Where offers of runs are announced: apart, so that replicas claim only when one is."""
DISPATCH_LOCK = 0x6967_7773_6F6C  # any constant, the same in every replica
_RECONNECT_S = 1.0


def application_name() -> str:
    """How this process's connections show in pg_stat_activity (for operators and tests)."""
    return f"ibmq-gateway {os.getpid()}"


class DispatchLock:
    """The dispatch lock of a database, held on a connection of its own while it lives."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._holder: Connection | None = None

    async def hold(self) -> bool:
        """Whether this process holds the lock now, taking it if it is free.

        Raises:
            psycopg.OperationalError: the database cannot be reached.
        """
        if self._holder is not None and await self._alive(self._holder):
            return True
        self._holder = None
        holder = await psycopg.AsyncConnection.connect(
            self._url, autocommit=True, application_name=application_name()
        )
        cursor = await holder.execute("SELECT pg_try_advisory_lock(%s)", (DISPATCH_LOCK,))
        row = await cursor.fetchone()
        if row is None or not row[0]:
            await holder.close()
            return False
        self._holder = holder
        return True

    async def release(self) -> None:
        holder, self._holder = self._holder, None
        if holder is not None:
            await holder.close()  # and with it the lock

    @staticmethod
    async def _alive(holder: Connection) -> bool:
        try:
            await holder.execute("SELECT 1")
        except psycopg.OperationalError:
            await holder.close()
            return False
        return True


async def notify(db: Connection) -> None:
    """Tells every listening replica, at this transaction's commit, that the log grew."""
    await db.execute("SELECT pg_notify(%s, '')", (CHANNEL,))


async def commits(url: str, channel: str = CHANNEL) -> AsyncGenerator[None, None]:
    """Yields whenever some replica may have committed (or notified ``channel``);
    reconnects whenever it must.

    Also yields after each reconnect: what was committed while deaf is read then.
    """
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(
                url, autocommit=True, application_name=application_name()
            ) as listener:
                await listener.execute(f"LISTEN {channel}")
                yield
                async for _ in listener.notifies():
                    yield
        except psycopg.OperationalError as error:
            log.debug("listening for commits failed, again in %.0f s: %s", _RECONNECT_S, error)
        await asyncio.sleep(_RECONNECT_S)
