"""The default store: one SQLite database (WAL journal, durable commits).

One connection, used only from one worker thread (``sqlite_thread``), serialises every write
and keeps blocking I/O off the event loop. Reads of jobs, results and users go to a second
connection on a thread of its own: in WAL mode a reader sees every commit made before it
starts and never waits for the writer, so a GetJob or a token check no longer queues behind
commits and their syncs (``bench/parse_burst.py``: waits of up to 8 ms in a burst of
submissions). Reads of the event log stay with the writer, where a commit and the publishing
of its events are one step. An in-memory database has no second connection; everything goes
to the writer.

Job writes, audit entries and token uses commit in groups (``write_groups``): many in one
transaction when they arrive together. Revisions come from the AUTOINCREMENT key of
``events``, so a revision is never handed out twice, not even after pruning.

Size: one short method per operation of ``JobStore`` (the SQL lives in ``jobs_sql``).
"""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
from collections.abc import AsyncGenerator, Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec

from ibmq_gateway.server.core.model import (
    AuditEntry,
    CircuitSource,
    Job,
    JobEvent,
    RequestKey,
    User,
)
from ibmq_gateway.server.store import jobs_sql, listing, people_sql
from ibmq_gateway.server.store.base import RunLeases, StoreError
from ibmq_gateway.server.store.codec import to_micros
from ibmq_gateway.server.store.listing import SQLITE, listing_sql
from ibmq_gateway.server.store.sqlite_thread import ConnectionThread
from ibmq_gateway.server.store.write_groups import Failed, WriteGroups

if TYPE_CHECKING:
    from pathlib import Path

    from ibmq_gateway.server.core.model import JobQuery
    from ibmq_gateway.server.core.states import JobState
    from ibmq_gateway.server.store.base import Change, PageCursor

logger = logging.getLogger(__name__)

CommitHook = Callable[[list[JobEvent]], None]
"""Called on the store's worker thread with the events of each write, in commit order."""
Write = Callable[[sqlite3.Connection], tuple[Any, list[JobEvent]]]
"""One write of a group commit, run on the store's thread: its result and its events."""

_P = ParamSpec("_P")


