"""The stores every contract test runs against, and fixtures that open them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

from ibmq_gateway.server.core.model import JobEvent
from ibmq_gateway.server.store import JobStore
from ibmq_gateway.server.store.sqlite import SqliteJobStore

if TYPE_CHECKING:
    from pathlib import Path

CommitHook = Callable[[list[JobEvent]], None]


@dataclass(frozen=True)
class Backend:
    """How to make one kind of store for a test."""

    make: Callable[[Path, CommitHook | None], JobStore]
    """Makes an unopened store at a location (an existing, test-private directory)."""
    durable: bool
    """Whether a later store at the same location sees what an earlier one wrote."""


BACKENDS = {
    "sqlite-memory": Backend(
        make=lambda location, hook: SqliteJobStore(":memory:", on_commit=hook), durable=False
    ),
    "sqlite-file": Backend(
        make=lambda location, hook: SqliteJobStore(location / "jobs.db", on_commit=hook),
        durable=True,
    ),
}

MakeStore = Callable[..., JobStore]


@pytest.fixture(params=sorted(BACKENDS))
def backend(request: pytest.FixtureRequest) -> Backend:
    return BACKENDS[request.param]


@pytest.fixture
def make_store(backend: Backend, tmp_path: Path) -> MakeStore:
    """``make_store(hook=None, location="db")``: an unopened store in the test's directory."""

    def make(hook: CommitHook | None = None, location: str = "db") -> JobStore:
        directory = tmp_path / location
        directory.mkdir(exist_ok=True)
        return backend.make(directory, hook)

    return make


@pytest.fixture
async def store(make_store: MakeStore) -> AsyncIterator[JobStore]:
    opened = make_store()
    await opened.open()
    yield opened
    await opened.close()
