"""Rows of the shared schema, to and from the domain: the same for both stores."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from ibmq_gateway.server.core.model import AuditEntry, EventType, Job, JobEvent, User
from ibmq_gateway.server.core.states import ACTIVE_STATES
from ibmq_gateway.server.store.codec import decode_job, from_micros, to_micros

JOB_FIELDS = (
    "id, owner, backend, state, created, name, experiment_id, tags, sequence, revision, snapshot"
)
# Who may see a job never changes after it is made, so only the insert writes these.
VISIBILITY_FIELDS = "share_level, owner_hub, owner_grp, owner_project"
USER_FIELDS = "name, hub, grp, project, admin, created, revoked, expires, last_used"
AUDIT_FIELDS = "time, actor, action, target, peer, detail"

# The users' statements of both stores, written with ``?`` (``Dialect.sql`` turns them).
INSERT_USER = f"INSERT INTO users ({USER_FIELDS}, token_hash) VALUES ({', '.join('?' * 10)})"
REVOKE_USER = "UPDATE users SET revoked = ? WHERE name = ? AND revoked IS NULL"
# Only an active user's token is replaced; a revoked user stays revoked.
ROTATE_TOKEN = "UPDATE users SET token_hash = ?, expires = ? WHERE name = ? AND revoked IS NULL"
RECORD_USE = "UPDATE users SET last_used = ? WHERE name = ?"
# Both stores count a new job's owner's active jobs in the transaction that creates it.
ACTIVE_STATE_VALUES = tuple(sorted(state.value for state in ACTIVE_STATES))
COUNT_ACTIVE = (
    "SELECT count(*) FROM jobs WHERE owner = ?"
    f" AND state IN ({', '.join('?' * len(ACTIVE_STATE_VALUES))})"
)
# An event is prunable unless it is its job's latest, whose revision the job row carries.
PRUNABLE = "FROM events WHERE time < ? AND revision NOT IN (SELECT revision FROM jobs)"


def job_row(job: Job, snapshot: str) -> tuple[Any, ...]:
    """The values of ``JOB_FIELDS`` for ``job``, whose ``encode_job`` is ``snapshot``."""
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
        snapshot,
    )


def visibility_row(job: Job) -> tuple[str, str, str, str]:
    """The values of ``VISIBILITY_FIELDS`` for ``job``."""
    return (job.share_level, job.owner_hub, job.owner_group, job.owner_project)


def event_row(event: JobEvent, snapshot: str) -> tuple[Any, ...]:
    """An ``events`` row: revision, job_id, sequence, type, time, snapshot.

    A write stores the same snapshot in its event and in its job's row: ``snapshot``, the
    job's ``encode_job``, is made once for both.
    """
    job = event.job
    time = to_micros(event.time)
    return (job.revision, job.id, job.sequence, event.type.value, time, snapshot)


def event_from_row(type_: str, time: int, snapshot: str) -> JobEvent:
    """The event of ``SELECT type, time, snapshot FROM events``."""
    return JobEvent(job=decode_job(snapshot), type=EventType(type_), time=from_micros(time))


def user_row(user: User, token_hash: str) -> tuple[Any, ...]:
    """The values of ``USER_FIELDS`` and then ``token_hash``."""
    names = (user.name, user.hub, user.group, user.project)
    times = (user.revoked, user.expires, user.last_used)
    return (
        *names,
        int(user.admin),
        to_micros(user.created),
        *map(optional_micros, times),
        token_hash,
    )


def optional_micros(moment: datetime | None) -> int | None:
    """``to_micros``, with None for None."""
    return to_micros(moment) if moment is not None else None


def _optional_time(micros: int | None) -> datetime | None:
    return from_micros(micros) if micros is not None else None


def user_from_row(row: tuple[Any, ...]) -> User:
    """The user of a ``SELECT`` of ``USER_FIELDS``."""
    name, hub, group, project, admin, created, revoked, expires, last_used = row
    return User(
        name=str(name),
        hub=str(hub),
        group=str(group),
        project=str(project),
        admin=bool(admin),
        created=from_micros(created),
        revoked=_optional_time(revoked),
        expires=_optional_time(expires),
        last_used=_optional_time(last_used),
    )


def audit_row(entry: AuditEntry) -> tuple[Any, ...]:
    """The values of ``AUDIT_FIELDS`` for ``entry``."""
    names = (entry.actor, entry.action, entry.target, entry.peer)
    return (to_micros(entry.time), *names, json.dumps(entry.detail))


def audit_from_row(row: tuple[Any, ...]) -> AuditEntry:
    """The entry of a ``SELECT`` of ``AUDIT_FIELDS``."""
    time, actor, action, target, peer, detail = row
    return AuditEntry(from_micros(time), actor, action, target, peer, json.loads(detail))
