"""Group commit: writes that arrive while one group commits go together in the next.

A commit costs round trips (to the SQLite store's thread, or to PostgreSQL) and a sync of
the log, and a store commits its process's writes one after another, so with many
submissions in flight most of a write's time was spent waiting for the commits before it.
Now each write waits for the group under way, then commits with every write that arrived
meanwhile: one transaction for the group, each write in a savepoint of its own, so one
write's error (a duplicate request, a stale sequence) undoes that write alone. Every caller
is answered only after the group's commit, so what a caller is told was stored is durable;
each store publishes a group's events in commit order before it answers.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ibmq_gateway.server.store.base import StoreError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

_Work = TypeVar("_Work")


@dataclass(frozen=True)
class Failed:
    """The outcome of a write that raised ``error``: nothing of it was written."""

    error: Exception


class WriteGroups(Generic[_Work]):
    """Hands writes to ``commit`` in groups (see the module's docstring)."""

    def __init__(self, commit: Callable[[list[_Work]], Awaitable[Sequence[Any]]]) -> None:
        """``commit`` writes a group in one transaction and returns each write's outcome,
        its result or ``Failed``; if it raises, no write of the group was made."""
        self._commit = commit
        self._waiting: list[tuple[_Work, asyncio.Future[Any]]] = []
        self._committing: asyncio.Task[None] | None = None

    async def write(self, work: _Work) -> Any:
        """Commits ``work`` in the next group; returns its result once that is committed.

        Raises:
            Whatever the write raised (nothing of it is written), or the error that kept
            the group from committing (nothing of the group is written).
        """
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting.append((work, future))
        if self._committing is None:
            self._committing = asyncio.create_task(self._commit_all())
        return await future

    async def drain(self) -> None:
        """Waits until every write handed in so far has been committed or has failed."""
        if self._committing is not None:
            await asyncio.shield(self._committing)

    async def _commit_all(self) -> None:
        group: list[tuple[_Work, asyncio.Future[Any]]] = []
        try:
            while self._waiting:
                group, self._waiting = self._waiting, []
                try:
                    outcomes = await self._commit([work for work, _ in group])
                except Exception as error:
                    outcomes = [Failed(error)] * len(group)
                _answer(group, outcomes)
                group = []
        finally:
            self._committing = None
            # Only when this task is cancelled (the loop is closing) is anything left here.
            left = [*group, *self._waiting]
            self._waiting = []
            stopped = StoreError("the store stopped before this write was committed")
            _answer(left, [Failed(stopped)] * len(left))


def _answer(group: Sequence[tuple[Any, asyncio.Future[Any]]], outcomes: Sequence[Any]) -> None:
    for (_, future), outcome in zip(group, outcomes, strict=True):
        if future.done():  # its caller stopped waiting; the write stands
            continue
        if isinstance(outcome, Failed):
            future.set_exception(outcome.error)
        else:
            future.set_result(outcome)
