"""The users and audit tables of the SQLite store; these run on the store's writer thread."""

from __future__ import annotations

import json
import sqlite3
from typing import TYPE_CHECKING, Any

from ibmq_gateway.server.core.model import AuditEntry, User
from ibmq_gateway.server.store.base import DuplicateUserError
from ibmq_gateway.server.store.codec import from_micros, to_micros

if TYPE_CHECKING:
    from datetime import datetime

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS users (
        name TEXT PRIMARY KEY, hub TEXT NOT NULL, grp TEXT NOT NULL, project TEXT NOT NULL,
        admin INTEGER NOT NULL, created INTEGER NOT NULL, revoked INTEGER,
        token_hash TEXT NOT NULL UNIQUE)""",
    """CREATE TABLE IF NOT EXISTS audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT, time INTEGER NOT NULL, actor TEXT NOT NULL,
        action TEXT NOT NULL, target TEXT NOT NULL, peer TEXT NOT NULL, detail TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS audit_by_actor ON audit (actor, id)",
)
_COLUMNS = "name, hub, grp, project, admin, created, revoked"


def add_user(db: sqlite3.Connection, user: User, token_hash: str) -> None:
    """Inserts a user; a taken name raises DuplicateUserError."""
    row = (user.name, user.hub, user.group, user.project, int(user.admin))
    times = (to_micros(user.created), to_micros(user.revoked) if user.revoked else None)
    # One statement in autocommit mode: atomic and durable on its own.
    try:
        db.execute(
            f"INSERT INTO users ({_COLUMNS}, token_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (*row, *times, token_hash),
        )
    except sqlite3.IntegrityError:
        raise DuplicateUserError(f"a user named {user.name!r} exists already") from None


def user_by_token(db: sqlite3.Connection, token_hash: str) -> User | None:
    """The user holding a token digest, or None."""
    row = db.execute(f"SELECT {_COLUMNS} FROM users WHERE token_hash = ?", (token_hash,))
    found = row.fetchone()
    return _user(found) if found else None


def list_users(db: sqlite3.Connection) -> list[User]:
    """Every user, by name."""
    return [_user(row) for row in db.execute(f"SELECT {_COLUMNS} FROM users ORDER BY name")]


def revoke_user(db: sqlite3.Connection, name: str, at: datetime) -> bool:
    """Marks an active user revoked; False if there was none."""
    cursor = db.execute(
        "UPDATE users SET revoked = ? WHERE name = ? AND revoked IS NULL",
        (to_micros(at), name),
    )
    return cursor.rowcount == 1


def _user(row: tuple[Any, ...]) -> User:
    name, hub, group, project, admin, created, revoked = row
    return User(
        name=str(name),
        hub=str(hub),
        group=str(group),
        project=str(project),
        admin=bool(admin),
        created=from_micros(created),
        revoked=from_micros(revoked) if revoked is not None else None,
    )


def add_audit(db: sqlite3.Connection, entry: AuditEntry) -> None:
    """Appends one audit entry."""
    db.execute(
        "INSERT INTO audit (time, actor, action, target, peer, detail) VALUES (?, ?, ?, ?, ?, ?)",
        (
            to_micros(entry.time),
            entry.actor,
            entry.action,
            entry.target,
            entry.peer,
            json.dumps(entry.detail),
        ),
    )


def list_audit(db: sqlite3.Connection, limit: int, actor: str) -> list[AuditEntry]:
    """The newest entries first, of one actor if given."""
    where, params = ("WHERE actor = ?", [actor]) if actor else ("", [])
    rows = db.execute(
        f"SELECT time, actor, action, target, peer, detail FROM audit {where}"
        " ORDER BY id DESC LIMIT ?",
        [*params, limit],
    )
    return [
        AuditEntry(from_micros(time), actor_, action, target, peer, json.loads(detail))
        for time, actor_, action, target, peer, detail in rows
    ]
