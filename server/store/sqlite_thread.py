"""One SQLite connection that lives on a thread of its own.

A ``sqlite3.Connection`` must not be used from two threads at once, and its calls block. Giving
each connection one worker thread settles both: calls run one after another, off the event
loop. The SQLite store has two of these, one that writes and one that only reads.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Concatenate, ParamSpec, TypeVar

from ibmq_gateway.server.store.base import StoreError

_P = ParamSpec("_P")
_T = TypeVar("_T")


class ConnectionThread:
    """A connection opened, used and closed on one worker thread."""

    def __init__(self, path: str, thread_name: str) -> None:
        self._path = path
        self._thread_name = thread_name
        self._executor: ThreadPoolExecutor | None = None
        self._db: sqlite3.Connection | None = None

    async def open(self, prepare: Callable[[sqlite3.Connection], _T]) -> _T:
        """Starts the thread, connects, and returns what ``prepare`` made of the connection.

        If connecting or ``prepare`` fails, the thread stops again and ``open`` may be retried.

        Raises:
            StoreError: The connection is open already.
        """
        if self._executor is not None:
            raise StoreError("the store is open already")
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=self._thread_name)
        try:
            return await self._submit(partial(self._connect, prepare))
        except BaseException:
            self._executor.shutdown()
            self._executor = None
            raise

    async def run(
        self,
        work: Callable[Concatenate[sqlite3.Connection, _P], _T],
        *args: _P.args,
        **kwargs: _P.kwargs,
    ) -> _T:
        """``work(connection, *args, **kwargs)`` on the connection's thread."""
        return await self._submit(partial(self._on_connection, work, *args, **kwargs))

    async def close(self) -> None:
        """Closes the connection and stops the thread; later calls fail. Idempotent."""
        executor = self._executor
        if executor is None:
            return
        await self._submit(self._disconnect)
        executor.shutdown()
        self._executor = None

    async def _submit(self, call: Callable[[], _T]) -> _T:
        if self._executor is None:
            raise StoreError("the store is not open")
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    # Everything below runs on the connection's thread.

    def _connect(self, prepare: Callable[[sqlite3.Connection], _T]) -> _T:
        db = sqlite3.connect(self._path, isolation_level=None)
        try:
            prepared = prepare(db)
        except BaseException:
            db.close()
            raise
        self._db = db
        return prepared

    def _on_connection(
        self,
        work: Callable[Concatenate[sqlite3.Connection, _P], _T],
        *args: _P.args,
        **kwargs: _P.kwargs,
    ) -> _T:
        if self._db is None:
            raise StoreError("the store is closed")
        return work(self._db, *args, **kwargs)

    def _disconnect(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
