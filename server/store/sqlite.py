"""The default store: one SQLite database (WAL journal, durable commits).

One connection, used only from one worker thread, serialises every read and write and keeps
blocking I/O off the event loop. Revisions come from the AUTOINCREMENT key of ``events``, so
a revision is never handed out twice, not even after pruning.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sqlite3
import uuid
from collections.abc import Callable, Collection, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

from ibmq_gateway.server.model import (
    AuditEntry,
    CircuitSource,
    EventType,
    Job,
    JobEvent,
    RequestKey,
    User,
)
from ibmq_gateway.server.store import people_sql
from ibmq_gateway.server.store.base import DuplicateRequestError, StaleJobError, StoreError
from ibmq_gateway.server.store.codec import decode_job, encode_job, from_micros, to_micros

if TYPE_CHECKING:
    from pathlib import Path

    from ibmq_gateway.server.model import JobQuery
    from ibmq_gateway.server.states import JobState
    from ibmq_gateway.server.store.base import Change, PageCursor

logger = logging.getLogger(__name__)

CommitHook = Callable[[list[JobEvent]], None]
"""Called on the store's worker thread with the events of each write, in commit order."""

_P = ParamSpec("_P")
_T = TypeVar("_T")

_PRAGMAS = (
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = FULL",
    "PRAGMA foreign_keys = ON",
    "PRAGMA busy_timeout = 5000",
)

