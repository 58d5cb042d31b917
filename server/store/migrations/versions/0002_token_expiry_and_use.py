"""Tokens that expire, and when each was last used.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable columns: SQLite adds them in place, no table copy.
    op.add_column("users", sa.Column("expires", sa.BigInteger))
    op.add_column("users", sa.Column("last_used", sa.BigInteger))


def downgrade() -> None:
    with op.batch_alter_table("users") as users:
        users.drop_column("last_used")
        users.drop_column("expires")
