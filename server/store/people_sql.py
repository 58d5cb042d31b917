"""The users and audit tables of the SQLite store; these run on the store's writer thread."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

from ibmq_gateway.server.core.model import AuditEntry, User
from ibmq_gateway.server.store.base import DuplicateUserError
from ibmq_gateway.server.store.codec import to_micros
from ibmq_gateway.server.store.rows import (
    AUDIT_FIELDS,
    INSERT_USER,
    RECORD_USE,
    REVOKE_USER,
    ROTATE_TOKEN,
    USER_FIELDS,
    audit_from_row,
    audit_row,
    optional_micros,
    user_from_row,
    user_row,
)

if TYPE_CHECKING:
    from datetime import datetime


def add_user(db: sqlite3.Connection, user: User, token_hash: str) -> None:
    """Inserts a user; a taken name raises DuplicateUserError."""
    # One statement in autocommit mode: atomic and durable on its own.
    try:
        db.execute(INSERT_USER, user_row(user, token_hash))
    except sqlite3.IntegrityError:
        raise DuplicateUserError(f"a user named {user.name!r} exists already") from None


def user_by_token(db: sqlite3.Connection, token_hash: str) -> User | None:
    """The user holding a token digest, or None."""
    row = db.execute(f"SELECT {USER_FIELDS} FROM users WHERE token_hash = ?", (token_hash,))
    found = row.fetchone()
    return user_from_row(found) if found else None


def list_users(db: sqlite3.Connection) -> list[User]:
    """Every user, by name."""
    rows = db.execute(f"SELECT {USER_FIELDS} FROM users ORDER BY name")
    return [user_from_row(row) for row in rows]


def revoke_user(db: sqlite3.Connection, name: str, at: datetime) -> bool:
    """Marks an active user revoked; False if there was none."""
    return db.execute(REVOKE_USER, (to_micros(at), name)).rowcount == 1


def rotate_token(
    db: sqlite3.Connection, name: str, token_hash: str, expires: datetime | None
) -> bool:
    """Gives an active user a new token digest and expiry; False if there was none."""
    values = (token_hash, optional_micros(expires), name)
    try:
        return db.execute(ROTATE_TOKEN, values).rowcount == 1
    except sqlite3.IntegrityError:  # the digest of another user's token: never by chance
        raise DuplicateUserError("that token belongs to another user") from None


def record_use(db: sqlite3.Connection, name: str, at: datetime) -> None:
    """Notes when a user's token last authenticated a call."""
    db.execute(RECORD_USE, (to_micros(at), name))


def add_audit(db: sqlite3.Connection, entry: AuditEntry) -> None:
    """Appends one audit entry."""
    db.execute(f"INSERT INTO audit ({AUDIT_FIELDS}) VALUES (?, ?, ?, ?, ?, ?)", audit_row(entry))


def list_audit(db: sqlite3.Connection, limit: int, actor: str) -> list[AuditEntry]:
    """The newest entries first, of one actor if given."""
    where, params = ("WHERE actor = ?", [actor]) if actor else ("", [])
    rows = db.execute(
        f"SELECT {AUDIT_FIELDS} FROM audit {where} ORDER BY id DESC LIMIT ?", [*params, limit]
    )
    return [audit_from_row(row) for row in rows]
