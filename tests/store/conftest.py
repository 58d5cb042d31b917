"""The stores every contract test runs against, and fixtures that open them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

from ibmq_gateway.server.core.model import JobEvent
from ibmq_gateway.server.store import JobStore
from ibmq_gateway.server.store.postgres import PostgresJobStore
from ibmq_gateway.server.store.sqlite import SqliteJobStore
from tests.postgres import create_database, drop_database

if TYPE_CHECKING:
    from pathlib import Path

CommitHook = Callable[[list[JobEvent]], None]
Places = dict[str, str]
"""Per test: the PostgreSQL database (URL) of each location name, made on first use."""


@dataclass(frozen=True)
class Backend:
    """How to make one kind of store for a test."""

    make: Callable[[Path, Places, CommitHook | None], JobStore]
    """Makes an unopened store at a location (an existing, test-private directory)."""
    durable: bool
    """Whether a later store at the same location sees what an earlier one wrote."""


def _postgres(location: Path, databases: Places, hook: CommitHook | None) -> JobStore:
    if location.name not in databases:
        databases[location.name] = create_database()
    return PostgresJobStore(databases[location.name], on_commit=hook)


BACKENDS = {
    "sqlite-memory": Backend(
        make=lambda location, _, hook: SqliteJobStore(":memory:", on_commit=hook),
        durable=False,
    ),
    "sqlite-file": Backend(
        make=lambda location, _, hook: SqliteJobStore(location / "jobs.db", on_commit=hook),
        durable=True,
    ),
    "postgresql": Backend(make=_postgres, durable=True),
}

MakeStore = Callable[..., JobStore]


@pytest.fixture(params=sorted(BACKENDS))
def backend(request: pytest.FixtureRequest) -> Backend:
    return BACKENDS[request.param]


@pytest.fixture
def databases() -> Iterator[Places]:
    """The PostgreSQL databases a test made; each is dropped after it."""
    made: Places = {}
    yield made
    for url in made.values():
        drop_database(url)


@pytest.fixture
def make_store(backend: Backend, tmp_path: Path, databases: Places) -> MakeStore:
    """``make_store(hook=None, location="db")``: an unopened store in the test's directory."""

    def make(hook: CommitHook | None = None, location: str = "db") -> JobStore:
        directory = tmp_path / location
        directory.mkdir(exist_ok=True)
        return backend.make(directory, databases, hook)

    return make


@pytest.fixture
async def store(make_store: MakeStore) -> AsyncIterator[JobStore]:
    opened = make_store()
    await opened.open()
    yield opened
    await opened.close()
