"""Group commit for the SQLite store: writes that arrive while one group commits go together
in the next.

A commit costs a round trip to the store's thread and a sync of the write-ahead log, and
with many submissions in flight most of a write's time was spent waiting for the commits
before it. Now each write waits for the group under way, then commits with every write
that arrived meanwhile: one transaction for the group, each write in a savepoint of its own,
so one write's error (a duplicate request, a stale sequence) undoes that write alone. Every
caller is answered only after the group's commit, so what a caller is told was stored is
durable, and the group's events are published in commit order.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar, cast

from ibmq_gateway.server.store import jobs_sql
from ibmq_gateway.server.store.base import StoreError

if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Awaitable, Callable, Sequence

    from ibmq_gateway.server.core.model import JobEvent

_T = TypeVar("_T")


@dataclass(frozen=True)
class _Failed:
    error: Exception


class WriteGroups:
    """Commits writes in groups on the store's thread (see the module's docstring)."""

    def __init__(
        self,
        run: Callable[[Callable[[sqlite3.Connection], list[Any]]], Awaitable[list[Any]]],
        publish: Callable[[list[JobEvent]], None],
    ) -> None:
        """``run`` runs a function of the connection on the store's thread; ``publish`` is
        called there with each group's events once it is committed. Each write is a
        function of the connection, run there, that returns its result and the events it
        appended."""
        self._run = run
        self._publish = publish
        self._waiting: list[tuple[Any, asyncio.Future[Any]]] = []
        self._committing: asyncio.Task[None] | None = None

    async def write(self, work: Callable[[sqlite3.Connection], tuple[_T, list[JobEvent]]]) -> _T:
        """Runs ``work`` in the next group; returns its result once the group is committed.

        Raises:
            Whatever ``work`` raised (nothing of it is written), or the error that kept the
            group from committing (nothing of the group is written).
        """
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting.append((work, future))
        if self._committing is None:
            self._committing = asyncio.create_task(self._commit_all())
        return cast("_T", await future)

    async def drain(self) -> None:
        """Waits until every write handed in so far has been committed or has failed."""
        if self._committing is not None:
            await asyncio.shield(self._committing)

    async def _commit_all(self) -> None:
        group: list[tuple[Any, asyncio.Future[Any]]] = []
        try:
            while self._waiting:
                group, self._waiting = self._waiting, []
                commit = partial(self._commit, works=[work for work, _ in group])
                try:
                    outcomes = await self._run(commit)
                except Exception as error:
                    outcomes = [_Failed(error)] * len(group)
                _answer(group, outcomes)
                group = []
        finally:
            self._committing = None
            # Only when this task is cancelled (the loop is closing) is anything left here.
            left = StoreError("the store stopped before this write was committed")
            _answer([*group, *self._waiting], [_Failed(left)] * (len(group) + len(self._waiting)))
            self._waiting = []

    def _commit(self, db: sqlite3.Connection, works: Sequence[Any]) -> list[Any]:
        outcomes: list[Any] = []
        events: list[JobEvent] = []
        with jobs_sql.transaction(db):
            for work in works:
                db.execute("SAVEPOINT one_write")
                try:
                    result, written = work(db)
                except Exception as error:
                    db.execute("ROLLBACK TO one_write")
                    outcomes.append(_Failed(error))
                else:
                    outcomes.append(result)
                    events.extend(written)
                db.execute("RELEASE one_write")
        self._publish(events)
        return outcomes


def _answer(group: Sequence[tuple[Any, asyncio.Future[Any]]], outcomes: Sequence[Any]) -> None:
    for (_, future), outcome in zip(group, outcomes, strict=True):
        if future.done():  # its caller stopped waiting; the write stands
            continue
        if isinstance(outcome, _Failed):
            future.set_exception(outcome.error)
        else:
            future.set_result(outcome)
