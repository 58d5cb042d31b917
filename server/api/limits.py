"""Bounds on what one user holds open at the gateway's edge."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import Any

from ibmq_gateway.server.api.auth import current_principal
from ibmq_gateway.server.api.wrapping import BehaviourInterceptor, Stream
from ibmq_gateway.server.core.errors import QuotaExceededError
from ibmq_gateway.server.core.model import User

OPEN_STREAMS = "open streams"
"""The limit's name in the error (``QuotaFailure`` and ErrorInfo metadata ``limit``)."""


class OpenStreamsInterceptor(BehaviourInterceptor):
    """Refuses a user's stream past ``limit`` open at once (admins have no limit).

    It runs inside authentication, which names the user. Each replica counts its own
    streams: a stream holds a coroutine and buffers here, not anywhere else.
    """

    def __init__(self, limit: int) -> None:
        super().__init__()
        self._limit = limit
        self._open: Counter[str] = Counter()

    def wrap_stream(self, behaviour: Stream, method: str) -> Stream:
        async def bounded(request: Any, context: Any) -> AsyncIterator[Any]:
            with self._holding(current_principal.get()):
                async for response in behaviour(request, context):
                    yield response

        return bounded

    def open_streams(self, user: str) -> int:
        """How many streams ``user`` has open now."""
        return self._open[user]

    @contextlib.contextmanager
    def _holding(self, user: User | None) -> Iterator[None]:
        # Health's Watch has no principal; an admin answers for the team's dashboards.
        if user is None or user.admin:
            yield
            return
        held = self._open[user.name]
        if held >= self._limit:
            raise QuotaExceededError(user.name, OPEN_STREAMS, self._limit, held + 1)
        self._open[user.name] += 1
        try:
            yield
        finally:
            self._open[user.name] -= 1
            if not self._open[user.name]:
                del self._open[user.name]
