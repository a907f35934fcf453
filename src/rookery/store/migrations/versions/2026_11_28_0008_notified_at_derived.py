"""The last notification of a connection is read from the notifications themselves.

Writing it on the sync-state row made every notification wait for that row's lock, which a
fetch of the same connection holds while it stores: under load, Withings waited seconds for its
200. The notifications table already holds the answer (`received_at` by `withings_userid`).

Revision ID: 0008_notified_at_derived
Revises: 0006_pipeline
Create Date: 2026-11-28 02:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_notified_at_derived"
down_revision: str | None = "0006_pipeline"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("pipeline_sync_states") as batch:
        batch.drop_column("last_notification_at")


def downgrade() -> None:
    with op.batch_alter_table("pipeline_sync_states") as batch:
        batch.add_column(sa.Column("last_notification_at", sa.DateTime(timezone=True)))