class SqliteJobStore:
    """A ``JobStore`` in one SQLite file, or in memory for tests (path ``":memory:"``)."""

    def __init__(self, path: Path | str, *, on_commit: CommitHook | None = None) -> None:
        """Prepares the store; ``open`` connects.

        Args:
            path: The database file, or ``":memory:"``.
            on_commit: Called on the worker thread after each committed write, with its
                events, before the write returns. Keep it quick (hand the events to the event
                loop with ``call_soon_threadsafe``); its exceptions are logged, not raised.
        """
        self._path = str(path)
        self._on_commit = on_commit
        self._writer = ConnectionThread(self._path, "sqlite-store")
        self._reader = (
            self._writer
            if self._path == ":memory:"
            else ConnectionThread(self._path, "sqlite-reader")
        )
        self._epoch: str | None = None
        self._groups: WriteGroups[Write] = WriteGroups(self._commit_group)

    @property
    def epoch(self) -> str:
        """A random id made when the database was first created."""
        if self._epoch is None:
            raise StoreError("the store is not open")
        return self._epoch

    async def open(self) -> None:
        """Connects, creates the schema if needed, and reads the epoch.

        Raises:
            StoreError: The store is open already.
        """
        epoch = await self._writer.open(jobs_sql.prepare)
        try:
            if self._reader is not self._writer:
                await self._reader.open(jobs_sql.prepare_reader)
        except BaseException:
            await self._writer.close()
            raise
        self._epoch = epoch

    async def close(self) -> None:
        """Waits for calls under way, then closes the connection; later calls fail."""
        await self._groups.drain()
        await self._reader.close()
        await self._writer.close()

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
        """Stores a new job, its circuits, its CREATED event, its key and ``audit`` in one
        transaction, and writes the changes ``then`` after it; returns their events.

        Raises:
            DuplicateRequestError: ``key`` exists already; nothing is written.
            ActiveLimitError: the owner has ``active_limit`` active jobs; nothing is written.
        """
        sources, changes = tuple(circuits), tuple(then)

        def create(db: sqlite3.Connection) -> tuple[list[JobEvent], list[JobEvent]]:
            events = [jobs_sql.insert_job(db, job, sources, key, active_limit)]
            if audit is not None:
                people_sql.add_audit(db, audit)
            events += [jobs_sql.write_change(db, change) for change in changes]
            return events, events

        events: list[JobEvent] = await self._groups.write(create)
        return events

    async def find_request(self, owner: str, request_id: str) -> tuple[RequestKey, str] | None:
        """The stored key and job id for an earlier request, or None."""
        return await self._reader.run(jobs_sql.find_request, owner, request_id)

    async def apply(self, changes: Sequence[Change]) -> list[JobEvent]:
        """Writes the changes and one event each, in one transaction, in the given order.

        Raises:
            StaleJobError: A job's stored sequence differs; nothing is written.
            KeyError: A job does not exist; nothing is written.
        """
        if not changes:
            return []
        ordered = tuple(changes)

        def apply(db: sqlite3.Connection) -> tuple[list[JobEvent], list[JobEvent]]:
            events = [jobs_sql.write_change(db, change) for change in ordered]
            return events, events

        events: list[JobEvent] = await self._groups.write(apply)
        return events

    async def get_job(self, job_id: str) -> Job | None:
        """The job's latest snapshot, or None."""
        jobs = await self._reader.run(
            jobs_sql.select_jobs, "SELECT snapshot FROM jobs WHERE id = ?", [job_id]
        )
        return jobs[0] if jobs else None

    async def get_circuits(self, job_id: str) -> list[CircuitSource]:
        """The job's circuits in submission order (empty for an unknown job)."""
        return await self._reader.run(jobs_sql.select_circuits, job_id)

    async def get_result(self, job_id: str) -> dict[str, Any] | None:
        """The stored result document, or None."""
        return await self._reader.run(jobs_sql.select_result, job_id)

    async def list_jobs(
        self,
        query: JobQuery,
        *,
        limit: int,
        ascending: bool = False,
        after: PageCursor | None = None,
        skip: int = 0,
    ) -> list[Job]:
        """Jobs for which ``query.matches(job)``, ordered by (created, id).

        Raises:
            re.error: ``query.name_pattern`` is not a regular expression.
        """
        if limit <= 0:
            return []
        re.compile(query.name_pattern)
        sql, params = listing_sql(SQLITE, query, ascending, after)
        return await self._reader.run(jobs_sql.select_jobs, sql, [*params, limit, max(skip, 0)])

    async def jobs_in_states(self, states: frozenset[JobState]) -> list[Job]:
        """Every job in one of ``states``, oldest first."""
        if not states:
            return []
        values = sorted(state.value for state in states)
        marks = listing.marks(values)
        sql = f"SELECT snapshot FROM jobs WHERE state IN ({marks}) ORDER BY created, id"
        return await self._reader.run(jobs_sql.select_jobs, sql, values)

    async def events_after(
        self, revision: int, *, job_id: str | None = None, limit: int = 500
    ) -> list[JobEvent]:
        """Events with a revision above ``revision`` (of one job if given), oldest first."""
        where = "revision > ?" if job_id is None else "revision > ? AND job_id = ?"
        params: list[Any] = [revision] if job_id is None else [revision, job_id]
        sql = f"SELECT type, time, snapshot FROM events WHERE {where} ORDER BY revision LIMIT ?"
        return await self._writer.run(jobs_sql.select_events, sql, [*params, limit])

    async def latest_event(self, job_id: str) -> JobEvent | None:
        """The job's most recent event, or None."""
        sql = (
            "SELECT type, time, snapshot FROM events WHERE job_id = ?"
            " ORDER BY sequence DESC LIMIT 1"
        )
        events = await self._writer.run(jobs_sql.select_events, sql, [job_id])
        return events[0] if events else None

    async def ping(self) -> None:
        """A local file has no connection to lose."""

    @property
    def shared(self) -> bool:
        return False  # one gateway owns the file

    async def lead(self) -> bool:
        return True

    async def commits(self) -> AsyncGenerator[None, None]:
        """Never yields: no other process writes the file."""
        await asyncio.Event().wait()
        yield

    def leases(self, holder: str, seconds: float) -> RunLeases | None:
        return None  # one gateway runs every job of the file

    async def latest_revision(self) -> int:
        """The highest revision ever assigned (0 for an empty log)."""
        return await self._writer.run(jobs_sql.last_revision)

    async def oldest_retained_revision(self) -> int:
        """Events at or above this revision are still in the log (1 if nothing was pruned)."""
        return await self._writer.run(jobs_sql.pruned_through) + 1

    async def prune_events(self, before: datetime) -> int:
        """Deletes events older than ``before``, keeping every job's latest event.

        Returns:
            How many events were deleted.
        """
        return await self._writer.run(jobs_sql.prune, to_micros(before))

    async def add_user(self, user: User, token_hash: str) -> None:
        """Stores a user with the digest of their token.

        Raises:
            DuplicateUserError: The name is taken; nothing is written.
        """
        await self._writer.run(people_sql.add_user, user, token_hash)

    async def user_by_token(self, token_hash: str) -> User | None:
        """The user whose token has this digest, or None."""
        return await self._reader.run(people_sql.user_by_token, token_hash)

    async def list_users(self) -> list[User]:
        """Every user, by name."""
        return await self._reader.run(people_sql.list_users)

    async def revoke_user(self, name: str, at: datetime) -> bool:
        """Stops a user's token from working; False if no such active user."""
        return await self._writer.run(people_sql.revoke_user, name, at)

    async def rotate_token(self, name: str, token_hash: str, expires: datetime | None) -> bool:
        """Replaces an active user's token digest and expiry; False if no such active user."""
        return await self._writer.run(people_sql.rotate_token, name, token_hash, expires)

    async def record_use(self, name: str, at: datetime) -> None:
        """Notes when the user's token last authenticated a call."""
        await self._groups.write(_no_events(people_sql.record_use, name, at))

    async def add_audit(self, entry: AuditEntry) -> None:
        """Records an action."""
        await self._groups.write(_no_events(people_sql.add_audit, entry))

    async def list_audit(self, *, limit: int, actor: str = "") -> list[AuditEntry]:
        """The most recent actions (of ``actor`` if given), newest first."""
        return await self._reader.run(people_sql.list_audit, limit, actor)

    async def _commit_group(self, works: list[Write]) -> list[Any]:
        return await self._writer.run(self._commit_on_thread, works)

    # Runs on the writer's thread.

    def _commit_on_thread(self, db: sqlite3.Connection, works: list[Write]) -> list[Any]:
        outcomes: list[Any] = []
        events: list[JobEvent] = []
        with jobs_sql.transaction(db):
            for work in works:
                db.execute("SAVEPOINT one_write")
                try:
                    result, written = work(db)
                except Exception as error:
                    db.execute("ROLLBACK TO one_write")
                    outcomes.append(Failed(error))
                else:
                    outcomes.append(result)
                    events.extend(written)
                db.execute("RELEASE one_write")
        if events:
            self._publish(events)
        return outcomes

    def _publish(self, events: list[JobEvent]) -> None:
        if self._on_commit is None:
            return
        try:
            self._on_commit(list(events))
        except Exception:
            logger.exception("on_commit failed for %d committed events", len(events))


def _no_events(
    work: Callable[Concatenate[sqlite3.Connection, _P], None],
    *args: _P.args,
    **kwargs: _P.kwargs,
) -> Callable[[sqlite3.Connection], tuple[None, list[JobEvent]]]:
    """``work`` as a write of the group commit that appends no event."""

    def write(db: sqlite3.Connection) -> tuple[None, list[JobEvent]]:
        work(db, *args, **kwargs)
        return None, []

    return write
