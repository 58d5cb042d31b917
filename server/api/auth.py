"""Who is calling: bearer tokens, the principal of each RPC, and the first admin.

Tokens are random (32 bytes) and shown once; the store keeps only their SHA-256 digest.
A fast digest is enough because the tokens carry full entropy: there is nothing to guess
that a slow password hash would protect; nor is a token ever compared as text, so no
comparison's timing tells how much of a guess was right (the digest is looked up, and its
prefix says nothing about the token). A host that keeps sending bad tokens has its
answers held longer and longer (``peers.FailureThrottle``). Tokens may expire.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import logging
import os
import secrets
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import grpc

from ibmq_gateway.server.api.peers import FailureThrottle, peer_host
from ibmq_gateway.server.api.wrapping import BehaviourInterceptor, Stream, Unary
from ibmq_gateway.server.core.errors import UnauthenticatedError
from ibmq_gateway.server.core.model import User
from ibmq_gateway.server.store import DuplicateUserError

if TYPE_CHECKING:
    from pathlib import Path

    from ibmq_gateway.server.store import JobStore

log = logging.getLogger(__name__)

TOKEN_PREFIX = "igw_"
MAX_TOKEN_LENGTH = 256
ADMIN_TOKEN_FILE = "admin.token"
# Health must answer load balancers and container probes that hold no token.
OPEN_SERVICES = ("/grpc.health.v1.Health/",)

current_principal: contextvars.ContextVar[User | None] = contextvars.ContextVar(
    "current_principal", default=None
)


def new_token() -> str:
    """A fresh token, recognisable by its prefix."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """What the store keeps of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


def principal() -> User:
    """The user making the current RPC (set by ``AuthInterceptor``)."""
    user = current_principal.get()
    if user is None:
        raise UnauthenticatedError("no caller identity for this call", reason="NO_PRINCIPAL")
    return user


class AuthInterceptor(BehaviourInterceptor):
    """Resolves ``authorization: Bearer <token>`` to a user for every RPC but health."""

    def __init__(self, store: JobStore, throttle: FailureThrottle | None = None) -> None:
        super().__init__()
        self._store = store
        self._throttle = throttle or FailureThrottle()
        self._uses = _LastUse(store)

    def wrap_unary(self, behaviour: Unary, method: str) -> Unary:
        if method.startswith(OPEN_SERVICES):
            return behaviour

        async def authenticated(request: Any, context: Any) -> Any:
            current_principal.set(await self._authenticate(context))
            return await behaviour(request, context)

        return authenticated

    def wrap_stream(self, behaviour: Stream, method: str) -> Stream:
        if method.startswith(OPEN_SERVICES):
            return behaviour

        async def authenticated(request: Any, context: Any) -> AsyncIterator[Any]:
            current_principal.set(await self._authenticate(context))
            async for response in behaviour(request, context):
                yield response

        return authenticated

    async def _authenticate(self, context: grpc.aio.ServicerContext[Any, Any]) -> User:
        try:
            return await self._resolve(context)
        except UnauthenticatedError:
            # Held, not refused: a flood of bad tokens waits for its answers and so slows
            # itself, while good tokens from the same host pass at once.
            await asyncio.sleep(self._throttle.failed(peer_host(context.peer())))
            raise

    async def _resolve(self, context: grpc.aio.ServicerContext[Any, Any]) -> User:
        token = bearer_token(context.invocation_metadata() or ())
        user = await self._store.user_by_token(token_digest(token))
        if user is None or not user.active:
            raise UnauthenticatedError(
                "the bearer token is not valid (unknown or revoked); ask an admin for one",
                reason="INVALID_TOKEN",
            )
        now = datetime.now(UTC)
        if user.expired_at(now):
            assert user.expires is not None
            raise UnauthenticatedError(
                f"the bearer token of {user.name!r} expired at {user.expires:%Y-%m-%d %H:%M} "
                f"UTC; ask an admin for a new one (ibmq-gateway users rotate {user.name})",
                reason="TOKEN_EXPIRED",
            )
        await self._uses.record(user.name, now)
        return user


class _LastUse:
    """Records when each user's token was used, at most once a minute per user, so that
    authentication adds no write to almost every call."""

    EVERY_S = 60.0

    def __init__(self, store: JobStore) -> None:
        self._store = store
        self._recorded: dict[str, float] = {}

    async def record(self, name: str, now: datetime) -> None:
        moment = time.monotonic()
        if moment - self._recorded.get(name, -self.EVERY_S) < self.EVERY_S:
            return
        self._recorded[name] = moment
        await self._store.record_use(name, now)


def bearer_token(metadata: Any) -> str:
    """The token of an ``authorization: Bearer <token>`` entry, checked for shape."""
    values = [value for key, value in metadata if key == "authorization"]
    if not values:
        raise UnauthenticatedError(
            "missing 'authorization: Bearer <token>' metadata", reason="MISSING_TOKEN"
        )
    scheme, _, token = str(values[0]).partition(" ")
    if len(values) > 1 or scheme.lower() != "bearer" or not token.strip():
        raise UnauthenticatedError(
            "malformed authorization metadata; send exactly one 'Bearer <token>'",
            reason="MALFORMED_TOKEN",
        )
    if len(token) > MAX_TOKEN_LENGTH:
        raise UnauthenticatedError(
            f"bearer token longer than {MAX_TOKEN_LENGTH} characters", reason="MALFORMED_TOKEN"
        )
    return token.strip()


async def ensure_admin(store: JobStore, state_dir: Path, token: str | None) -> None:
    """With no users at all, makes an admin and writes its token to a private file.

    ``token`` fixes that first token (an operator's secret, or a test's); otherwise a new
    one is made. The file is readable only by its owner; the token is never logged.
    """
    if await store.list_users():
        return
    token = token or new_token()
    admin = User("admin", "local", "local", "local", datetime.now(UTC), admin=True)
    try:
        await store.add_user(admin, token_digest(token))
    except DuplicateUserError:
        # Replicas started together on an empty database: one of them made it first.
        log.info("user 'admin' was just created by another replica; its token is there")
        return
    path = state_dir / ADMIN_TOKEN_FILE
    _write_private(path, token + "\n")
    log.info("no users yet: created user 'admin'; its token is in %s", path)


def _write_private(path: Path, text: str) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)
    os.chmod(path, 0o600)
