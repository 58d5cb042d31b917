"""The jobs, events, results and requests tables of the SQLite store.

Everything here runs on the store's writer thread, inside or around its transactions.
Times are microseconds since the Unix epoch (UTC), so they sort and compare as instants.
"""

from __future__ import annotations

import json
import re
import sqlite3
import uuid
from collections.abc import Iterator, Sequence
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
from ibmq_gateway.server.store import schema
from ibmq_gateway.server.store.base import (
    ActiveLimitError,
    DuplicateRequestError,
    StaleJobError,
)
from ibmq_gateway.server.store.codec import decode_job, encode_job
from ibmq_gateway.server.store.rows import (
    ACTIVE_STATE_VALUES,
    COUNT_ACTIVE,
    JOB_FIELDS,
    PRUNABLE,
    VISIBILITY_FIELDS,
    event_from_row,
    event_row,
    job_row,
    visibility_row,
)

if TYPE_CHECKING:
    from ibmq_gateway.server.store.base import Change


_PRAGMAS = (
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = FULL",
    "PRAGMA foreign_keys = ON",
    "PRAGMA busy_timeout = 5000",
)

_INSERT_JOB = f"INSERT INTO jobs ({JOB_FIELDS}, {VISIBILITY_FIELDS}) VALUES ({', '.join('?' * 15)})"
_UPDATE_JOB = (
    "UPDATE jobs SET owner = ?2, backend = ?3, state = ?4, created = ?5, name = ?6,"
    " experiment_id = ?7, tags = ?8, sequence = ?9, revision = ?10, snapshot = ?11 WHERE id = ?1"
)
_INSERT_EVENT = (
    "INSERT INTO events (revision, job_id, sequence, type, time, snapshot)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)


def prepare(db: sqlite3.Connection) -> str:
    for pragma in _PRAGMAS:
        db.execute(pragma)
    db.create_function("regexp", 2, _regexp, deterministic=True)
    schema.upgrade_sqlite(db)
    with transaction(db):
        db.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES ('epoch', ?), ('pruned_through', 0)",
            (uuid.uuid4().hex,),
        )
        (epoch,) = db.execute("SELECT value FROM meta WHERE key = 'epoch'").fetchone()
    return str(epoch)


def prepare_reader(db: sqlite3.Connection) -> None:
    """Readies a connection that only reads, beside the one that writes (``prepare``d first)."""
    db.execute("PRAGMA query_only = ON")
    db.execute("PRAGMA busy_timeout = 5000")
    db.create_function("regexp", 2, _regexp, deterministic=True)


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
    db: sqlite3.Connection,
    job: Job,
    circuits: Sequence[CircuitSource],
    key: RequestKey | None,
    active_limit: int | None = None,
) -> JobEvent:
    if key is not None:
        _refuse_duplicate(db, key)
    if active_limit is not None:
        active = db.execute(COUNT_ACTIVE, (job.owner, *ACTIVE_STATE_VALUES)).fetchone()[0]
        if active >= active_limit:
            raise ActiveLimitError(job.owner, active)
    stored = replace(job, sequence=1, revision=_next_revision(db))
    snapshot = encode_job(stored)
    db.execute(_INSERT_JOB, (*job_row(stored, snapshot), *visibility_row(stored)))
    db.executemany(
        "INSERT INTO circuits (job_id, idx, format, payload) VALUES (?, ?, ?, ?)",
        [(job.id, idx, circuit.format, circuit.payload) for idx, circuit in enumerate(circuits)],
    )
    event = _append_event(db, stored, EventType.CREATED, snapshot)
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
    snapshot = encode_job(stored)
    event = _append_event(db, stored, change.type, snapshot)
    db.execute(_UPDATE_JOB, job_row(stored, snapshot))
    if change.result is not None:
        db.execute(
            "INSERT OR REPLACE INTO results (job_id, document) VALUES (?, ?)",
            (job.id, json.dumps(change.result)),
        )
    return event


def _next_revision(db: sqlite3.Connection) -> int:
    # Read inside the write transaction; the insert that uses it moves sqlite_sequence on.
    return last_revision(db) + 1


def _append_event(db: sqlite3.Connection, job: Job, type_: EventType, snapshot: str) -> JobEvent:
    event = JobEvent(job=job, type=type_, time=datetime.now(UTC))
    db.execute(_INSERT_EVENT, event_row(event, snapshot))
    return event


def _regexp(pattern: str, text: str) -> bool:
    return re.search(pattern, text) is not None


def select_jobs(db: sqlite3.Connection, sql: str, params: Sequence[Any]) -> list[Job]:
    return [decode_job(snapshot) for (snapshot,) in db.execute(sql, params)]


def select_events(db: sqlite3.Connection, sql: str, params: Sequence[Any]) -> list[JobEvent]:
    return [event_from_row(*row) for row in db.execute(sql, params)]


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
        (highest,) = db.execute(f"SELECT MAX(revision) {PRUNABLE}", (cutoff,)).fetchone()
        if highest is None:
            return 0
        deleted = db.execute(f"DELETE {PRUNABLE}", (cutoff,)).rowcount
        db.execute(
            "UPDATE meta SET value = MAX(CAST(value AS INTEGER), ?) WHERE key = 'pruned_through'",
            (highest,),
        )
    return int(deleted)
