"""Databases of their own for tests, on the machine's PostgreSQL server.

Each test that needs PostgreSQL gets a new database, made from ``IBMQ_GATEWAY_TEST_POSTGRES``
(default the local server's ``test`` database, trust auth) and dropped afterwards, so no two
tests see each other's rows and a rerun starts clean.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

SERVER = os.environ.get("IBMQ_GATEWAY_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
PREFIX = "igw_test_"


def create_database() -> str:
    """A new, empty database; returns its URL."""
    name = PREFIX + uuid.uuid4().hex[:16]
    with psycopg.connect(SERVER, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return url_of(name)


def drop_database(url: str) -> None:
    """Drops a database ``create_database`` made, closing whatever still uses it."""
    name = conninfo_to_dict(url)["dbname"]
    assert str(name).startswith(PREFIX), name
    with psycopg.connect(SERVER, autocommit=True) as admin:
        statement = "DROP DATABASE IF EXISTS {} WITH (FORCE)"
        admin.execute(sql.SQL(statement).format(sql.Identifier(str(name))))


def url_of(name: str) -> str:
    """The URL of database ``name`` on the test server."""
    parts = conninfo_to_dict(SERVER)
    user = f"{parts['user']}@" if parts.get("user") else ""
    return f"postgresql://{user}{parts.get('host', '127.0.0.1')}:{parts.get('port', 5432)}/{name}"


@contextmanager
def fresh_database() -> Iterator[str]:
    """A new database for the ``with`` block, dropped after it."""
    url = create_database()
    try:
        yield url
    finally:
        drop_database(url)
