"""Which store a gateway opens: PostgreSQL when its settings name a database, else SQLite."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ibmq_gateway.server.store.base import JobStore, StoreError
from ibmq_gateway.server.store.locations import describe_postgres

if TYPE_CHECKING:
    from collections.abc import Callable

    from ibmq_gateway.server.core.model import JobEvent
    from ibmq_gateway.server.core.settings import Settings

POSTGRES_EXTRA = "pip install 'ibmq-gateway[postgres]'"


def store_for(
    settings: Settings,
    on_commit: Callable[[list[JobEvent]], None] | None = None,
) -> JobStore:
    """The unopened store of ``settings``; ``on_commit`` as the stores document it.

    Raises:
        StoreError: A PostgreSQL database is named but its driver is not installed.
    """
    # Imported here: the administration commands import this module on a client-only install
    # too, where they only say which extra to install.
    if not settings.database:
        from ibmq_gateway.server.store.sqlite import SqliteJobStore

        settings.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        return SqliteJobStore(settings.sqlite_path, on_commit=on_commit)
    try:
        from ibmq_gateway.server.store.postgres import PostgresJobStore
    except ImportError as error:
        raise StoreError(
            f"a PostgreSQL database needs its driver ({error.name} is missing): {POSTGRES_EXTRA}"
        ) from None
    return PostgresJobStore(settings.database, on_commit=on_commit)


def where(settings: Settings) -> str:
    """The store's place, for log lines: the SQLite file, or the database without password."""
    if not settings.database:
        return str(settings.sqlite_path)
    return describe_postgres(settings.database)
