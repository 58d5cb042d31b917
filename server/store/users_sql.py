"""The users table of the SQLite store; these functions run on the store's writer thread."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Any

from ibmq_gateway.server.model import User
from ibmq_gateway.server.store.base import DuplicateUserError
from ibmq_gateway.server.store.codec import from_micros, to_micros

if TYPE_CHECKING:
    from datetime import datetime

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS users (
        name TEXT PRIMARY KEY, hub TEXT NOT NULL, grp TEXT NOT NULL, project TEXT NOT NULL,
        admin INTEGER NOT NULL, created INTEGER NOT NULL, revoked INTEGER,
        token_hash TEXT NOT NULL UNIQUE)""",
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
