"""Pipeline: stored Withings notifications, per-connection sync state and cursors, closed days.

Revision ID: 0006_pipeline
Revises: 0001
Create Date: 2026-11-28 12:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006_pipeline"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "withings_notifications",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("withings_userid", sa.BigInteger(), nullable=False),
        sa.Column("appli", sa.Integer(), nullable=False),
        sa.Column("params", _JSON, nullable=False),
        sa.Column("fetches", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_withings_notifications")),
    )
    op.create_index(
        op.f("ix_withings_notifications_received_at"),
        "withings_notifications",
        ["received_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_withings_notifications_withings_userid"),
        "withings_notifications",
        ["withings_userid"],
        unique=False,
    )
    op.create_table(
        "pipeline_sync_states",
        sa.Column("connection_id", sa.Uuid(), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=True),
        sa.Column("heights", _JSON, nullable=False),
        sa.Column("backfill_status", sa.String(length=16), nullable=True),
        sa.Column("backfill_steps_total", sa.Integer(), nullable=False),
        sa.Column("backfill_steps_done", sa.Integer(), nullable=False),
        sa.Column("backfill_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("backfill_finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_notification_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_fetch_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["withings_connections.id"],
            name=op.f("fk_pipeline_sync_states_connection_id_withings_connections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("connection_id", name=op.f("pk_pipeline_sync_states")),
    )
    op.create_table(
        "pipeline_sync_cursors",
        sa.Column("connection_id", sa.Uuid(), nullable=False),
        sa.Column("domain", sa.String(length=16), nullable=False),
        sa.Column("lastupdate_epoch_s", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["withings_connections.id"],
            name=op.f("fk_pipeline_sync_cursors_connection_id_withings_connections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("connection_id", "domain", name=op.f("pk_pipeline_sync_cursors")),
    )
    op.create_table(
        "pipeline_closed_days",
        sa.Column("user_pk", sa.Uuid(), nullable=False),
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_pk"],
            ["users.id"],
            name=op.f("fk_pipeline_closed_days_user_pk_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_pk", "local_date", name=op.f("pk_pipeline_closed_days")),
    )


def downgrade() -> None:
    op.drop_table("pipeline_closed_days")
    op.drop_table("pipeline_sync_cursors")
    op.drop_table("pipeline_sync_states")
    op.drop_index(
        op.f("ix_withings_notifications_withings_userid"), table_name="withings_notifications"
    )
    op.drop_index(
        op.f("ix_withings_notifications_received_at"), table_name="withings_notifications"
    )
    op.drop_table("withings_notifications")
