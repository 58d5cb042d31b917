"""The schema history both stores share: where a database starts, what is refused, who migrates."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from ibmq_gateway.server.core.model import User
from ibmq_gateway.server.store import JobStore, StoreError, schema
from ibmq_gateway.server.store.postgres import PostgresJobStore
from ibmq_gateway.server.store.sqlite import SqliteJobStore
from tests.store.conftest import Places
from tests.store.test_contract import make_job

LEGACY_SCHEMA = Path(__file__).with_name("legacy_schema.sql")
FUTURE = "9999_from_a_newer_gateway"


@pytest.fixture
def postgres_url(databases: Places) -> str:
    from tests.postgres import create_database

    databases["schema"] = create_database()
    return databases["schema"]


def _sqlite_version(path: Path) -> list[str]:
    with sqlite3.connect(path) as db:
        return [row[0] for row in db.execute("SELECT version_num FROM alembic_version")]


def _postgres_version(url: str) -> list[str]:
    with psycopg.connect(url) as db:
        return [row[0] for row in db.execute("SELECT version_num FROM alembic_version")]


async def _opened_and_closed(store: JobStore) -> None:
    await store.open()
    await store.close()


async def test_new_databases_of_both_stores_start_at_the_newest_revision(
    tmp_path: Path, postgres_url: str
) -> None:
    await _opened_and_closed(SqliteJobStore(tmp_path / "jobs.db"))
    await _opened_and_closed(PostgresJobStore(postgres_url))
    assert _sqlite_version(tmp_path / "jobs.db") == [schema.head()]
    assert _postgres_version(postgres_url) == [schema.head()]


async def test_both_stores_hold_the_same_tables_and_columns(
    tmp_path: Path, postgres_url: str
) -> None:
    await _opened_and_closed(SqliteJobStore(tmp_path / "jobs.db"))
    await _opened_and_closed(PostgresJobStore(postgres_url))
    lite = _columns(sa.create_engine(f"sqlite:///{tmp_path / 'jobs.db'}"))
    postgres = _columns(sa.create_engine(schema.alchemy_url(postgres_url)))
    assert lite == postgres
    assert {"jobs", "events", "circuits", "results", "requests", "users", "audit"} <= set(lite)


def _columns(engine: sa.Engine) -> dict[str, list[str]]:
    try:
        inspector = sa.inspect(engine)
        return {
            table: [column["name"] for column in inspector.get_columns(table)]
            for table in inspector.get_table_names()
            if table != "sqlite_sequence"
        }
    finally:
        engine.dispose()


async def test_a_sqlite_database_from_a_newer_gateway_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    await _opened_and_closed(SqliteJobStore(path))
    with sqlite3.connect(path) as db:
        db.execute("UPDATE alembic_version SET version_num = ?", (FUTURE,))
    with pytest.raises(schema.SchemaTooNewError) as refused:
        await SqliteJobStore(path).open()
    assert FUTURE in str(refused.value)
    assert "newer ibmq-gateway" in str(refused.value)
    assert _sqlite_version(path) == [FUTURE]  # left as it was


async def test_a_postgres_database_from_a_newer_gateway_is_refused(postgres_url: str) -> None:
    await _opened_and_closed(PostgresJobStore(postgres_url))
    with psycopg.connect(postgres_url) as db:
        db.execute("UPDATE alembic_version SET version_num = %s", (FUTURE,))
    with pytest.raises(schema.SchemaTooNewError, match=FUTURE):
        await PostgresJobStore(postgres_url).open()
    assert _postgres_version(postgres_url) == [FUTURE]


async def test_a_sqlite_database_from_before_the_history_is_adopted(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    with sqlite3.connect(path) as db:
        db.executescript(LEGACY_SCHEMA.read_text())
        db.execute("INSERT INTO meta VALUES ('epoch', 'e0'), ('pruned_through', 0)")
        db.execute("INSERT INTO users VALUES ('ada', 'h', 'g', 'p', 0, 0, NULL, 'digest')")
    store = SqliteJobStore(path)
    await store.open()
    try:
        assert store.epoch == "e0"
        assert [user.name for user in await store.list_users()] == ["ada"]
        [created] = await store.create_job(make_job("after"), [], None)
        assert created.job.revision == 1
    finally:
        await store.close()
    assert _sqlite_version(path) == [schema.head()]


async def test_replicas_starting_at_once_on_an_empty_database_migrate_it_once(
    postgres_url: str,
) -> None:
    stores = [PostgresJobStore(postgres_url) for _ in range(3)]
    await asyncio.gather(*(store.open() for store in stores))
    try:
        assert len({store.epoch for store in stores}) == 1
        user = User("ada", "h", "g", "p", datetime.now(UTC))
        await stores[0].add_user(user, "digest")
        assert [found.name for found in await stores[2].list_users()] == ["ada"]
    finally:
        await asyncio.gather(*(store.close() for store in stores))
    assert _postgres_version(postgres_url) == [schema.head()]


async def test_an_unreachable_database_is_named_without_its_password() -> None:
    store = PostgresJobStore("postgresql://gateway:s3cret@127.0.0.1:1/gateway")
    with pytest.raises(StoreError) as failed:
        await store.open()
    message = str(failed.value)
    assert message.startswith("cannot reach PostgreSQL gateway@127.0.0.1:1/gateway: ")
    assert "s3cret" not in message
    with pytest.raises(StoreError, match="not open"):
        await store.list_users()
