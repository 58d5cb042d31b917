"""What an administrator does on the gateway's machine: users and the audit trail.

These work on the gateway's database directly (it may be serving meanwhile: SQLite in WAL
mode lets both at once), so they need no token; access to the state directory is the
admin's credential. User changes are audited with the local account as actor.
"""

from __future__ import annotations

import getpass
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ibmq_gateway.server.api.auth import new_token, token_digest
from ibmq_gateway.server.core.model import AuditEntry, User
from ibmq_gateway.server.store.sqlite import SqliteJobStore

if TYPE_CHECKING:
    from ibmq_gateway.server.core.settings import Settings


@asynccontextmanager
async def _opened(settings: Settings) -> AsyncIterator[SqliteJobStore]:
    settings.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    store = SqliteJobStore(settings.database)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


async def add_user(
    settings: Settings, name: str, hub: str, group: str, project: str, *, admin: bool = False
) -> str:
    """Adds a user and returns their token (shown once: only its digest is kept).

    Raises:
        DuplicateUserError: the name is taken.
    """
    token = new_token()
    user = User(name, hub, group, project, datetime.now(UTC), admin=admin)
    async with _opened(settings) as store:
        await store.add_user(user, token_digest(token))
        detail = {"hub": hub, "group": group, "project": project, "admin": admin}
        await store.add_audit(_local_entry("user.add", name, detail))
    return token


async def list_users(settings: Settings) -> list[User]:
    """Every user, by name."""
    async with _opened(settings) as store:
        return await store.list_users()


async def revoke_user(settings: Settings, name: str) -> bool:
    """Stops a user's token from working; False if there was no such active user."""
    async with _opened(settings) as store:
        revoked = await store.revoke_user(name, datetime.now(UTC))
        if revoked:
            await store.add_audit(_local_entry("user.revoke", name, {}))
    return revoked


async def list_audit(settings: Settings, *, limit: int, actor: str = "") -> list[AuditEntry]:
    """The most recent recorded actions, newest first."""
    async with _opened(settings) as store:
        return await store.list_audit(limit=limit, actor=actor)


def _local_entry(action: str, target: str, detail: dict[str, object]) -> AuditEntry:
    return AuditEntry(
        time=datetime.now(UTC),
        actor=f"local:{getpass.getuser()}",
        action=action,
        target=target,
        peer=f"cli:{socket.gethostname()}",
        detail=dict(detail),
    )
