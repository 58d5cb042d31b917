"""The store of several replicas: one PostgreSQL database (psycopg 3, async, pooled).

Which replica runs the jobs, and how the others hear of commits: ``postgres_replicas``.

Reads share a pool of connections. Writes of this process commit in groups
(``write_groups``: many in one transaction when they arrive together), one group at a
time, and are handed to the commit hook in commit order, as the SQLite store's are; writes
of other replicas are ordered against them by the database (``postgres_sql``).

Size: one short method per operation of ``JobStore`` (the SQL lives in ``postgres_sql``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

import psycopg
import sqlalchemy.exc
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from ibmq_gateway.server.core.errors import DatabaseUnavailableError
from ibmq_gateway.server.store import (
    listing,
    postgres_people,
    postgres_replicas,
    postgres_sql,
    schema,
)
from ibmq_gateway.server.store.base import StoreError
from ibmq_gateway.server.store.codec import to_micros
from ibmq_gateway.server.store.listing import POSTGRES, listing_sql
from ibmq_gateway.server.store.locations import describe_postgres
from ibmq_gateway.server.store.postgres_leases import PostgresRunLeases
from ibmq_gateway.server.store.postgres_sql import Connection
from ibmq_gateway.server.store.write_groups import Failed, WriteGroups

if TYPE_CHECKING:
    from ibmq_gateway.server.core.model import (
        AuditEntry,
        CircuitSource,
        Job,
        JobEvent,
        JobQuery,
        RequestKey,
        User,
    )
    from ibmq_gateway.server.core.states import JobState
    from ibmq_gateway.server.store.base import Change, PageCursor

logger = logging.getLogger(__name__)

CommitHook = Callable[[list["JobEvent"]], None]
"""Called on the event loop with the events of each of this process's writes, in order."""
Write = Callable[[Connection], Awaitable[list["JobEvent"]]]
"""One write of a group commit: it returns the events it appended."""

CONNECT_TIMEOUT_S = 10.0
POOL_WAIT_S = 5.0
"""Longest a call waits for a connection: past it the database counts as unreachable."""

_P = ParamSpec("_P")
_T = TypeVar("_T")


