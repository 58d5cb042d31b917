"""The one schema history of both stores, kept by Alembic in ``migrations/``.

Each store brings its database to the newest revision this gateway knows when it opens
(``ibmq-gateway db upgrade`` does the same on its own), inside one transaction that also
holds the database's write lock, so two processes starting at once migrate it once. A
database at a revision this gateway does not know is refused: it was made by a newer one.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.pool import NullPool, StaticPool

from ibmq_gateway.server.store.base import StoreError

MIGRATIONS = Path(__file__).parent / "migrations"
BASELINE = "0001"
"""The revision whose tables SQLite databases made before the history already hold."""
_MIGRATION_LOCK = 0x6967_7773_6368  # any constant; the one PostgreSQL advisory lock we take


class SchemaTooNewError(StoreError):
    """The database was migrated by a newer gateway than this one."""


def head() -> str:
    """The newest revision of the schema history."""
    revision = ScriptDirectory.from_config(_config()).get_current_head()
    assert revision is not None, "the schema history is empty"
    return revision


def current(connection: sa.Connection) -> str | None:
    """The database's revision (None for a database that has none)."""
    return MigrationContext.configure(connection).get_current_revision()


def upgrade_sqlite(db: sqlite3.Connection) -> None:
    """Migrates the SQLite database of this connection (in autocommit mode) to the head."""
    engine = sa.create_engine("sqlite://", creator=lambda: db, poolclass=StaticPool)

    @sa.event.listens_for(engine, "begin")
    def _begin_immediate(connection: sa.Connection) -> None:
        # The driver begins nothing itself here; IMMEDIATE takes the write lock up front.
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    with engine.begin() as connection:
        _upgrade(connection)


def upgrade_postgres(url: str) -> None:
    """Migrates the PostgreSQL database at ``url`` (a ``postgresql://`` URL) to the head."""
    engine = sa.create_engine(alchemy_url(url), poolclass=NullPool)
    try:
        with engine.begin() as connection:
            connection.execute(sa.select(sa.func.pg_advisory_xact_lock(_MIGRATION_LOCK)))
            _upgrade(connection)
    finally:
        engine.dispose()


def alchemy_url(url: str) -> sa.URL:
    """``url`` with the driver SQLAlchemy must use for it (psycopg 3)."""
    return sa.make_url(url).set(drivername="postgresql+psycopg")


def _upgrade(connection: sa.Connection) -> None:
    config = _config(connection)
    found = current(connection)
    if found is not None and not _known(found, config):
        raise SchemaTooNewError(
            f"the database is at schema revision {found!r}, which this gateway does not know "
            f"(its newest is {head()!r}): it was upgraded by a newer ibmq-gateway; run that "
            "version, or point this one at another database"
        )
    if found is None and sa.inspect(connection).has_table("jobs"):
        command.stamp(config, BASELINE)  # made before the history: it holds the baseline
    command.upgrade(config, "head")


def _known(revision: str, config: Config) -> bool:
    try:
        return ScriptDirectory.from_config(config).get_revision(revision) is not None
    except Exception:  # alembic raises its own errors, of several kinds, for unknown ids
        return False


def _config(connection: Any = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config
