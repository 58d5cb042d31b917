"""What an administrator does on the gateway's machine: users and the audit trail.

These work on the gateway's database directly (it may be serving meanwhile: SQLite in WAL
mode lets both at once, as PostgreSQL does), so they need no token; access to the state
directory, or to the database, is the admin's credential. User changes are audited with
the local account as actor.
"""

from __future__ import annotations

import getpass
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from ibmq_gateway.client.cli.failures import CommandFailure
from ibmq_gateway.server.api.auth import new_token, token_digest
from ibmq_gateway.server.core.model import AuditEntry, User
from ibmq_gateway.server.store import JobStore, StoreError
from ibmq_gateway.server.store.choice import store_for

if TYPE_CHECKING:
    from ibmq_gateway.server.core.settings import Settings


@asynccontextmanager
async def _opened(settings: Settings) -> AsyncIterator[JobStore]:
    try:
        store = store_for(settings)
        await store.open()
    except StoreError as error:
        raise CommandFailure(str(error)) from None
    try:
        yield store
    finally:
        await store.close()


async def add_user(
    settings: Settings,
    name: str,
    place: tuple[str, str, str],
    *,
    admin: bool = False,
    expires_in: timedelta | None = None,
) -> str:
    """Adds a user at ``place`` (hub, group, project) and returns their token, shown once:
    only its digest is kept. ``expires_in``: the token stops working that long from now.

    Raises:
        DuplicateUserError: the name is taken.
    """
    token, now = new_token(), datetime.now(UTC)
    expires = now + expires_in if expires_in is not None else None
    user = User(name, *place, now, admin=admin, expires=expires)
    async with _opened(settings) as store:
        await store.add_user(user, token_digest(token))
        hub, group, project = place
        detail = {"hub": hub, "group": group, "project": project, "admin": admin}
        await store.add_audit(_local_entry("user.add", name, {**detail, **_expiry(expires)}))
    return token


async def rotate_token(
    settings: Settings, name: str, *, expires_in: timedelta | None = None
) -> str | None:
    """Gives an active user a new token (the old one stops working at once) and returns it;
    None if there is no such active user. ``expires_in`` as for ``add_user``."""
    token = new_token()
    expires = datetime.now(UTC) + expires_in if expires_in is not None else None
    async with _opened(settings) as store:
        if not await store.rotate_token(name, token_digest(token), expires):
            return None
        await store.add_audit(_local_entry("user.rotate", name, _expiry(expires)))
    return token


def _expiry(expires: datetime | None) -> dict[str, object]:
    return {"expires": expires.isoformat()} if expires is not None else {}


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


async def upgrade_database(settings: Settings) -> str:
    """Brings the gateway's database to this gateway's newest schema; returns that revision.

    Opening a store migrates it (``store.schema``); this does only that, so an operator can
    migrate before replicas of a new version start.
    """
    from ibmq_gateway.server.store import schema

    async with _opened(settings):
        return schema.head()
