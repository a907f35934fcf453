"""Refresh lease: a connection's token refresh is held across processes on SQLite too.

Two processes on one SQLite file (`rookery serve` and a worker, or two workers) could refresh the
same connection at once and burn each other's single-use refresh token; `refresh_lease_until`
tells the others that a refresh is under way, and until when it may be.

Revision ID: 0009_refresh_lease
Revises: 0001
Create Date: 2026-11-29 10:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_refresh_lease"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("withings_connections") as batch:
        batch.add_column(sa.Column("refresh_lease_until", sa.DateTime(timezone=True)))


def downgrade() -> None:
    with op.batch_alter_table("withings_connections") as batch:
        batch.drop_column("refresh_lease_until")
