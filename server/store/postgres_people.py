"""The users and audit tables of the PostgreSQL store (one statement each, autocommit)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from psycopg import errors

from ibmq_gateway.server.store.base import DuplicateUserError
from ibmq_gateway.server.store.codec import to_micros
from ibmq_gateway.server.store.listing import POSTGRES
from ibmq_gateway.server.store.postgres_sql import Connection, fetch_all, fetch_one
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

    from ibmq_gateway.server.core.model import AuditEntry, User


async def add_user(db: Connection, user: User, token_hash: str) -> None:
    """Inserts a user; a taken name raises DuplicateUserError."""
    try:
        await db.execute(POSTGRES.sql(INSERT_USER), user_row(user, token_hash))
    except errors.UniqueViolation:
        raise DuplicateUserError(f"a user named {user.name!r} exists already") from None


async def user_by_token(db: Connection, token_hash: str) -> User | None:
    """The user holding a token digest, or None."""
    sql = f"SELECT {USER_FIELDS} FROM users WHERE token_hash = %s"
    found = await fetch_one(db, sql, (token_hash,))
    return user_from_row(found) if found else None


async def list_users(db: Connection) -> list[User]:
    """Every user, by name."""
    return [
        user_from_row(each)
        for each in await fetch_all(db, f"SELECT {USER_FIELDS} FROM users ORDER BY name")
    ]


async def revoke_user(db: Connection, name: str, at: datetime) -> bool:
    """Marks an active user revoked; False if there was none."""
    cursor = await db.execute(POSTGRES.sql(REVOKE_USER), (to_micros(at), name))
    return cursor.rowcount == 1


async def rotate_token(
    db: Connection, name: str, token_hash: str, expires: datetime | None
) -> bool:
    """Gives an active user a new token digest and expiry; False if there was none."""
    values = (token_hash, optional_micros(expires), name)
    try:
        return (await db.execute(POSTGRES.sql(ROTATE_TOKEN), values)).rowcount == 1
    except errors.UniqueViolation:  # the digest of another user's token: never by chance
        raise DuplicateUserError("that token belongs to another user") from None


async def record_use(db: Connection, name: str, at: datetime) -> None:
    """Notes when a user's token last authenticated a call."""
    await db.execute(POSTGRES.sql(RECORD_USE), (to_micros(at), name))


async def add_audit(db: Connection, entry: AuditEntry) -> None:
    """Appends one audit entry."""
    sql = f"INSERT INTO audit ({AUDIT_FIELDS}) VALUES (%s, %s, %s, %s, %s, %s)"
    await db.execute(sql, audit_row(entry))


async def list_audit(db: Connection, limit: int, actor: str) -> list[AuditEntry]:
    """The newest entries first, of one actor if given."""
    where, params = ("WHERE actor = %s", [actor]) if actor else ("", [])
    sql = f"SELECT {AUDIT_FIELDS} FROM audit {where} ORDER BY id DESC LIMIT %s"
    return [audit_from_row(each) for each in await fetch_all(db, sql, [*params, limit])]
