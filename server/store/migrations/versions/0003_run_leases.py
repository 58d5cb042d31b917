"""Leases on runs: which replica runs each job that has a slot, and until when.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07

A row is written when the scheduling replica gives a job a slot (offered, no holder) and
deleted when its run ends; a replica that claims it holds it until ``expires`` and renews
it meanwhile. Only replicas on PostgreSQL use it; SQLite keeps the same history.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TIME = sa.BigInteger()
"""Microseconds since the Unix epoch, of the database's clock (every replica's one clock)."""


def upgrade() -> None:
    op.create_table(
        "run_leases",
        sa.Column("job_id", sa.Text, primary_key=True),
        sa.Column("backend", sa.Text, nullable=False),
        sa.Column("offered", TIME, nullable=False),
        sa.Column("holder", sa.Text),
        sa.Column("expires", TIME),
    )
    op.create_index("run_leases_by_offer", "run_leases", ["offered", "job_id"])


def downgrade() -> None:
    op.drop_index("run_leases_by_offer", "run_leases")
    op.drop_table("run_leases")
