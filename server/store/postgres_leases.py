"""Leases on runs in PostgreSQL: offered by the scheduling replica, claimed by any.

A claim takes the oldest free row with ``FOR UPDATE SKIP LOCKED``: replicas claiming at
once each get a different run, and none waits on another's claim. Every time is the
database's clock, so replicas whose clocks differ still agree on when a lease expires.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Sequence
from contextlib import AbstractAsyncContextManager

from ibmq_gateway.server.store import postgres_replicas
from ibmq_gateway.server.store.postgres_sql import Connection

_NOW = "(extract(epoch FROM clock_timestamp()) * 1000000)::bigint"
# Offers and give-backs announce themselves in the same statement: one round trip, and
# the notification goes at its commit, only if a row changed.
_ANNOUNCE = "SELECT pg_notify(%(channel)s, '') FROM changed"
_OFFER = (
    "WITH changed AS (INSERT INTO run_leases (job_id, backend, offered)"
    f" VALUES (%(job_id)s, %(backend)s, {_NOW}) ON CONFLICT (job_id) DO NOTHING"
    f" RETURNING job_id) {_ANNOUNCE}"
)
_CLAIM = (
    f"UPDATE run_leases SET holder = %(holder)s, expires = {_NOW} + %(lease)s"
    " WHERE job_id = ("
    "   SELECT job_id FROM run_leases WHERE backend = ANY(%(backends)s)"
    f"   AND (holder IS NULL AND offered <= {_NOW} OR expires < {_NOW})"
    "   ORDER BY offered, job_id LIMIT 1 FOR UPDATE SKIP LOCKED"
    ") RETURNING job_id"
)
_RENEW = f"UPDATE run_leases SET expires = {_NOW} + %s WHERE holder = %s RETURNING job_id"
_POSTPONE = (
    "WITH changed AS (UPDATE run_leases"
    f" SET holder = NULL, expires = NULL, offered = {_NOW} + %(delay)s"
    f" WHERE job_id = %(job_id)s AND holder = %(holder)s RETURNING job_id) {_ANNOUNCE}"
)
_RELEASE = "DELETE FROM run_leases WHERE job_id = %s AND holder = %s"

Connect = Callable[[], AbstractAsyncContextManager[Connection]]
"""A pooled connection whose failures say the database is unavailable (the store's)."""


class PostgresRunLeases:
    """The ``RunLeases`` of one replica in a PostgreSQL store."""

    def __init__(self, url: str, connect: Connect, holder: str, seconds: float) -> None:
        self._url = url
        self._connect = connect
        self._holder = holder
        self._micros = round(seconds * 1e6)

    async def offer(self, job_id: str, backend: str) -> None:
        parameters = {"job_id": job_id, "backend": backend, "channel": postgres_replicas.OFFERS}
        async with self._connect() as db:
            await db.execute(_OFFER, parameters)

    async def claim(self, backends: Sequence[str]) -> str | None:
        parameters = {"holder": self._holder, "lease": self._micros, "backends": list(backends)}
        async with self._connect() as db:
            row = await (await db.execute(_CLAIM, parameters)).fetchone()
        return None if row is None else str(row[0])

    async def renew(self) -> set[str]:
        async with self._connect() as db:
            rows = await (await db.execute(_RENEW, (self._micros, self._holder))).fetchall()
        return {str(job_id) for (job_id,) in rows}

    async def postpone(self, job_id: str, seconds: float) -> None:
        parameters = {
            "delay": round(seconds * 1e6),
            "job_id": job_id,
            "holder": self._holder,
            "channel": postgres_replicas.OFFERS,
        }
        async with self._connect() as db:
            await db.execute(_POSTPONE, parameters)

    async def release(self, job_id: str) -> None:
        async with self._connect() as db:
            await db.execute(_RELEASE, (job_id, self._holder))

    def offers(self) -> AsyncGenerator[None, None]:
        return postgres_replicas.commits(self._url, postgres_replicas.OFFERS)

    async def offered(self) -> set[str]:
        async with self._connect() as db:
            rows = await (await db.execute("SELECT job_id FROM run_leases")).fetchall()
        return {str(job_id) for (job_id,) in rows}
