"""Alembic's entry to the gateway's schema history: it runs on the connection it is given.

The gateway calls Alembic itself (``store.schema``), with the store's own connection in
``config.attributes["connection"]``; no URL lives in any ini file.
"""

from __future__ import annotations

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
