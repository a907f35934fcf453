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
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from rookery.model.common import DataStructure, Pillar
from rookery.store.enums import ConnectionState, DataSource, JobStatus
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


def table_of(model: type[Base]) -> Table:
    """The Core table of a mapped class: statements on it skip the ORM's bookkeeping, for the
    hot paths that need none of it."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


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


class ClientRedirectUrl(Base):
    """A URL prefix the client's users may be sent back to after consent (`redirect_url`); a
    client with none accepts no `redirect_url`."""

    __tablename__ = "client_redirect_urls"

    client_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    url: Mapped[str] = mapped_column(Text)


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
    # Until when a process refreshing the tokens holds the refresh (SQLite's cross-process
    # lease, `rookery.connections.tokens`); None when no refresh is under way.
    refresh_lease_until: Mapped[datetime | None] = mapped_column()
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


# -- Linking (migration 0005_linking) ---------------------------------------------------------


class DeploymentSecret(Base):
    """A random secret of the whole deployment, created on first use and kept encrypted.

    `withings_notify` is the token in the Withings notification callback URL (Withings signs
    nothing, so the URL itself must be unguessable) and the key the connections page signs its
    form tokens with. It lives in the database rather than being derived from the encryption
    keys so that rotating those keys does not change every user's subscription URL.
    """

    __tablename__ = "deployment_secrets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value_encrypted: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


# ---------------------------------------------------------------------------------------------
# Documents and the raw archive (revision 0004_documents)

SOURCE_KEY_MAX_LENGTH = 200


class Document(Base):
    """The latest version of one ROOK document, stored under its identity.

    Identity: (user, data_structure, pillar, source_key); a new fingerprint replaces the row's
    content and bumps `document_version` (earlier versions live on in their deliveries).
    `body_json` is the document exactly as delivered, `document_version` included, so reads
    return it without serialising. `change_seq` orders the client's changes feed: it is drawn
    from `DocumentChangeCounter` under that row's lock, so it grows in commit order.
    """

    __tablename__ = "documents"
    __table_args__ = (
        UniqueConstraint("user_pk", "data_structure", "pillar", "source_key"),
        UniqueConstraint("client_id", "change_seq"),
        # The query API's one lookup: a user's documents of one structure on one local date.
        Index(
            "ix_documents_user_pk_pillar_data_structure_local_date",
            "user_pk",
            "pillar",
            "data_structure",
            "local_date",
        ),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    user_pk: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    pillar: Mapped[Pillar] = mapped_column(StringEnum(Pillar, 32))
    data_structure: Mapped[DataStructure] = mapped_column(StringEnum(DataStructure, 64))
    source_key: Mapped[str] = mapped_column(String(SOURCE_KEY_MAX_LENGTH))
    local_date: Mapped[date] = mapped_column(Date)
    document_version: Mapped[int] = mapped_column(Integer)
    fingerprint: Mapped[str] = mapped_column(String(64))
    body_json: Mapped[str] = mapped_column(Text)
    # metadata.datetime_string (an event's own): what X-ROOK-HASH signs.
    datetime_string: Mapped[str | None] = mapped_column(String(40))
    # The same instant, for ordering a day's events.
    occurred_at: Mapped[datetime | None] = mapped_column()
    change_seq: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now, onupdate=utc_now)


class DocumentChangeCounter(Base):
    """The last `change_seq` handed out for a client's documents (the feed's clock)."""

    __tablename__ = "document_change_counters"

    client_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), primary_key=True
    )
    last_change_seq: Mapped[int] = mapped_column(BigInteger)


class RawExchange(Base):
    """One archived Withings call of a connection: the request (secrets already removed by the
    Withings client) and the response text, zlib-compressed, exactly as received."""

    __tablename__ = "raw_exchanges"
    __table_args__ = (Index("ix_raw_exchanges_connection_id_id", "connection_id", "id"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    connection_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("withings_connections.id", ondelete="CASCADE")
    )
    # No foreign key: jobs are pruned long before their archive is.
    job_id: Mapped[int | None] = mapped_column(BigInteger)
    service: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    params: Mapped[dict[str, Any]] = mapped_column()
    http_status: Mapped[int | None] = mapped_column(Integer)
    response_zlib: Mapped[bytes | None] = mapped_column(LargeBinary)
    fetched_at: Mapped[datetime] = mapped_column()


# -- Jobs (revision 0002_jobs): the durable queue, the shared rate limit, periodic tasks --------


class Job(Base):
    """A unit of background work, written in the same transaction as the data it follows from.

    A worker leases a queued job whose `run_at` has come (`lease_owner`, `lease_expires_at`);
    an expired lease puts it back. `attempts` counts failures (an exception, a lost lease), not
    deferrals; at `max_attempts` the job is parked with `last_error`. At most one queued job holds
    a given `dedupe_key` (a partial unique index), so a second enqueue coalesces into the first.
    """

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_status_run_at", "status", "run_at"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    # A `rookery.jobs.kinds.JobKind` value; a plain string so that a kind unknown to this
    # version (a newer deployment's) still loads.
    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column()
    # Higher runs first (`rookery.jobs.kinds.Priority`).
    priority: Mapped[int] = mapped_column(Integer)
    status: Mapped[JobStatus] = mapped_column(StringEnum(JobStatus, 16))
    run_at: Mapped[datetime] = mapped_column()
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer)
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text)
    dedupe_key: Mapped[str | None] = mapped_column(String(200))
    connection_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("withings_connections.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now, onupdate=utc_now)
    finished_at: Mapped[datetime | None] = mapped_column()


# Declared after the class so the condition can name the column; both engines build it partial.
Index(
    "uq_jobs_queued_dedupe_key",
    Job.dedupe_key,
    unique=True,
    sqlite_where=Job.status == JobStatus.QUEUED,
    postgresql_where=Job.status == JobStatus.QUEUED,
)


class RateLimit(Base):
    """A rate limit shared by every process of the deployment (one row per limited service).

    `recent_grants_epoch_s` holds the calls granted within the last window, counted per second
    (see `rookery.jobs.ratelimit`); `blocked_until` is set when the service itself said to wait
    (Withings' 601).
    """

    __tablename__ = "rate_limits"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    recent_grants_epoch_s: Mapped[list[Any]] = mapped_column(PortableJSON, default=list)
    blocked_until: Mapped[datetime | None] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=utc_now, onupdate=utc_now)


class ScheduledTask(Base):
    """A periodic task of the deployment: whoever moves `next_run_at` forward runs the period."""

    __tablename__ = "scheduled_tasks"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    next_run_at: Mapped[datetime] = mapped_column()
    last_run_at: Mapped[datetime | None] = mapped_column()
    last_owner: Mapped[str | None] = mapped_column(String(100))


# -- Deliveries (revision 0003_deliveries): signed webhooks and every attempt to send them ------


class DeliveryKind(StrEnum):
    """Which of the client's webhooks a delivery goes to."""

    DATA = "data"
    NOTIFICATION = "notification"


class DeliveryStatus(StrEnum):
    """Where a delivery stands."""

    PENDING = "pending"  # not tried yet
    DELIVERED = "delivered"  # a 2xx answer
    FAILED = "failed"  # tried and refused; the next try is `next_attempt_at`
    DEAD = "dead"  # no more tries; kept for redelivery until purged


class Delivery(Base):
    """One webhook message: the exact body bytes to POST (signed as stored, never
    re-serialised), to the client's data or notification URL as set at send time.

    `id` makes the `webhook-id` (`msg_<hex>`), the receiver's idempotency key, stable across
    retries; a UUID so that it is unique beyond one database. A sender leases a due delivery
    (`lease_expires_at`) for one try; an expired lease (a sender that died) makes it due again.
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        # The senders' one question: what is due now.
        Index("ix_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
        # The client's listings, newest first, and range redelivery.
        Index("ix_deliveries_client_id_created_at", "client_id", "created_at"),
        Index("ix_deliveries_user_pk_local_date", "user_pk", "local_date"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    # The user's row (deliveries go with the user) and the client's id for them, as signed.
    user_pk: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(String(USER_ID_MAX_LENGTH))
    kind: Mapped[DeliveryKind] = mapped_column(StringEnum(DeliveryKind, 16))
    # Data deliveries: which document version; no foreign key, as a document row holds only
    # its latest version while earlier versions live on here.
    document_id: Mapped[int | None] = mapped_column(BigInteger)
    document_version: Mapped[int | None] = mapped_column(Integer)
    data_structure: Mapped[DataStructure | None] = mapped_column(StringEnum(DataStructure, 64))
    local_date: Mapped[date | None] = mapped_column(Date)
    # Notification deliveries: a `rookery.delivery.events.ClientEvent` value.
    event: Mapped[str | None] = mapped_column(String(32))
    # What X-ROOK-HASH signs with client_uuid and user_id.
    datetime_string: Mapped[str] = mapped_column(String(40))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[DeliveryStatus] = mapped_column(StringEnum(DeliveryStatus, 16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column()
    lease_expires_at: Mapped[datetime | None] = mapped_column()
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    # A redelivery is a new message; this names the one it repeats.
    redelivery_of: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("deliveries.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    delivered_at: Mapped[datetime | None] = mapped_column()
    dead_at: Mapped[datetime | None] = mapped_column(index=True)

    @property
    def webhook_id(self) -> str:
        """The Standard Webhooks `webhook-id` of this message."""
        return f"msg_{self.id.hex}"


class DeliveryAttempt(Base):
    """One try of a delivery: when, the answer's status (None: no answer), how long, and why it
    failed (an excerpt of the answer, or the error)."""

    __tablename__ = "delivery_attempts"
    __table_args__ = (UniqueConstraint("delivery_id", "attempt"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    delivery_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("deliveries.id", ondelete="CASCADE"))
    attempt: Mapped[int] = mapped_column(Integer)
    at_utc: Mapped[datetime] = mapped_column()
    url: Mapped[str | None] = mapped_column(Text)
    status_code: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)


# -- Pipeline (revision 0006_pipeline): notifications, per-connection sync state, cursors -------


class WithingsNotification(Base):
    """A Withings notification for a known account, stored with the fetch jobs it queued (one
    transaction), so that a notification answered 200 is never lost. `params` holds the form
    fields as received (bounded in size by the endpoint; no secret is ever in them)."""

    __tablename__ = "withings_notifications"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    received_at: Mapped[datetime] = mapped_column(default=utc_now, index=True)
    withings_userid: Mapped[int] = mapped_column(BigInteger, index=True)
    appli: Mapped[int] = mapped_column(Integer)
    params: Mapped[dict[str, Any]] = mapped_column()
    # How many connections' fetches it asked for (0: nothing to fetch, e.g. a bed-in event).
    fetches: Mapped[int] = mapped_column(Integer, default=0)


class BackfillStatus(StrEnum):
    """Where a connection's initial history pull stands."""

    RUNNING = "running"
    DONE = "done"


class SyncState(Base):
    """What the pipeline knows and did for one connection: the user's time zone (learned from
    Withings' responses, for the responses that name none), the heights seen (for BMI), the
    backfill's progress, and the last notification, fetch and error (the sync-status API).

    `heights` is a list of `[epoch_s, "height_m"]` pairs (decimal strings: exact)."""

    __tablename__ = "pipeline_sync_states"

    connection_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("withings_connections.id", ondelete="CASCADE"), primary_key=True
    )
    timezone: Mapped[str | None] = mapped_column(String(64))
    heights: Mapped[list[Any]] = mapped_column(PortableJSON, default=list)
    backfill_status: Mapped[BackfillStatus | None] = mapped_column(StringEnum(BackfillStatus, 16))
    backfill_steps_total: Mapped[int] = mapped_column(Integer, default=0)
    backfill_steps_done: Mapped[int] = mapped_column(Integer, default=0)
    backfill_started_at: Mapped[datetime | None] = mapped_column()
    backfill_finished_at: Mapped[datetime | None] = mapped_column()
    last_fetch_at: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=utc_now, onupdate=utc_now)


class SyncCursor(Base):
    """The `lastupdate` cursor of one connection and data domain: Withings' own time (its
    `updatetime` or the latest `modified` seen), so the safety net asks for what changed since
    without trusting our clock against Withings'."""

    __tablename__ = "pipeline_sync_cursors"

    connection_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("withings_connections.id", ondelete="CASCADE"), primary_key=True
    )
    domain: Mapped[str] = mapped_column(String(16), primary_key=True)
    lastupdate_epoch_s: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now, onupdate=utc_now)


class ClosedDay(Base):
    """A user's local day that has ended (plus the grace): its physical and body summaries were
    delivered, and any later change to them is delivered at once as a new version."""

    __tablename__ = "pipeline_closed_days"

    user_pk: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    local_date: Mapped[date] = mapped_column(Date, primary_key=True)
    closed_at: Mapped[datetime] = mapped_column(default=utc_now)