# Times are microseconds since the Unix epoch (UTC), so they sort and compare as instants.
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value NOT NULL)",
    """CREATE TABLE IF NOT EXISTS jobs (
        id TEXT PRIMARY KEY, owner TEXT NOT NULL, backend TEXT NOT NULL,
        state TEXT NOT NULL, created INTEGER NOT NULL, name TEXT NOT NULL,
        experiment_id TEXT NOT NULL, tags TEXT NOT NULL, sequence INTEGER NOT NULL,
        revision INTEGER NOT NULL, snapshot TEXT NOT NULL,
        share_level TEXT NOT NULL, owner_hub TEXT NOT NULL, owner_grp TEXT NOT NULL,
        owner_project TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS jobs_by_created ON jobs (created, id)",
    "CREATE INDEX IF NOT EXISTS jobs_by_owner ON jobs (owner, created, id)",
    "CREATE INDEX IF NOT EXISTS jobs_by_backend ON jobs (backend, created, id)",
    "CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state, created, id)",
    """CREATE TABLE IF NOT EXISTS circuits (
        job_id TEXT NOT NULL REFERENCES jobs (id), idx INTEGER NOT NULL,
        format TEXT NOT NULL, payload BLOB NOT NULL, PRIMARY KEY (job_id, idx))""",
    """CREATE TABLE IF NOT EXISTS events (
        revision INTEGER PRIMARY KEY AUTOINCREMENT, job_id TEXT NOT NULL REFERENCES jobs (id),
        sequence INTEGER NOT NULL, type TEXT NOT NULL, time INTEGER NOT NULL,
        snapshot TEXT NOT NULL, UNIQUE (job_id, sequence))""",
    "CREATE INDEX IF NOT EXISTS events_by_time ON events (time)",
    """CREATE TABLE IF NOT EXISTS results (
        job_id TEXT PRIMARY KEY REFERENCES jobs (id), document TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS requests (
        owner TEXT NOT NULL, request_id TEXT NOT NULL, fingerprint TEXT NOT NULL,
        job_id TEXT NOT NULL REFERENCES jobs (id), PRIMARY KEY (owner, request_id))""",
)

_JOB_FIELDS = (
    "id, owner, backend, state, created, name, experiment_id, tags, sequence, revision, snapshot"
)
# Who may see a job never changes after it is made, so only the insert writes these.
_VISIBILITY_FIELDS = "share_level, owner_hub, owner_grp, owner_project"
_INSERT_JOB = (
    f"INSERT INTO jobs ({_JOB_FIELDS}, {_VISIBILITY_FIELDS}) VALUES ({', '.join('?' * 15)})"
)
# The SQL form of User.can_see for a user who is not an admin.
_VISIBLE = (
    "(owner = ? OR share_level = 'global' OR (share_level = 'hub' AND owner_hub = ?)"
    " OR (share_level = 'group' AND owner_hub = ? AND owner_grp = ?)"
    " OR (share_level = 'project' AND owner_hub = ? AND owner_grp = ? AND owner_project = ?))"
)
_UPDATE_JOB = (
    "UPDATE jobs SET owner = ?2, backend = ?3, state = ?4, created = ?5, name = ?6,"
    " experiment_id = ?7, tags = ?8, sequence = ?9, revision = ?10, snapshot = ?11 WHERE id = ?1"
)
_HAS_TAG = "EXISTS (SELECT 1 FROM json_each(jobs.tags) WHERE value IN ({}))"
# An event is prunable unless it is its job's latest, whose revision the job row carries.
_PRUNABLE = "FROM events WHERE time < ? AND revision NOT IN (SELECT revision FROM jobs)"


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
        self._executor: ThreadPoolExecutor | None = None
        self._db: sqlite3.Connection | None = None
        self._epoch: str | None = None

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
        if self._executor is not None:
            raise StoreError("the store is open already")
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-store")
        try:
            loop = asyncio.get_running_loop()
            self._epoch = await loop.run_in_executor(self._executor, self._connect)
        except BaseException:
            self._executor.shutdown()
            self._executor = None
            raise

    async def close(self) -> None:
        """Waits for calls under way, then closes the connection; later calls fail."""
        executor, self._executor = self._executor, None
        if executor is None:
            return
        await asyncio.get_running_loop().run_in_executor(executor, self._disconnect)
        executor.shutdown()

    async def create_job(
        self, job: Job, circuits: Sequence[CircuitSource], key: RequestKey | None
    ) -> JobEvent:
        """Stores a new job, its circuits, its CREATED event and its key in one transaction.

        Raises:
            DuplicateRequestError: ``key`` exists already; nothing is written.
        """
        return await self._run(self._create_job, job, tuple(circuits), key)

    async def find_request(self, owner: str, request_id: str) -> tuple[RequestKey, str] | None:
        """The stored key and job id for an earlier request, or None."""
        return await self._run(_find_request, owner, request_id)

    async def apply(self, changes: Sequence[Change]) -> list[JobEvent]:
        """Writes the changes and one event each, in one transaction, in the given order.

        Raises:
            StaleJobError: A job's stored sequence differs; nothing is written.
            KeyError: A job does not exist; nothing is written.
        """
        if not changes:
            return []
        return await self._run(self._apply, tuple(changes))

    async def get_job(self, job_id: str) -> Job | None:
        """The job's latest snapshot, or None."""
        jobs = await self._run(_select_jobs, "SELECT snapshot FROM jobs WHERE id = ?", [job_id])
        return jobs[0] if jobs else None

    async def get_circuits(self, job_id: str) -> list[CircuitSource]:
        """The job's circuits in submission order (empty for an unknown job)."""
        return await self._run(_select_circuits, job_id)

    async def get_result(self, job_id: str) -> dict[str, Any] | None:
        """The stored result document, or None."""
        return await self._run(_select_result, job_id)

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
        sql, params = _listing_sql(query, ascending, after)
        return await self._run(_select_jobs, sql, [*params, limit, max(skip, 0)])

    async def jobs_in_states(self, states: frozenset[JobState]) -> list[Job]:
        """Every job in one of ``states``, oldest first."""
        if not states:
            return []
        values = sorted(state.value for state in states)
        sql = f"SELECT snapshot FROM jobs WHERE state IN ({_marks(values)}) ORDER BY created, id"
        return await self._run(_select_jobs, sql, values)

    async def events_after(
        self, revision: int, *, job_id: str | None = None, limit: int = 500
    ) -> list[JobEvent]:
        """Events with a revision above ``revision`` (of one job if given), oldest first."""
        where = "revision > ?" if job_id is None else "revision > ? AND job_id = ?"
        params: list[Any] = [revision] if job_id is None else [revision, job_id]
        sql = f"SELECT type, time, snapshot FROM events WHERE {where} ORDER BY revision LIMIT ?"
        return await self._run(_select_events, sql, [*params, limit])

    async def latest_event(self, job_id: str) -> JobEvent | None:
        """The job's most recent event, or None."""
        sql = (
            "SELECT type, time, snapshot FROM events WHERE job_id = ?"
            " ORDER BY sequence DESC LIMIT 1"
        )
        events = await self._run(_select_events, sql, [job_id])
        return events[0] if events else None

    async def latest_revision(self) -> int:
        """The highest revision ever assigned (0 for an empty log)."""
        return await self._run(_last_revision)

    async def oldest_retained_revision(self) -> int:
        """Events at or above this revision are still in the log (1 if nothing was pruned)."""
        return await self._run(_pruned_through) + 1

    async def prune_events(self, before: datetime) -> int:
        """Deletes events older than ``before``, keeping every job's latest event.

        Returns:
            How many events were deleted.
        """
        return await self._run(_prune, to_micros(before))

    async def add_user(self, user: User, token_hash: str) -> None:
        """Stores a user with the digest of their token.

        Raises:
            DuplicateUserError: The name is taken; nothing is written.
        """
        await self._run(people_sql.add_user, user, token_hash)

    async def user_by_token(self, token_hash: str) -> User | None:
        """The user whose token has this digest, or None."""
        return await self._run(people_sql.user_by_token, token_hash)

    async def list_users(self) -> list[User]:
        """Every user, by name."""
        return await self._run(people_sql.list_users)

    async def revoke_user(self, name: str, at: datetime) -> bool:
        """Stops a user's token from working; False if no such active user."""
        return await self._run(people_sql.revoke_user, name, at)

    async def add_audit(self, entry: AuditEntry) -> None:
        """Records an action."""
        await self._run(people_sql.add_audit, entry)

    async def list_audit(self, *, limit: int, actor: str = "") -> list[AuditEntry]:
        """The most recent actions (of ``actor`` if given), newest first."""
        return await self._run(people_sql.list_audit, limit, actor)

    async def _run(
        self,
        work: Callable[Concatenate[sqlite3.Connection, _P], _T],
        *args: _P.args,
        **kwargs: _P.kwargs,
    ) -> _T:
        if self._executor is None:
            raise StoreError("the store is not open")
        call = partial(self._with_connection, work, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    # Everything below runs on the worker thread.

    def _with_connection(
        self,
        work: Callable[Concatenate[sqlite3.Connection, _P], _T],
        *args: _P.args,
        **kwargs: _P.kwargs,
    ) -> _T:
        if self._db is None:
            raise StoreError("the store is closed")
        return work(self._db, *args, **kwargs)

    def _connect(self) -> str:
        db = sqlite3.connect(self._path, isolation_level=None)
        try:
            epoch = _prepare(db)
        except BaseException:
            db.close()
            raise
        self._db = db
        return epoch

    def _disconnect(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def _create_job(
        self,
        db: sqlite3.Connection,
        job: Job,
        circuits: Sequence[CircuitSource],
        key: RequestKey | None,
    ) -> JobEvent:
        with _transaction(db):
            event = _insert_job(db, job, circuits, key)
        self._publish([event])
        return event

    def _apply(self, db: sqlite3.Connection, changes: Sequence[Change]) -> list[JobEvent]:
        with _transaction(db):
            events = [_write_change(db, change) for change in changes]
        self._publish(events)
        return events

    def _publish(self, events: list[JobEvent]) -> None:
        if self._on_commit is None:
            return
        try:
            self._on_commit(list(events))
        except Exception:
            logger.exception("on_commit failed for %d committed events", len(events))


def _prepare(db: sqlite3.Connection) -> str:
    for pragma in _PRAGMAS:
        db.execute(pragma)
    db.create_function("regexp", 2, _regexp, deterministic=True)
    with _transaction(db):
        for statement in (*_SCHEMA, *people_sql.SCHEMA):
            db.execute(statement)
        db.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES ('epoch', ?), ('pruned_through', 0)",
            (uuid.uuid4().hex,),
        )
        (epoch,) = db.execute("SELECT value FROM meta WHERE key = 'epoch'").fetchone()
    return str(epoch)


@contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    # IMMEDIATE takes the write lock up front, so the sequence checks and the revisions
    # read inside the transaction cannot be overtaken by another writer.
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


def _insert_job(
    db: sqlite3.Connection, job: Job, circuits: Sequence[CircuitSource], key: RequestKey | None
) -> JobEvent:
    if key is not None:
        _refuse_duplicate(db, key)
    stored = replace(job, sequence=1, revision=_next_revision(db))
    visibility = (stored.share_level, stored.owner_hub, stored.owner_group, stored.owner_project)
    db.execute(_INSERT_JOB, (*_job_row(stored), *visibility))
    db.executemany(
        "INSERT INTO circuits (job_id, idx, format, payload) VALUES (?, ?, ?, ?)",
        [(job.id, idx, circuit.format, circuit.payload) for idx, circuit in enumerate(circuits)],
    )
    event = _append_event(db, stored, EventType.CREATED)
    if key is not None:
        db.execute(
            "INSERT INTO requests (owner, request_id, fingerprint, job_id) VALUES (?, ?, ?, ?)",
            (key.owner, key.request_id, key.fingerprint, job.id),
        )
    return event


def _refuse_duplicate(db: sqlite3.Connection, key: RequestKey) -> None:
    found = _find_request(db, key.owner, key.request_id)
    if found is not None:
        raise DuplicateRequestError(*found)


def _write_change(db: sqlite3.Connection, change: Change) -> JobEvent:
    job = change.job
    row = db.execute("SELECT sequence FROM jobs WHERE id = ?", (job.id,)).fetchone()
    if row is None:
        raise KeyError(job.id)
    if row[0] != job.sequence:
        raise StaleJobError(f"job {job.id} is at sequence {row[0]}, not {job.sequence}")
    stored = replace(job, sequence=job.sequence + 1, revision=_next_revision(db))
    event = _append_event(db, stored, change.type)
    db.execute(_UPDATE_JOB, _job_row(stored))
    if change.result is not None:
        db.execute(
            "INSERT OR REPLACE INTO results (job_id, document) VALUES (?, ?)",
            (job.id, json.dumps(change.result)),
        )
    return event


def _next_revision(db: sqlite3.Connection) -> int:
    # Read inside the write transaction; the insert that uses it moves sqlite_sequence on.
    return _last_revision(db) + 1


def _append_event(db: sqlite3.Connection, job: Job, type_: EventType) -> JobEvent:
    event = JobEvent(job=job, type=type_, time=datetime.now(UTC))
    db.execute(
        "INSERT INTO events (revision, job_id, sequence, type, time, snapshot)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (job.revision, job.id, job.sequence, type_.value, to_micros(event.time), encode_job(job)),
    )
    return event


def _job_row(job: Job) -> tuple[Any, ...]:
    return (
        job.id,
        job.owner,
        job.backend,
        job.state.value,
        to_micros(job.created),
        job.name,
        job.experiment_id,
        json.dumps(list(job.tags)),
        job.sequence,
        job.revision,
        encode_job(job),
    )


def _listing_sql(
    query: JobQuery, ascending: bool, after: PageCursor | None
) -> tuple[str, list[Any]]:
    conditions, params = _query_conditions(query)
    if after is not None:
        conditions.append(f"(created, id) {'>' if ascending else '<'} (?, ?)")
        params += [to_micros(after.created), after.job_id]
    where = " AND ".join(conditions) or "1"
    order = "ASC" if ascending else "DESC"
    sql = f"SELECT snapshot FROM jobs WHERE {where} ORDER BY created {order}, id {order}"
    return f"{sql} LIMIT ? OFFSET ?", params


def _query_conditions(query: JobQuery) -> tuple[list[str], list[Any]]:
    """SQL conditions that hold exactly when ``query.matches`` would."""
    conditions: list[str] = []
    params: list[Any] = []
    for condition, value in (
        ("backend = ?", query.backend),
        ("owner = ?", query.owner),
        ("experiment_id = ?", query.experiment_id),
        ("name REGEXP ?", query.name_pattern),
    ):
        if value:
            conditions.append(condition)
            params.append(value)
    if query.states:
        conditions.append(f"state IN ({_marks(query.states)})")
        params += sorted(state.value for state in query.states)
    if query.created_after is not None:
        conditions.append("created >= ?")
        params.append(to_micros(query.created_after))
    if query.created_before is not None:
        conditions.append("created <= ?")
        params.append(to_micros(query.created_before))
    if query.tags:
        conditions += _tag_conditions(query.tags, query.tags_all)
        params += query.tags
    viewer = query.viewer
    if viewer is not None and not viewer.admin:
        conditions.append(_VISIBLE)
        params += [viewer.name, viewer.hub, viewer.hub, viewer.group]
        params += [viewer.hub, viewer.group, viewer.project]
    return conditions, params


def _tag_conditions(tags: tuple[str, ...], every: bool) -> list[str]:
    if every:
        return [_HAS_TAG.format("?")] * len(tags)
    return [_HAS_TAG.format(_marks(tags))]


def _marks(values: Collection[object]) -> str:
    return ", ".join("?" * len(values))


def _regexp(pattern: str, text: str) -> bool:
    return re.search(pattern, text) is not None


def _select_jobs(db: sqlite3.Connection, sql: str, params: Sequence[Any]) -> list[Job]:
    return [decode_job(snapshot) for (snapshot,) in db.execute(sql, params)]


def _select_events(db: sqlite3.Connection, sql: str, params: Sequence[Any]) -> list[JobEvent]:
    return [
        JobEvent(job=decode_job(snapshot), type=EventType(type_), time=from_micros(time))
        for type_, time, snapshot in db.execute(sql, params)
    ]


def _select_circuits(db: sqlite3.Connection, job_id: str) -> list[CircuitSource]:
    rows = db.execute(
        "SELECT format, payload FROM circuits WHERE job_id = ? ORDER BY idx", (job_id,)
    )
    return [CircuitSource(format=format_, payload=bytes(payload)) for format_, payload in rows]


def _select_result(db: sqlite3.Connection, job_id: str) -> dict[str, Any] | None:
    row = db.execute("SELECT document FROM results WHERE job_id = ?", (job_id,)).fetchone()
    return json.loads(row[0]) if row is not None else None


def _find_request(
    db: sqlite3.Connection, owner: str, request_id: str
) -> tuple[RequestKey, str] | None:
    row = db.execute(
        "SELECT fingerprint, job_id FROM requests WHERE owner = ? AND request_id = ?",
        (owner, request_id),
    ).fetchone()
    if row is None:
        return None
    return RequestKey(owner=owner, request_id=request_id, fingerprint=row[0]), row[1]


def _last_revision(db: sqlite3.Connection) -> int:
    row = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
    return int(row[0]) if row is not None else 0


def _pruned_through(db: sqlite3.Connection) -> int:
    (value,) = db.execute("SELECT value FROM meta WHERE key = 'pruned_through'").fetchone()
    return int(value)


def _prune(db: sqlite3.Connection, cutoff: int) -> int:
    with _transaction(db):
        (highest,) = db.execute(f"SELECT MAX(revision) {_PRUNABLE}", (cutoff,)).fetchone()
        if highest is None:
            return 0
        deleted = db.execute(f"DELETE {_PRUNABLE}", (cutoff,)).rowcount
        db.execute("UPDATE meta SET value = MAX(value, ?) WHERE key = 'pruned_through'", (highest,))
    return int(deleted)
