"""The tables, as typed SQLAlchemy declarative models; one schema for SQLite and PostgreSQL.

Secrets are never stored as given: a client's secret key is kept as a SHA-256 hash (it is only
compared), and the values Rookery must use later (signing keys, Withings tokens) are encrypted with
`rookery.store.crypto.TokenCipher`; such columns end in `_encrypted`. Instants are `UTCDateTime`.
Every child row goes away with its client (`ON DELETE CASCADE`).

Later tables (notifications, jobs, raw archive, versioned documents, deliveries) hang off
`users.id` (the internal user key, never the client's `user_id` string, which is only unique per
client) and `clients.id`.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from rookery.store.enums import ConnectionState, DataSource
from rookery.store.types import PortableJSON, StringEnum, UTCDateTime

# Explicit constraint names, so migrations can name what they alter on both engines.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

USER_ID_MAX_LENGTH = 50
CLIENT_NAME_MAX_LENGTH = 200


def utc_now() -> datetime:
    """The current instant, aware, in UTC."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base of every Rookery table."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: PortableJSON,
    }


class Client(Base):
    """A digital-health app that uses Rookery; authenticates with `id` and its secret key."""

    __tablename__ = "clients"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(CLIENT_NAME_MAX_LENGTH))
    secret_key_sha256: Mapped[str] = mapped_column(String(64))
    hash_key_encrypted: Mapped[str] = mapped_column(Text)
    webhook_secret_encrypted: Mapped[str] = mapped_column(Text)
    data_webhook_url: Mapped[str | None] = mapped_column(Text)
    notification_webhook_url: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now, onupdate=utc_now)


class ClientDataSource(Base):
    """Whether a client has a data source enabled (no row: disabled)."""

    __tablename__ = "client_data_sources"

    client_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), primary_key=True
    )
    data_source: Mapped[DataSource] = mapped_column(StringEnum(DataSource, 32), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now, onupdate=utc_now)


class User(Base):
    """An end user of a client, known by the client's own `user_id` (unique per client)."""

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("client_id", "user_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(String(USER_ID_MAX_LENGTH))
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


class WithingsConnection(Base):
    """A user's link to a Withings account: tokens, scopes, subscriptions and state.

    One per user (the row is kept, with state `unlinked`, when the user disconnects, so a relink
    reuses it). Notifications arrive with Withings' `userid`, hence its index; the same Withings
    account may be linked by users of several clients.
    """

    __tablename__ = "withings_connections"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_pk: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), unique=True
    )
    withings_userid: Mapped[int] = mapped_column(BigInteger, index=True)
    scopes: Mapped[list[str]] = mapped_column(PortableJSON, default=list)
    access_token_encrypted: Mapped[str | None] = mapped_column(Text)
    refresh_token_encrypted: Mapped[str | None] = mapped_column(Text)
    access_token_expires_at: Mapped[datetime | None] = mapped_column()
    state: Mapped[ConnectionState] = mapped_column(StringEnum(ConnectionState, 16))
    subscribed_applis: Mapped[list[int]] = mapped_column(PortableJSON, default=list)
    linked_at: Mapped[datetime | None] = mapped_column()
    unlinked_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now, onupdate=utc_now)


class OAuthState(Base):
    """A pending Withings consent: single use, short-lived, bound to client, user and redirect URL.

    Only the SHA-256 of the `state` value is kept, so a database read does not yield usable states.
    """

    __tablename__ = "oauth_states"

    state_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(String(USER_ID_MAX_LENGTH))
    redirect_url: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class AuditEvent(Base):
    """Who did what, when. `details` never holds a secret, a token or a health value."""

    __tablename__ = "audit_events"

    # INTEGER PRIMARY KEY is SQLite's rowid alias; BIGINT elsewhere.
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    at_utc: Mapped[datetime] = mapped_column(default=utc_now, index=True)
    # "cli", "client:<uuid>", "admin", "system", ...
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(64))
    # Kept when the client is deleted: the trail outlives what it describes.
    client_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    subject: Mapped[str | None] = mapped_column(String(200))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