class PostgresJobStore:
    """A ``JobStore`` in a PostgreSQL database; its methods are those ``JobStore`` documents."""

    def __init__(
        self,
        url: str,
        *,
        on_commit: CommitHook | None = None,
        pool_size: int = 8,
    ) -> None:
        """Prepares the store (``open`` connects) for a ``postgresql://`` URL."""
        self._url = url
        self._dispatch = postgres_replicas.DispatchLock(url)
        self._on_commit = on_commit
        self._pool_size = pool_size
        self._pool: AsyncConnectionPool[Connection] | None = None
        self._write_lock = asyncio.Lock()
        self._groups: WriteGroups[Write] = WriteGroups(self._commit_group)
        self._epoch: str | None = None

    @property
    def epoch(self) -> str:
        if self._epoch is None:
            raise StoreError("the store is not open")
        return self._epoch

    async def open(self) -> None:
        """Migrates the database to this gateway's schema, then connects the pool.

        Raises:
            StoreError: The store is open already, or the database cannot be reached
                (the message names it, without its password).
        """
        if self._pool is not None:
            raise StoreError("the store is open already")
        try:
            await asyncio.to_thread(schema.upgrade_postgres, self._url)
            pool = await self._connect()
        except (sqlalchemy.exc.OperationalError, psycopg.OperationalError, PoolTimeout) as error:
            place = describe_postgres(self._url)
            raise StoreError(f"cannot reach {place}: {_reason(error)}") from None
        try:
            async with pool.connection() as db:
                self._epoch = await postgres_sql.prepare(db)
        except BaseException:
            await pool.close()
            raise
        self._pool = pool

    async def close(self) -> None:
        await self._groups.drain()
        pool, self._pool = self._pool, None
        if pool is not None:
            async with self._write_lock:  # lets a write under way finish
                await pool.close()
        await self._dispatch.release()

    async def create_job(
        self,
        job: Job,
        circuits: Sequence[CircuitSource],
        key: RequestKey | None,
        *,
        active_limit: int | None = None,
        audit: AuditEntry | None = None,
        then: Sequence[Change] = (),
    ) -> list[JobEvent]:
        return await self._write(
            _created, job, tuple(circuits), key, active_limit, audit, tuple(then)
        )

    async def find_request(self, owner: str, request_id: str) -> tuple[RequestKey, str] | None:
        return await self._read(postgres_sql.find_request, owner, request_id)

    async def apply(self, changes: Sequence[Change]) -> list[JobEvent]:
        if not changes:
            return []
        return await self._write(postgres_sql.write_changes, tuple(changes))

    async def get_job(self, job_id: str) -> Job | None:
        sql = "SELECT snapshot FROM jobs WHERE id = %s"
        jobs = await self._read(postgres_sql.select_jobs, sql, [job_id])
        return jobs[0] if jobs else None

    async def get_circuits(self, job_id: str) -> list[CircuitSource]:
        return await self._read(postgres_sql.select_circuits, job_id)

    async def get_result(self, job_id: str) -> dict[str, Any] | None:
        return await self._read(postgres_sql.select_result, job_id)

    async def list_jobs(
        self,
        query: JobQuery,
        *,
        limit: int,
        ascending: bool = False,
        after: PageCursor | None = None,
        skip: int = 0,
    ) -> list[Job]:
        if limit <= 0:
            return []
        re.compile(query.name_pattern)
        sql, params = listing_sql(POSTGRES, query, ascending, after)
        return await self._read(postgres_sql.select_jobs, sql, [*params, limit, max(skip, 0)])

    async def jobs_in_states(self, states: frozenset[JobState]) -> list[Job]:
        if not states:
            return []
        values = sorted(state.value for state in states)
        marks = POSTGRES.sql(listing.marks(values))
        sql = f"SELECT snapshot FROM jobs WHERE state IN ({marks}) ORDER BY created, id"
        return await self._read(postgres_sql.select_jobs, sql, values)

    async def events_after(
        self, revision: int, *, job_id: str | None = None, limit: int = 500
    ) -> list[JobEvent]:
        where = "revision > %s" if job_id is None else "revision > %s AND job_id = %s"
        params: list[Any] = [revision] if job_id is None else [revision, job_id]
        sql = f"SELECT type, time, snapshot FROM events WHERE {where} ORDER BY revision LIMIT %s"
        return await self._read(postgres_sql.select_events, sql, [*params, limit])

    async def latest_event(self, job_id: str) -> JobEvent | None:
        sql = (
            "SELECT type, time, snapshot FROM events WHERE job_id = %s"
            " ORDER BY sequence DESC LIMIT 1"
        )
        events = await self._read(postgres_sql.select_events, sql, [job_id])
        return events[0] if events else None

    async def latest_revision(self) -> int:
        return await self._read(postgres_sql.last_revision)

    async def oldest_retained_revision(self) -> int:
        return await self._read(postgres_sql.pruned_through) + 1

    async def prune_events(self, before: datetime) -> int:
        async with self._write_lock, self._connection() as db, db.transaction():
            return await postgres_sql.prune(db, to_micros(before))

    async def add_user(self, user: User, token_hash: str) -> None:
        await self._read(postgres_people.add_user, user, token_hash)

    async def user_by_token(self, token_hash: str) -> User | None:
        return await self._read(postgres_people.user_by_token, token_hash)

    async def list_users(self) -> list[User]:
        return await self._read(postgres_people.list_users)

    async def revoke_user(self, name: str, at: datetime) -> bool:
        return await self._read(postgres_people.revoke_user, name, at)

    async def rotate_token(self, name: str, token_hash: str, expires: datetime | None) -> bool:
        return await self._read(postgres_people.rotate_token, name, token_hash, expires)

    async def record_use(self, name: str, at: datetime) -> None:
        await self._read(postgres_people.record_use, name, at)

    async def add_audit(self, entry: AuditEntry) -> None:
        await self._read(postgres_people.add_audit, entry)

    async def list_audit(self, *, limit: int, actor: str = "") -> list[AuditEntry]:
        return await self._read(postgres_people.list_audit, limit, actor)

    async def _connect(self) -> AsyncConnectionPool[Connection]:
        pool: AsyncConnectionPool[Connection] = AsyncConnectionPool(
            self._url,
            min_size=1,
            max_size=self._pool_size,
            kwargs={"autocommit": True, "application_name": postgres_replicas.application_name()},
            # A connection the database dropped (restart, pg_terminate_backend) is found
            # and replaced before a call gets it, so the store recovers by itself.
            check=AsyncConnectionPool.check_connection,
            timeout=POOL_WAIT_S,
            open=False,
        )
        try:
            await pool.open(wait=True, timeout=CONNECT_TIMEOUT_S)
        except BaseException:
            await pool.close()
            raise
        return pool

    async def _read(
        self,
        work: Callable[Concatenate[Connection, _P], Awaitable[_T]],
        *args: _P.args,
        **kwargs: _P.kwargs,
    ) -> _T:
        """One statement (or several that need no transaction) on a pooled connection."""
        async with self._connection() as db:
            return await work(db, *args, **kwargs)

    async def _write(
        self,
        work: Callable[Concatenate[Connection, _P], Awaitable[list[JobEvent]]],
        *args: _P.args,
        **kwargs: _P.kwargs,
    ) -> list[JobEvent]:
        async def write(db: Connection) -> list[JobEvent]:
            return await work(db, *args, **kwargs)

        events: list[JobEvent] = await self._groups.write(write)
        return events

    async def _commit_group(self, works: list[Write]) -> list[Any]:
        outcomes: list[Any] = []
        events: list[JobEvent] = []
        # This process's groups go one at a time, each handed to the hook once committed.
        async with self._write_lock:
            async with self._connection() as db, db.transaction():
                for work in works:
                    try:
                        async with db.transaction():  # a savepoint: undoes this write alone
                            written = await work(db)
                    except psycopg.OperationalError:
                        raise  # the connection is gone, and the group with it
                    except Exception as error:
                        outcomes.append(Failed(error))
                    else:
                        outcomes.append(written)
                        events.extend(written)
                if events:
                    await postgres_replicas.notify(db)
            if events:
                self._publish(events)
            # A hook hands events on with call_soon(_threadsafe); one turn of the loop lets
            # that run before the writes return, as it does with the SQLite store.
            await asyncio.sleep(0)
        return outcomes

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[Connection]:
        if self._pool is None:
            raise StoreError("the store is not open")
        try:
            async with self._pool.connection() as db:
                yield db
        except (psycopg.OperationalError, PoolTimeout) as error:
            raise self._unreachable(error) from None

    async def ping(self) -> None:
        """Raises ``DatabaseUnavailableError`` unless the database answers."""
        await self._read(postgres_sql.ping)

    @property
    def shared(self) -> bool:
        return True

    async def lead(self) -> bool:
        try:
            return await self._dispatch.hold()
        except psycopg.OperationalError as error:
            raise self._unreachable(error) from None

    def commits(self) -> AsyncGenerator[None, None]:
        return postgres_replicas.commits(self._url)

    def leases(self, holder: str, seconds: float) -> PostgresRunLeases:
        return PostgresRunLeases(self._url, self._connection, holder, seconds)

    def _unreachable(self, error: BaseException) -> DatabaseUnavailableError:
        return DatabaseUnavailableError(
            f"the database {describe_postgres(self._url)} cannot be reached: "
            f"{_reason(error)}; retry in a moment"
        )

    def _publish(self, events: list[JobEvent]) -> None:
        if self._on_commit is None:
            return
        try:
            self._on_commit(list(events))
        except Exception:
            logger.exception("on_commit failed for %d committed events", len(events))


async def _created(
    db: Connection,
    job: Job,
    circuits: Sequence[CircuitSource],
    key: RequestKey | None,
    active_limit: int | None,
    audit: AuditEntry | None,
    then: Sequence[Change],
) -> list[JobEvent]:
    event = await postgres_sql.insert_job(db, job, circuits, key, active_limit)
    if audit is not None:
        await postgres_people.add_audit(db, audit)
    return [event, *await postgres_sql.write_changes(db, then)]


def _reason(error: BaseException) -> str:
    """The driver's own first line, which says what failed (refused, no such database…)."""
    original = getattr(error, "orig", None) or error
    text = str(original).strip().splitlines()
    return text[0] if text else type(original).__name__
