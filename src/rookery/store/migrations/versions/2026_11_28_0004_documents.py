"""Documents (latest version per identity, with the changes feed's counter) and the raw archive.

Revision ID: 0004_documents
Revises: 0001
Create Date: 2026-11-28 10:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004_documents"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "documents",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("user_pk", sa.Uuid(), nullable=False),
        sa.Column("pillar", sa.String(length=32), nullable=False),
        sa.Column("data_structure", sa.String(length=64), nullable=False),
        sa.Column("source_key", sa.String(length=200), nullable=False),
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("document_version", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("body_json", sa.Text(), nullable=False),
        sa.Column("datetime_string", sa.String(length=40), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("change_seq", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name=op.f("fk_documents_client_id_clients"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_pk"], ["users.id"], name=op.f("fk_documents_user_pk_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_documents")),
        sa.UniqueConstraint(
            "client_id", "change_seq", name=op.f("uq_documents_client_id_change_seq")
        ),
        sa.UniqueConstraint(
            "user_pk",
            "data_structure",
            "pillar",
            "source_key",
            name=op.f("uq_documents_user_pk_data_structure_pillar_source_key"),
        ),
    )
    op.create_index(
        "ix_documents_user_pk_pillar_data_structure_local_date",
        "documents",
        ["user_pk", "pillar", "data_structure", "local_date"],
        unique=False,
    )
    op.create_table(
        "document_change_counters",
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("last_change_seq", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name=op.f("fk_document_change_counters_client_id_clients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("client_id", name=op.f("pk_document_change_counters")),
    )
    op.create_table(
        "raw_exchanges",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("connection_id", sa.Uuid(), nullable=False),
        sa.Column("job_id", sa.BigInteger(), nullable=True),
        sa.Column("service", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("params", _JSON, nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("response_zlib", sa.LargeBinary(), nullable=True),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["withings_connections.id"],
            name=op.f("fk_raw_exchanges_connection_id_withings_connections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_raw_exchanges")),
    )
    op.create_index(
        "ix_raw_exchanges_connection_id_id",
        "raw_exchanges",
        ["connection_id", "id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_raw_exchanges_connection_id_id", table_name="raw_exchanges")
    op.drop_table("raw_exchanges")
    op.drop_table("document_change_counters")
    op.drop_index("ix_documents_user_pk_pillar_data_structure_local_date", table_name="documents")
    op.drop_table("documents")
