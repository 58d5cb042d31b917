"""The statements of the PostgreSQL store, on one connection, inside or around a transaction.

Revisions come from the ``last_revision`` row of ``meta``: every write transaction moves it
on first, which holds that row's lock until the commit. Writers on every replica therefore
commit in revision order, and a reader that has seen revision N will never later find an
event below N appear: the guarantee a stream's cursor rests on.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from psycopg import AsyncConnection

from ibmq_gateway.server.core.model import CircuitSource, EventType, Job, JobEvent, RequestKey
from ibmq_gateway.server.store.base import (
    ActiveLimitError,
    DuplicateRequestError,
    StaleJobError,
)
from ibmq_gateway.server.store.codec import decode_job, encode_job
from ibmq_gateway.server.store.listing import POSTGRES
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

Connection = AsyncConnection[tuple[Any, ...]]

_INSERT_JOB = (
    f"INSERT INTO jobs ({JOB_FIELDS}, {VISIBILITY_FIELDS}) VALUES ({', '.join(['%s'] * 15)})"
)
_UPDATE_JOB = (
    "UPDATE jobs SET owner = %s, backend = %s, state = %s, created = %s, name = %s,"
    " experiment_id = %s, tags = %s, sequence = %s, revision = %s, snapshot = %s WHERE id = %s"
)
_INSERT_EVENT = (
    "INSERT INTO events (revision, job_id, sequence, type, time, snapshot)"
    " VALUES (%s, %s, %s, %s, %s, %s)"
)
_UPSERT_RESULT = (
    "INSERT INTO results (job_id, document) VALUES (%s, %s)"
    " ON CONFLICT (job_id) DO UPDATE SET document = EXCLUDED.document"
)


async def prepare(db: Connection) -> str:
    """Makes the rows of ``meta`` a new database lacks; returns the epoch."""
    await db.execute(
        "INSERT INTO meta (key, value) VALUES ('epoch', %s), ('pruned_through', '0'),"
        " ('last_revision', '0') ON CONFLICT (key) DO NOTHING",
        (uuid.uuid4().hex,),
    )
    return str(await _one(db, "SELECT value FROM meta WHERE key = 'epoch'"))


async def insert_job(
    db: Connection,
    job: Job,
    circuits: Sequence[CircuitSource],
    key: RequestKey | None,
    active_limit: int | None = None,
) -> JobEvent:
    # Taking the next revision locks the one row every writer updates: from here to the
    # commit no other gateway writes, and each statement sees all they committed before.
    stored = replace(job, sequence=1, revision=await _next_revision(db))
    if key is not None:
        found = await find_request(db, key.owner, key.request_id)
        if found is not None:
            raise DuplicateRequestError(*found)
    if active_limit is not None:
        count = POSTGRES.sql(COUNT_ACTIVE)
        active = int(await _one(db, count, (job.owner, *ACTIVE_STATE_VALUES)))
        if active >= active_limit:
            raise ActiveLimitError(job.owner, active)
    snapshot = encode_job(stored)
    await db.execute(_INSERT_JOB, (*job_row(stored, snapshot), *visibility_row(stored)))
    async with db.cursor() as cursor:
        await cursor.executemany(
            "INSERT INTO circuits (job_id, idx, format, payload) VALUES (%s, %s, %s, %s)",
            [(job.id, idx, each.format, each.payload) for idx, each in enumerate(circuits)],
        )
    event = await _append_event(db, stored, EventType.CREATED, snapshot)
    if key is not None:
        await db.execute(
            "INSERT INTO requests (owner, request_id, fingerprint, job_id) VALUES (%s, %s, %s, %s)",
            (key.owner, key.request_id, key.fingerprint, job.id),
        )
    return event


async def write_changes(db: Connection, changes: Sequence[Change]) -> list[JobEvent]:
    """Writes ``changes`` in order, one event each, in a few statements for them all.

    Each statement costs the event loop about 0.25 ms in the driver: four for each change,
    one change at a time, held a long queue's position updates to a few hundred rows a
    second and left the loop little else.
    """
    if not changes:
        return []
    # The revisions first: that locks the meta row, so no other replica's write can move
    # these jobs between the sequences read next and the writes after them.
    revision = await _next_revision(db, len(changes)) - len(changes)
    at = await _sequences(db, {change.job.id for change in changes})
    events, results = [], []
    for change in changes:
        job = change.job
        if job.id not in at:
            raise KeyError(job.id)
        if at[job.id] != job.sequence:
            raise StaleJobError(f"job {job.id} is at sequence {at[job.id]}, not {job.sequence}")
        revision += 1
        stored = replace(job, sequence=job.sequence + 1, revision=revision)
        at[job.id] = stored.sequence  # a later change of the same job follows this one
        events.append(JobEvent(job=stored, type=change.type, time=datetime.now(UTC)))
        if change.result is not None:
            results.append((job.id, json.dumps(change.result)))
    written = [(event, encode_job(event.job)) for event in events]
    jobs = [job_row(event.job, snapshot) for event, snapshot in written]
    async with db.cursor() as cursor:
        await cursor.executemany(_INSERT_EVENT, [event_row(*pair) for pair in written])
        await cursor.executemany(_UPDATE_JOB, [(*row[1:], row[0]) for row in jobs])
        if results:
            await cursor.executemany(_UPSERT_RESULT, results)
    return events


async def _sequences(db: Connection, job_ids: set[str]) -> dict[str, int]:
    """The stored sequence of each of ``job_ids`` that is stored."""
    sql = "SELECT id, sequence FROM jobs WHERE id = ANY(%s)"
    return dict(await fetch_all(db, sql, (list(job_ids),)))


async def _next_revision(db: Connection, count: int = 1) -> int:
    """Takes ``count`` revisions; returns the last of them."""
    return int(
        await _one(
            db,
            "UPDATE meta SET value = (value::bigint + %s)::text WHERE key = 'last_revision'"
            " RETURNING value::bigint",
            (count,),
        )
    )


async def _append_event(db: Connection, job: Job, type_: EventType, snapshot: str) -> JobEvent:
    event = JobEvent(job=job, type=type_, time=datetime.now(UTC))
    await db.execute(_INSERT_EVENT, event_row(event, snapshot))
    return event


async def select_jobs(db: Connection, sql: str, params: Sequence[Any]) -> list[Job]:
    return [decode_job(snapshot) for (snapshot,) in await fetch_all(db, sql, params)]


async def select_events(db: Connection, sql: str, params: Sequence[Any]) -> list[JobEvent]:
    return [event_from_row(*row) for row in await fetch_all(db, sql, params)]


async def select_circuits(db: Connection, job_id: str) -> list[CircuitSource]:
    sql = "SELECT format, payload FROM circuits WHERE job_id = %s ORDER BY idx"
    found = await fetch_all(db, sql, (job_id,))
    return [CircuitSource(format=format_, payload=bytes(payload)) for format_, payload in found]


async def select_result(db: Connection, job_id: str) -> dict[str, Any] | None:
    document = await _one_or_none(db, "SELECT document FROM results WHERE job_id = %s", (job_id,))
    return json.loads(document) if document is not None else None


async def find_request(
    db: Connection, owner: str, request_id: str
) -> tuple[RequestKey, str] | None:
    found = await fetch_one(
        db,
        "SELECT fingerprint, job_id FROM requests WHERE owner = %s AND request_id = %s",
        (owner, request_id),
    )
    if found is None:
        return None
    return RequestKey(owner=owner, request_id=request_id, fingerprint=found[0]), found[1]


async def ping(db: Connection) -> None:
    await db.execute("SELECT 1")


async def last_revision(db: Connection) -> int:
    return int(await _one(db, "SELECT value::bigint FROM meta WHERE key = 'last_revision'"))


async def pruned_through(db: Connection) -> int:
    return int(await _one(db, "SELECT value::bigint FROM meta WHERE key = 'pruned_through'"))


async def prune(db: Connection, cutoff: int) -> int:
    """Deletes prunable events (in the caller's write transaction); returns how many."""
    # The revision row's lock, without moving it on: no write overtakes the prune.
    await db.execute("SELECT value FROM meta WHERE key = 'last_revision' FOR UPDATE")
    prunable = POSTGRES.sql(PRUNABLE)
    highest = await _one(db, f"SELECT MAX(revision) {prunable}", (cutoff,))
    if highest is None:
        return 0
    deleted = (await db.execute(f"DELETE {prunable}", (cutoff,))).rowcount
    await db.execute(
        "UPDATE meta SET value = GREATEST(value::bigint, %s)::text WHERE key = 'pruned_through'",
        (highest,),
    )
    return deleted


async def fetch_all(db: Connection, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    return await (await db.execute(sql, params)).fetchall()


async def fetch_one(db: Connection, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
    return await (await db.execute(sql, params)).fetchone()


async def _one_or_none(db: Connection, sql: str, params: Sequence[Any] = ()) -> Any:
    found = await fetch_one(db, sql, params)
    return None if found is None else found[0]


async def _one(db: Connection, sql: str, params: Sequence[Any] = ()) -> Any:
    found = await fetch_one(db, sql, params)
    assert found is not None, sql
    return found[0]
