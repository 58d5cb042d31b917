"""The schema of the single-process gateway: jobs, circuits, events, results, requests, users.

Revision ID: 0001
Revises:
Create Date: 2026-12-06

A SQLite database made before the gateway kept a schema history holds exactly these
tables; ``store.schema`` stamps it at this revision instead of running this.
Times are microseconds since the Unix epoch (UTC), so they sort and compare as instants.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# SQLite hands out AUTOINCREMENT keys only on a column typed exactly INTEGER.
SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIME = sa.BigInteger()


def upgrade() -> None:
    op.create_table(
        "meta",
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    _jobs()
    _job_records()
    _people()


def _jobs() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.Text, primary_key=True),
        *(_text(name) for name in ("owner", "backend", "state")),
        sa.Column("created", TIME, nullable=False),
        *(_text(name) for name in ("name", "experiment_id", "tags")),
        sa.Column("sequence", sa.BigInteger, nullable=False),
        sa.Column("revision", sa.BigInteger, nullable=False),
        _text("snapshot"),
        *(_text(name) for name in ("share_level", "owner_hub", "owner_grp", "owner_project")),
    )
    for name, column in (
        ("created", None),
        ("owner", "owner"),
        ("backend", "backend"),
        ("state", "state"),
    ):
        columns = [column, "created", "id"] if column else ["created", "id"]
        op.create_index(f"jobs_by_{name}", "jobs", columns)


def _job_records() -> None:
    op.create_table(
        "circuits",
        _job_id(),
        sa.Column("idx", sa.Integer, nullable=False),
        _text("format"),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("job_id", "idx"),
    )
    op.create_table(
        "events",
        sa.Column("revision", SERIAL, primary_key=True),
        _job_id(),
        sa.Column("sequence", sa.BigInteger, nullable=False),
        _text("type"),
        sa.Column("time", TIME, nullable=False),
        _text("snapshot"),
        sa.UniqueConstraint("job_id", "sequence"),
        sqlite_autoincrement=True,
    )
    op.create_index("events_by_time", "events", ["time"])
    op.create_table(
        "results",
        sa.Column("job_id", sa.Text, sa.ForeignKey("jobs.id"), primary_key=True),
        _text("document"),
    )
    op.create_table(
        "requests",
        _text("owner"),
        _text("request_id"),
        _text("fingerprint"),
        _job_id(),
        sa.PrimaryKeyConstraint("owner", "request_id"),
    )


def _people() -> None:
    op.create_table(
        "users",
        sa.Column("name", sa.Text, primary_key=True),
        *(_text(name) for name in ("hub", "grp", "project")),
        sa.Column("admin", sa.Integer, nullable=False),
        sa.Column("created", TIME, nullable=False),
        sa.Column("revoked", TIME),
        sa.Column("token_hash", sa.Text, nullable=False, unique=True),
    )
    op.create_table(
        "audit",
        sa.Column("id", SERIAL, primary_key=True),
        sa.Column("time", TIME, nullable=False),
        *(_text(name) for name in ("actor", "action", "target", "peer", "detail")),
        sqlite_autoincrement=True,
    )
    op.create_index("audit_by_actor", "audit", ["actor", "id"])


def _job_id() -> sa.Column[str]:
    return sa.Column("job_id", sa.Text, sa.ForeignKey("jobs.id"), nullable=False)


def _text(name: str) -> sa.Column[str]:
    return sa.Column(name, sa.Text, nullable=False)


def downgrade() -> None:
    for table in ("audit", "users", "requests", "results", "events", "circuits", "jobs", "meta"):
        op.drop_table(table)
