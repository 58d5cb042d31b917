"""A connection on a thread of its own: a failed open leaves nothing behind."""

from __future__ import annotations

import sqlite3
import threading
from typing import TYPE_CHECKING

import pytest

from ibmq_gateway.server.store.base import StoreError
from ibmq_gateway.server.store.sqlite_thread import ConnectionThread

if TYPE_CHECKING:
    from pathlib import Path


def _refuse(db: sqlite3.Connection) -> None:
    raise sqlite3.OperationalError("the schema cannot be prepared")


def _thread_name(db: sqlite3.Connection) -> str:
    return threading.current_thread().name


async def test_a_failed_open_stops_its_thread_and_may_be_retried(tmp_path: Path) -> None:
    connection = ConnectionThread(str(tmp_path / "a.sqlite3"), "test-connection")
    with pytest.raises(sqlite3.OperationalError, match="cannot be prepared"):
        await connection.open(_refuse)
    with pytest.raises(StoreError, match="not open"):
        await connection.run(_thread_name)

    assert await connection.open(lambda db: db.execute("SELECT 7").fetchone()[0]) == 7
    try:
        assert (await connection.run(_thread_name)).startswith("test-connection")
    finally:
        await connection.close()


async def test_calls_after_close_fail_and_close_is_idempotent(tmp_path: Path) -> None:
    connection = ConnectionThread(str(tmp_path / "a.sqlite3"), "test-connection")
    await connection.open(_thread_name)
    with pytest.raises(StoreError, match="open already"):
        await connection.open(_thread_name)
    await connection.close()
    await connection.close()
    with pytest.raises(StoreError, match="not open"):
        await connection.run(_thread_name)
