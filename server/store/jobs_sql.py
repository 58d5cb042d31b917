"""The jobs, events, results and requests tables of the SQLite store.

Everything here runs on the store's writer thread, inside or around its transactions.
Times are microseconds since the Unix epoch (UTC), so they sort and compare as instants.
"""

from __future__ import annotations

import json
import re
import sqlite3
import uuid
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ibmq_gateway.server.core.model import (
    CircuitSource,
    EventType,
    Job,
    JobEvent,
    RequestKey,
)
from ibmq_gateway.server.store import people_sql
from ibmq_gateway.server.store.base import DuplicateRequestError, StaleJobError
from ibmq_gateway.server.store.codec import decode_job, encode_job, from_micros, to_micros

if TYPE_CHECKING:
    from ibmq_gateway.server.core.model import JobQuery
    from ibmq_gateway.server.store.base import Change, PageCursor


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


def prepare(db: sqlite3.Connection) -> str:
    for pragma in _PRAGMAS:
        db.execute(pragma)
    db.create_function("regexp", 2, _regexp, deterministic=True)
    with transaction(db):
        for statement in (*_SCHEMA, *people_sql.SCHEMA):
            db.execute(statement)
        db.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES ('epoch', ?), ('pruned_through', 0)",
            (uuid.uuid4().hex,),
        )
        (epoch,) = db.execute("SELECT value FROM meta WHERE key = 'epoch'").fetchone()
    return str(epoch)


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[None]:
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


def insert_job(
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
    found = find_request(db, key.owner, key.request_id)
    if found is not None:
        raise DuplicateRequestError(*found)


def write_change(db: sqlite3.Connection, change: Change) -> JobEvent:
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
    return last_revision(db) + 1


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


def listing_sql(
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
        conditions.append(f"state IN ({marks(query.states)})")
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
    return [_HAS_TAG.format(marks(tags))]


def marks(values: Collection[object]) -> str:
    return ", ".join("?" * len(values))


def _regexp(pattern: str, text: str) -> bool:
    return re.search(pattern, text) is not None


def select_jobs(db: sqlite3.Connection, sql: str, params: Sequence[Any]) -> list[Job]:
    return [decode_job(snapshot) for (snapshot,) in db.execute(sql, params)]


def select_events(db: sqlite3.Connection, sql: str, params: Sequence[Any]) -> list[JobEvent]:
    return [
        JobEvent(job=decode_job(snapshot), type=EventType(type_), time=from_micros(time))
        for type_, time, snapshot in db.execute(sql, params)
    ]


def select_circuits(db: sqlite3.Connection, job_id: str) -> list[CircuitSource]:
    rows = db.execute(
        "SELECT format, payload FROM circuits WHERE job_id = ? ORDER BY idx", (job_id,)
    )
    return [CircuitSource(format=format_, payload=bytes(payload)) for format_, payload in rows]


def select_result(db: sqlite3.Connection, job_id: str) -> dict[str, Any] | None:
    row = db.execute("SELECT document FROM results WHERE job_id = ?", (job_id,)).fetchone()
    return json.loads(row[0]) if row is not None else None


def find_request(
    db: sqlite3.Connection, owner: str, request_id: str
) -> tuple[RequestKey, str] | None:
    row = db.execute(
        "SELECT fingerprint, job_id FROM requests WHERE owner = ? AND request_id = ?",
        (owner, request_id),
    ).fetchone()
    if row is None:
        return None
    return RequestKey(owner=owner, request_id=request_id, fingerprint=row[0]), row[1]


def last_revision(db: sqlite3.Connection) -> int:
    row = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
    return int(row[0]) if row is not None else 0


def pruned_through(db: sqlite3.Connection) -> int:
    (value,) = db.execute("SELECT value FROM meta WHERE key = 'pruned_through'").fetchone()
    return int(value)


def prune(db: sqlite3.Connection, cutoff: int) -> int:
    with transaction(db):
        (highest,) = db.execute(f"SELECT MAX(revision) {_PRUNABLE}", (cutoff,)).fetchone()
        if highest is None:
            return 0
        deleted = db.execute(f"DELETE {_PRUNABLE}", (cutoff,)).rowcount
        db.execute("UPDATE meta SET value = MAX(value, ?) WHERE key = 'pruned_through'", (highest,))
    return int(deleted)
